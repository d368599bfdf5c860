"""Passwords never leave the process: a state location as it may be shown, and a driver's message
with the password taken out. Every store and command that prints a location goes through here."""
from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit, urlunsplit


def redact(url: str) -> str:
    """The location without its password, for messages and logs: the `user:PASSWORD@` of a URL, a
    `password=` in its query, or in a key=value connection string."""
    text = os.fspath(url)
    if "://" not in text:
        return _PASSWORD_PAIR.sub(r"\1***", text)
    try:
        parts = urlsplit(text)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, host = netloc.rpartition("@")
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
        query = _PASSWORD_QUERY.sub(r"\1***", parts.query)
        if (netloc, query) == (parts.netloc, parts.query):
            return text  # nothing to hide: as written (urlunsplit would change sqlite:/// to sqlite:/)
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    except ValueError:  # not even a URL: keep the scheme, say nothing of the rest
        return text.split("://", 1)[0] + "://***"


_PASSWORD_PAIR = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)")
_PASSWORD_QUERY = re.compile(r"(?i)((?:^|&)password=)[^&]*")


def scrub(message: str, url: str) -> str:
    """A driver's message with the password taken out, should it ever repeat it."""
    try:
        password = urlsplit(url).password if "://" in url else None
    except ValueError:
        password = None
    for secret in {password, unquote(password or "")} - {None, ""}:
        message = message.replace(secret, "***")
    return redact(message) if "password" in message.lower() else message
