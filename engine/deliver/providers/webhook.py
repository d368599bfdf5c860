"""`webhook`: an HTTP POST of the message as JSON, how SMS/WhatsApp/push gateways, Slack or a CRM are reached.

Body: {"action_id", "channel", "customer_id", "to", "template", "journey", "subject"?, "body",
"variables"}. Headers: `Idempotency-Key: <action_id>` (a retry after a crash carries the same
one, so the receiver can drop it) and, with a secret, `X-Journeyctl-Signature: sha256=<hex
HMAC-SHA256 of the raw body>`.
"""
from __future__ import annotations

import hashlib
import hmac

import orjson

from journeyctl.engine.deliver.providers import Message, Outcome, secret
from journeyctl.engine.deliver.providers.http import check_url, client, post

FIELDS = ("action_id", "channel", "customer_id", "to", "template", "journey")


def signature(secret_value: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret_value.encode(), body, hashlib.sha256).hexdigest()


class WebhookProvider:
    NAME = "webhook"
    OPTIONS = {"url": (True, "where to POST"),
               "secret_env": (False, "environment variable holding the HMAC secret"),
               "secret_file": (False, "file holding the HMAC secret")}

    def __init__(self, channel: str, options: dict, env, timeout: float = 10.0, concurrency: int = 64):
        self.channel = channel
        self.url = str(options.get("url") or "")
        self._secret = secret(options, "secret", env)
        self._timeout, self._concurrency = timeout, concurrency
        self._http = None

    def problems(self) -> list[str]:
        return check_url(self.url, "url")

    def describe(self) -> str:
        return f"webhook {self.url}" + (" (signed)" if self._secret else "")

    def body(self, message: Message) -> bytes:
        a = message.action
        data = {k: a.get(k) for k in FIELDS}
        if message.subject is not None:
            data["subject"] = message.subject
        data["body"] = message.body
        data["variables"] = a.get("variables") or {}
        return orjson.dumps(data)

    async def send(self, message: Message) -> Outcome:
        if self._http is None:
            self._http = client(self._timeout, self._concurrency)
        raw = self.body(message)
        headers = {"content-type": "application/json", "idempotency-key": message.action_id}
        if self._secret:
            headers["x-journeyctl-signature"] = signature(self._secret, raw)
        return await post(self._http, self.url, raw, headers, self._timeout)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
