"""Local receivers on loopback ports: an HTTP webhook receiver and an SMTP server.

`journeyctl demo` starts both so messages have somewhere real to go; the tests and the
benchmarks use them as the far end. Each keeps what it received, and counts an effect once
per Idempotency-Key (webhook) or Message-ID (SMTP), as a real provider that honours them does.

The webhook receiver can be told how to answer, per path: `ok` (200), `fail` (500),
`refuse` (400), `busy` (429 with Retry-After), `hang` (no answer), and a delay in ms.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


@dataclass
class Received:
    """What arrived: every request in order, and the first of each key (the effect)."""

    requests: list = field(default_factory=list)     # (monotonic s, path, key, body dict or text, status)
    effects: dict = field(default_factory=dict)      # key -> (path, body)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, key: str | None, body, status: int = 200, at: float | None = None) -> bool:
        """Record one request (arrived at monotonic `at`, default now); True when it is the first
        accepted one with its key (a new effect)."""
        with self.lock:
            self.requests.append((time.monotonic() if at is None else at, path, key, body, status))
            if status >= 300:
                return False
            if key is None or key in self.effects:
                return key is None
            self.effects[key] = (path, body)
            return True

    def accepted(self, path: str | None = None) -> int:
        """Requests answered 2xx (on `path`), duplicates included."""
        with self.lock:
            return sum(1 for r in self.requests if r[4] < 300 and (path is None or r[1] == path))

    def seen(self, path: str) -> list:
        """(monotonic s, status) of every request on `path`."""
        with self.lock:
            return [(r[0], r[4]) for r in self.requests if r[1] == path]


class LocalWebhook:
    """ThreadingHTTPServer on 127.0.0.1:port (0: a free one). `mode[path]` and `delay_ms` set answers."""

    def __init__(self, port: int = 0, delay_ms: float = 0.0, retry_after: str = "1"):
        self.received = Received()
        self.mode: dict[str, str] = {}
        self.delay_ms = delay_ms
        self.retry_after = retry_after
        self._hang = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait between them

            def log_message(self, *args):
                pass

            def do_POST(self):
                arrived = time.monotonic()
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n)
                mode = receiver.mode.get(self.path, receiver.mode.get("*", "ok"))
                if mode == "hang":
                    receiver._hang.wait(60)
                    self.close_connection = True
                    return
                if receiver.delay_ms:
                    time.sleep(receiver.delay_ms / 1000)
                if mode in ("fail", "busy", "refuse"):
                    code = {"fail": 500, "busy": 429, "refuse": 400}[mode]
                    receiver.received.add(self.path, self.headers.get("idempotency-key"), None, code, arrived)
                    self.send_response(code)
                    if mode == "busy":
                        self.send_header("Retry-After", receiver.retry_after)
                    body = b'{"error": "' + mode.encode() + b'"}'
                else:
                    try:
                        data = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        data = raw.decode("utf-8", "replace")
                    key = self.headers.get("idempotency-key")
                    receiver.received.add(self.path, key, data, 200, arrived)
                    code, body = 200, b'{"ok": true}'
                    if "/Messages.json" in self.path:  # the Twilio shape answers 201 with a sid
                        code, body = 201, orjson.dumps({"sid": "SM" + (key or "x")[:32], "status": "queued"})
                    self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self._server = Server(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)

    def start(self) -> "LocalWebhook":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._hang.set()
        self._server.shutdown()
        self._server.server_close()


class LocalSmtp:
    """An aiosmtpd server on 127.0.0.1:port that keeps every message; effects by Message-ID."""

    def __init__(self, port: int = 0):
        from aiosmtpd.controller import Controller

        self.received = Received()
        received = self.received

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                msg = message_from_bytes(envelope.content)
                body = msg.get_payload(decode=True)
                received.add("smtp", msg.get("Message-ID"),
                             {"to": envelope.rcpt_tos, "from": envelope.mail_from, "subject": msg.get("Subject"),
                              "message_id": msg.get("Message-ID"),
                              "body": body.decode("utf-8", "replace").strip() if body else ""})
                return "250 OK"

        if port == 0:
            import socket

            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = port
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def start(self) -> "LocalSmtp":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
