"""What the HTTP providers (webhook, twilio) share: a small keep-alive HTTP/1.1 client, and an answer
read as an Outcome.

Why not httpx: measured against the same local receiver, its async client managed about 200
requests/s on this 2-core machine where plain asyncio streams managed about 2,900, and the
deliver target is 2,000 messages/s. A POST with a body and a few headers is all a provider
needs: one request per connection at a time, connections kept open and reused, answers with
Content-Length or chunked, http and https (the standard library's TLS).

2xx is accepted; 429 and 5xx, timeouts and refused connections are worth another try (with
the server's Retry-After); any other answer (400, 401, 404, a redirect) will not change by
asking again, so it is a permanent failure with the server's words.
"""
from __future__ import annotations

import asyncio
import base64
import ssl
from urllib.parse import urlsplit

from journeyctl.engine.deliver.providers import Outcome, retry_after, short

MAX_ANSWER = 1024 * 1024


class Client:
    def __init__(self, timeout: float, concurrency: int):
        self.timeout = timeout
        self.concurrency = concurrency
        self._idle: dict = {}
        self._tls = None

    async def post(self, url: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
        u = urlsplit(url)
        https = u.scheme == "https"
        port = u.port or (443 if https else 80)
        key = (u.scheme, u.hostname, port)
        target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        host = u.hostname if u.port is None else f"{u.hostname}:{u.port}"
        head = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (1, 2):
            idle = self._idle.get(key)
            reused = bool(idle)
            if reused:
                reader, writer = idle.pop()
            else:
                if https and self._tls is None:
                    self._tls = ssl.create_default_context()
                reader, writer = await asyncio.open_connection(u.hostname, port, ssl=self._tls if https else None)
            try:
                writer.write(request)
                status, answer_headers, answer = await _read(reader)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                writer.close()
                if reused and attempt == 1:  # the server closed a kept-open connection: one fresh try
                    continue
                raise
            except BaseException:
                writer.close()
                raise
            if answer_headers.get("connection", "").lower() == "close":
                writer.close()
            else:
                self._idle.setdefault(key, []).append((reader, writer))
            return status, answer_headers, answer
        raise ConnectionError("no connection")

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for _, writer in conns:
                writer.close()
        self._idle.clear()


async def _read(reader) -> tuple[int, dict, bytes]:
    line = await reader.readline()
    if not line:
        raise ConnectionError("closed")
    parts = line.split(None, 2)
    status = int(parts[1])
    headers = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size)
            await reader.readline()
            if len(body) > MAX_ANSWER:
                raise ConnectionError("answer too large")
    elif "content-length" in headers:
        body = await reader.readexactly(min(int(headers["content-length"]), MAX_ANSWER))
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body = await reader.read(MAX_ANSWER)
        headers["connection"] = "close"
    return status, headers, body


def client(timeout: float, concurrency: int) -> Client:
    return Client(timeout, concurrency)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def check_url(url, what: str) -> list[str]:
    if not url:
        return [f"{what} is missing"]
    try:
        u = urlsplit(str(url))
        u.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as e:
        return [f"{what} {url!r} is not a URL ({e})"]
    if u.scheme not in ("http", "https") or not u.hostname:
        return [f"{what} {url!r} is not an http:// or https:// URL"]
    return []


async def post(http: Client, url: str, body: bytes, headers: dict, timeout: float, id_from=None) -> Outcome:
    """One POST, its answer as an Outcome; never raises for what the network or the server does.
    id_from(body bytes): the provider's id of an accepted message, if it gives one."""
    try:
        status, answer_headers, raw = await asyncio.wait_for(http.post(url, body, headers), timeout)
    except asyncio.TimeoutError:
        return Outcome.retry(f"no answer from {_host(url)} in time")
    except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, ssl.SSLError) as e:
        return Outcome.retry(f"cannot reach {_host(url)}: {type(e).__name__}")
    text = short(raw.decode("utf-8", "replace"), 300)
    answer = f"HTTP {status}" + (f": {text}" if text else "")
    if 200 <= status < 300:
        provider_id = None
        if id_from is not None:
            try:
                provider_id = id_from(raw)
            except Exception:  # noqa: BLE001 - an accepted message without a readable id is still accepted
                provider_id = None
        return Outcome.sent(answer, provider_id)
    if status == 429 or status >= 500:
        return Outcome.retry(answer, retry_after(answer_headers.get("retry-after")))
    return Outcome.failed(answer)


def _host(url: str) -> str:
    u = urlsplit(url)
    return f"{u.hostname}:{u.port}" if u.port else str(u.hostname)
