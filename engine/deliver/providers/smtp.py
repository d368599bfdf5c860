"""`smtp`: email through any SMTP server, with the standard library's smtplib.

The Message-ID is `<ACTION_ID@domain of the from address>`: a retry after a crash carries the
same one, so a mail system that drops repeated Message-IDs (and a person's mail client, which
threads them) sees one message. smtplib blocks, so each attempt runs in a worker thread,
over a pool of open connections (one per thread at most: `concurrency`, default 4).

Answers: 2xx accepted; 4xx (and a dropped connection, a timeout, a refused connection) is
worth another try; 5xx is permanent, with the server's words. The password comes from
`password_env` or `password_file` only, and never appears in a message.
"""
from __future__ import annotations

import asyncio
import queue
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from journeyctl.engine.deliver.providers import Message, Outcome, SettingsError, secret, short


class SmtpProvider:
    NAME = "smtp"
    OPTIONS = {"host": (False, "the server (default 127.0.0.1)"),
               "port": (False, "its port (default 25; 587 with starttls)"),
               "starttls": (False, "upgrade the connection with STARTTLS (true/false)"),
               "username": (False, "login name, when the server wants one"),
               "password_env": (False, "environment variable holding the password"),
               "password_file": (False, "file holding the password"),
               "from": (True, "the sender address")}
    DEFAULT_CONCURRENCY = 4

    def __init__(self, channel: str, options: dict, env, timeout: float = 10.0, concurrency: int = 4):
        self.channel = channel
        self.host = str(options.get("host") or "127.0.0.1")
        self.starttls = bool(options.get("starttls"))
        self.port = int(options.get("port") or (587 if self.starttls else 25))
        self.username = options.get("username")
        self.sender = str(options.get("from") or "")
        self._problems = []
        try:
            self._password = secret(options, "password", env, required=bool(self.username))
        except SettingsError as e:
            self._password = None
            self._problems.append(str(e))
        self.timeout = timeout
        self._pool: queue.SimpleQueue = queue.SimpleQueue()
        self._open = 0
        self._slots = asyncio.Semaphore(max(1, concurrency)) if concurrency else None

    def problems(self) -> list[str]:
        out = list(self._problems)
        if not self.sender or "@" not in self.sender:
            out.append(f"from must be an email address, not {self.sender!r}" if self.sender else "from is missing")
        return out

    def describe(self) -> str:
        return f"smtp {self.host}:{self.port}" + (" STARTTLS" if self.starttls else "") + f" from {self.sender}"

    def email(self, message: Message) -> EmailMessage:
        m = EmailMessage()
        m["From"] = self.sender
        m["To"] = str(message.to)
        m["Subject"] = message.subject or ""
        m["Message-ID"] = f"<{message.action_id}@{self.sender.rpartition('@')[2] or 'journeyctl'}>"
        m["Date"] = formatdate(localtime=False, usegmt=True)
        m["X-Journeyctl-Action-Id"] = message.action_id
        m.set_content(message.body)
        return m

    async def send(self, message: Message) -> Outcome:
        if not message.to:
            return Outcome.failed("no address: the customer's profile has no email address")
        async with self._slots:
            return await asyncio.to_thread(self._send, self.email(message))

    def _send(self, email: EmailMessage) -> Outcome:
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = None
        try:
            if conn is None:
                conn = self._connect()
            conn.send_message(email)
        except smtplib.SMTPAuthenticationError as e:
            self._drop(conn)
            return Outcome.failed(f"the server refused the login of {self.username}: {e.smtp_code}")
        except smtplib.SMTPRecipientsRefused as e:
            self._pool.put(conn)
            code, text = next(iter(e.recipients.values()))
            return self._answer(code, text)
        except smtplib.SMTPResponseException as e:
            self._drop(conn)
            return self._answer(e.smtp_code, e.smtp_error)
        except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
            self._drop(conn)
            why = "no answer in time" if isinstance(e, (socket.timeout, TimeoutError)) else type(e).__name__
            return Outcome.retry(f"cannot reach {self.host}:{self.port}: {why}")
        self._pool.put(conn)
        return Outcome.sent(f"250 accepted by {self.host}:{self.port}", email["Message-ID"])

    @staticmethod
    def _answer(code: int, text) -> Outcome:
        words = short(text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text), 200)
        answer = f"{code} {words}"
        if 400 <= code < 500:
            return Outcome.retry(answer)
        return Outcome.failed(answer)

    def _connect(self) -> smtplib.SMTP:
        conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            conn.ehlo()
            if self.starttls:
                conn.starttls(context=ssl.create_default_context())
                conn.ehlo()
            if self.username:
                conn.login(str(self.username), self._password or "")
        except BaseException:
            self._drop(conn)
            raise
        return conn

    @staticmethod
    def _drop(conn) -> None:
        if conn is None:
            return
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass

    async def close(self) -> None:
        while True:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                return
            try:
                await asyncio.to_thread(conn.quit)
            except Exception:  # noqa: BLE001
                self._drop(conn)
