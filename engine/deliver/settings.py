"""The `delivery:` section of journeyctl.yaml: per channel, which provider and how.

    delivery:
      email:    {provider: smtp, host: 127.0.0.1, port: 2525, from: "shop@example.com"}
      whatsapp: {provider: webhook, url: "http://127.0.0.1:8099/whatsapp", secret_env: WEBHOOK_SECRET, rate: 50/s}

Besides its provider's own options (providers/NAME.py OPTIONS) every channel takes the common
ones below. Each option can also come from the command line (`--delivery whatsapp.url=...`)
or the environment (`JOURNEYCTL_DELIVERY_WHATSAPP_URL`); the command line wins over the
environment, the environment over the file. Secrets only ever come from environment
variables or files named here (`secret_env`, `password_file`, ...).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from journeyctl.dsl.diagnostics import did_you_mean
from journeyctl.engine.deliver.providers import PROVIDERS, SettingsError, provider_class

ENV_PREFIX = "JOURNEYCTL_DELIVERY_"
SECRET_WORDS = ("password", "secret", "token", "auth_token")

# option -> (parse, default, help)
COMMON = {
    "provider": (str, None, "smtp, webhook or twilio"),
    "rate": (None, None, "at most this many messages per second, minute or hour, like 50/s"),
    "concurrency": (int, None, "attempts in flight at once on this channel (default 64; smtp 4)"),
    "timeout": (float, 10.0, "seconds to wait for the provider's answer"),
    "max_attempts": (int, 8, "attempts before a message that keeps failing is dead-lettered"),
}
_RATE = re.compile(r"^(\d+(?:\.\d+)?)/(s|m|h)$")
_PER = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text) -> float:
    """Messages per second from `50/s`, `300/m`, `1000/h`."""
    m = _RATE.match(str(text).strip())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"rate {text!r} is not like 50/s, 300/m or 1000/h")
    return float(m.group(1)) / _PER[m.group(2)]


@dataclass
class Channel:
    channel: str
    provider: str
    options: dict = field(default_factory=dict)
    rate: float | None = None          # messages per second
    concurrency: int = 64
    timeout: float = 10.0
    max_attempts: int = 8


def merged(delivery: dict, env, overrides=(), channels=()) -> dict[str, dict]:
    """The delivery settings as written, with the environment's and the command line's on top.
    `overrides`: ["whatsapp.url=http://...", ...]; `channels`: names the environment may use."""
    out = {str(ch): dict(opts or {}) for ch, opts in (delivery or {}).items()}
    known = sorted({*out, *channels}, key=len, reverse=True)
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX):].lower()
        ch = next((c for c in known if rest.startswith(c.lower() + "_")), None)
        if ch is not None:
            out.setdefault(ch, {})[rest[len(ch) + 1:]] = value
    for item in overrides:
        key, eq, value = str(item).partition("=")
        ch, dot, opt = key.partition(".")
        if not (eq and dot and ch and opt):
            raise SettingsError(f"--delivery {item!r}: write CHANNEL.OPTION=VALUE, like whatsapp.url=http://...")
        out.setdefault(ch, {})[opt] = value
    return out


def problems_of(channel: str, opts: dict) -> list[tuple[str | None, str]]:
    """[(option or None, what is wrong)] for one channel's settings, without building anything."""
    name = opts.get("provider")
    if not name:
        return [(None, f"delivery.{channel}: no provider; give provider: {' or '.join(PROVIDERS)}")]
    if name not in PROVIDERS:
        close = did_you_mean(str(name), PROVIDERS)
        return [("provider", f'delivery.{channel}: unknown provider "{name}"' +
                 (f'; did you mean "{close}"?' if close else f"; providers: {', '.join(PROVIDERS)}"))]
    known = {**COMMON, **provider_class(name).OPTIONS}
    out = []
    for key in opts:
        if key in known:
            continue
        if key in SECRET_WORDS:
            out.append((key, f"delivery.{channel}: a {key} does not belong in the config; give {key}_env "
                             f"(an environment variable) or {key}_file"))
            continue
        close = did_you_mean(str(key), known)
        out.append((key, f'delivery.{channel}: unknown option "{key}" for provider {name}' +
                    (f'; did you mean "{close}"?' if close else f"; options: {', '.join(sorted(known))}")))
    missing = [k for k, (required, _) in provider_class(name).OPTIONS.items() if required and not opts.get(k)]
    out += [(None, f"delivery.{channel}: {k} is missing") for k in missing]
    for key, (parse, _, help_text) in COMMON.items():
        if key in opts and key != "provider":
            try:
                _value(key, opts[key])
            except (TypeError, ValueError):
                out.append((key, f"delivery.{channel}: {key} {opts[key]!r} is not valid: {help_text}"))
    return out


def _value(key: str, raw):
    if key == "rate":
        return parse_rate(raw)
    value = COMMON[key][0](raw)
    if key != "provider" and value <= 0:
        raise ValueError(key)
    return value


def channels_from(delivery: dict) -> dict[str, Channel]:
    """Channel settings from merged(); raises SettingsError with every problem at once."""
    problems = [msg for ch, opts in delivery.items() for _, msg in problems_of(ch, opts)]
    if problems:
        raise SettingsError("; ".join(problems))
    out = {}
    for ch, opts in delivery.items():
        c = Channel(ch, opts["provider"], {k: v for k, v in opts.items() if k not in COMMON})
        c.rate = _value("rate", opts["rate"]) if opts.get("rate") else None
        c.timeout = _value("timeout", opts.get("timeout", COMMON["timeout"][1]))
        c.max_attempts = _value("max_attempts", opts.get("max_attempts", COMMON["max_attempts"][1]))
        default = getattr(provider_class(c.provider), "DEFAULT_CONCURRENCY", 64)
        c.concurrency = _value("concurrency", opts.get("concurrency", default))
        out[ch] = c
    return out


def build(channel: Channel, env):
    """The provider object for a channel; raises SettingsError naming what is wrong (never a secret)."""
    cls = provider_class(channel.provider)
    try:
        provider = cls(channel.channel, channel.options, env, timeout=channel.timeout,
                       concurrency=channel.concurrency)
    except SettingsError as e:
        raise SettingsError(f"delivery.{channel.channel}: {e}") from None
    problems = provider.problems()
    if problems:
        raise SettingsError("; ".join(f"delivery.{channel.channel}: {p}" for p in problems))
    return provider
