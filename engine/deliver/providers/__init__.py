"""Providers: how one channel's messages leave. One module per provider, one small interface.

A provider is a class with
- `NAME` and `OPTIONS`: {option: (required, help)}, the keys it reads from its channel's
  `delivery:` entry (besides the common ones in engine/deliver/settings.py);
- `__init__(self, channel, options, env)`: options as written (secrets come from env or files,
  never from the config: read them through `secret()` below);
- `problems(self) -> list[str]`: what is wrong with the settings, before anything is sent;
- `async send(self, message: Message) -> Outcome`: one attempt, never raising for a provider's
  answer; `Outcome.sent`, `.retry` (timeouts, 5xx, 429 with Retry-After) or `.failed` (4xx);
- `async close(self)`.

Adding one: write providers/NAME.py with such a class, and add a line to PROVIDERS.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

PROVIDERS = {
    "webhook": "journeyctl.engine.deliver.providers.webhook:WebhookProvider",
    "smtp": "journeyctl.engine.deliver.providers.smtp:SmtpProvider",
    "twilio": "journeyctl.engine.deliver.providers.twilio:TwilioProvider",
}


def provider_class(name: str):
    module, attr = PROVIDERS[name].split(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Message:
    """What a provider sends: the action (spec section 9) and its rendered text."""

    action: dict
    body: str
    subject: str | None = None

    @property
    def action_id(self) -> str:
        return self.action["action_id"]

    @property
    def to(self):
        return self.action.get("to")


@dataclass(frozen=True)
class Outcome:
    """kind: sent, retry or failed; answer: the provider's answer in a few words (kept in receipts and
    dead letters); retry_after: seconds the provider asked us to wait (Retry-After), if it said."""

    kind: str
    answer: str
    retry_after: float | None = None
    provider_id: str | None = None

    @classmethod
    def sent(cls, answer: str, provider_id: str | None = None) -> "Outcome":
        return cls("sent", answer, None, provider_id)

    @classmethod
    def retry(cls, answer: str, after: float | None = None) -> "Outcome":
        return cls("retry", answer, after)

    @classmethod
    def failed(cls, answer: str) -> "Outcome":
        return cls("failed", answer)


class SettingsError(Exception):
    """A provider cannot be set up as configured; the message never holds a secret."""


def secret(options: dict, name: str, env, required: bool = False) -> str | None:
    """A secret from `<name>_env` (the name of an environment variable) or `<name>_file` (a file
    holding it), never from the config itself."""
    var, path = options.get(f"{name}_env"), options.get(f"{name}_file")
    if var:
        value = env.get(str(var))
        if value:
            return value
        if required and not path:
            raise SettingsError(f"{name}: the environment variable {var} is not set")
    if path:
        try:
            with open(os.fspath(path), encoding="utf-8") as f:
                return f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise SettingsError(f"{name}: cannot read {path}: {getattr(e, 'strerror', None) or 'not text'}") from None
    if required:
        raise SettingsError(f"{name}: give {name}_env (an environment variable) or {name}_file")
    return None


def short(text: str, limit: int = 300) -> str:
    """A provider's answer, cut to what a receipt and a log line can carry."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    import time

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
