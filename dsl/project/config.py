"""The project config, `journeyctl.yaml`: what a project adds to the language.

A typo in a config key would otherwise be silently ignored and surface weeks
later as "why is whatsapp unknown?", so the file is checked against a JSON
Schema that allows no unknown keys, and every problem points at its YAML line
(yamlcheck.py, shared with the event catalog).

    channels:               # extra channels, and contact traits for any channel
      whatsapp: phone       # reachable only when the profile has `phone`
      line:                 # a new channel, no contact trait
    default_timezone: Europe/Paris
    catalog: events.yaml    # relative to this file
    allowed_lateness: 5s
    dedup_window: 24h       # a copy of a message id within this much event time is a duplicate
    run: {}                 # engine settings, free-form for now
    templates: templates    # message templates, relative to this file (the default)
    delivery:               # how each channel's messages go out (journeyctl deliver)
      whatsapp: {provider: webhook, url: "http://127.0.0.1:8099/whatsapp", rate: 50/s}
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import available_timezones

from ..compiler import Options, valid_timezone
from ..diagnostics import ERROR, Diagnostic, did_you_mean
from ..durations import parse_duration, read_duration
from ..ir import BUILTIN_CHANNELS
from .catalog import load_catalog
from .yamlcheck import check_yaml, diagnostic_at

CONFIG_NAME = "journeyctl.yaml"
NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
TRAIT = r"^(profile\.)?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
DURATION = r"^(\d+[wdhms])+$"

CONFIG_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "x-hint": "the config is a mapping of keys: channels, default_timezone, catalog, allowed_lateness, "
              "dedup_window, run, templates, delivery",
    "properties": {
        "channels": {
            "type": "object",
            "propertyNames": {"type": "string", "pattern": NAME, "x-hint": "channel names are like whatsapp or in_app"},
            "additionalProperties": {
                "type": ["string", "null"], "pattern": TRAIT,
                "x-hint": "give the profile trait a customer needs for this channel, like phone, or leave it empty",
            },
            "x-hint": "map each channel to its contact trait, e.g.  whatsapp: phone",
        },
        "default_timezone": {"type": "string", "x-hint": 'an IANA time zone like "Europe/Paris"'},
        "catalog": {"type": "string", "minLength": 1,
                    "x-hint": "the path of the event catalog YAML, relative to this file"},
        "allowed_lateness": {"type": "string", "pattern": DURATION, "x-hint": "a duration like 5s or 1m"},
        "dedup_window": {"type": "string", "pattern": DURATION,
                         "x-hint": "a duration like 24h or 30m (0s: no de-duplication)"},
        "run": {"type": "object", "x-hint": "engine settings, as a mapping"},
        "templates": {"type": "string", "minLength": 1,
                      "x-hint": "the folder of message templates, relative to this file (default: templates)"},
        "delivery": {
            "type": "object",
            "propertyNames": {"type": "string", "pattern": NAME, "x-hint": "channel names are like whatsapp or sms"},
            "additionalProperties": {
                "type": "object", "required": ["provider"],
                "properties": {"provider": {"type": "string", "x-hint": "a provider: smtp, webhook or twilio"},
                               "rate": {"type": "string", "pattern": r"^\d+(\.\d+)?/(s|m|h)$",
                                        "x-hint": "messages per second, minute or hour, like 50/s"}},
                "x-hint": "per channel: {provider: webhook, url: ...}",
            },
            "x-hint": "map each channel to how its messages go out, e.g.  whatsapp: {provider: webhook, url: ...}",
        },
    },
}


class ConfigError(Exception):
    """A config or catalog path given on the command line cannot be read: a usage error, not a finding."""


@dataclass
class ProjectConfig:
    """options: what the compiler needs; contacts: channel -> profile trait the engine checks for
    reachability; allowed_lateness and dedup_window in ms (None: the engine's default); run: engine
    settings as written;
    diagnostics: problems in the config or catalog (J009, J010)."""

    options: Options = field(default_factory=Options)
    contacts: dict = field(default_factory=dict)
    allowed_lateness: int | None = None
    dedup_window: int | None = None
    run: dict = field(default_factory=dict)
    templates: str | None = None    # `templates:` as written (engine/deliver/template_check.py resolves it)
    delivery: dict = field(default_factory=dict)  # `delivery:` as written (engine/deliver/settings.py)
    path: Path | None = None
    diagnostics: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.severity == ERROR for d in self.diagnostics)


def find_config(explicit: str | Path | None = None, cwd: str | Path | None = None) -> Path | None:
    """`--config PATH` if given (it must exist), else `journeyctl.yaml` in the current folder, if any.
    A path that exists but is no regular file (a folder, a FIFO) is returned, for J009 to say so."""
    if explicit is not None:
        path = Path(explicit)
        if not os.path.lexists(path):
            raise ConfigError(f"cannot read config {path}: no such file")
        return path
    path = Path(cwd or ".") / CONFIG_NAME
    return path if os.path.lexists(path) else None


def load_config(explicit: str | Path | None = None, *, catalog: str | Path | None = None,
                cwd: str | Path | None = None) -> ProjectConfig:
    """The project's settings. `catalog` (the `--catalog` option) replaces the config's own catalog.
    Problems inside the files come back as diagnostics; a path that cannot be found raises ConfigError."""
    if catalog is not None and not os.path.lexists(catalog):
        raise ConfigError(f"cannot read catalog {catalog}: no such file")
    path = find_config(explicit, cwd)
    config = ProjectConfig(path=path)
    if path is not None:
        data, root, config.diagnostics = check_yaml(path, CONFIG_SCHEMA, "J009", "config")
        if isinstance(data, dict):
            config.diagnostics += _check_values(data, root, str(path))
        if data is not None and config.ok:
            _apply(config, data)
            if catalog is None and data.get("catalog"):
                named = path.parent / data["catalog"]
                if named.is_file():
                    catalog = named
                else:
                    problem = "is not a file" if named.exists() else "does not exist"
                    config.diagnostics.append(diagnostic_at(
                        root, ["catalog"], str(path), "J009", f"catalog file {data['catalog']} {problem}",
                        "the path is relative to this config file"))
    if catalog is not None:
        cat, problems = load_catalog(catalog)
        config.diagnostics += problems
        config.options = replace(config.options, catalog=cat)
    return config


def _check_values(data: dict, root, path: str) -> list[Diagnostic]:
    """What a JSON Schema cannot say: whether a text names a real time zone, whether a duration is one
    the engine can keep (one past the limit would otherwise fall back to the default unseen)."""
    out = []
    tz = data.get("default_timezone")
    if isinstance(tz, str) and not valid_timezone(tz):
        close = did_you_mean(tz, available_timezones())
        out.append(diagnostic_at(root, ["default_timezone"], path, "J009", f'"{tz}" is not a time zone',
                                 f'did you mean "{close}"?' if close else 'use an IANA name like "Europe/Paris"'))
    for key, usual in (("allowed_lateness", "a few seconds is usual: 5s"), ("dedup_window", "the default is 24h")):
        text = data.get(key)
        if isinstance(text, str) and re.fullmatch(DURATION, text) and isinstance(why := read_duration(text), str):
            out.append(diagnostic_at(root, [key], path, "J009", why, usual))
    return out


def _apply(config: ProjectConfig, data: dict) -> None:
    channels = data.get("channels") or {}
    extra = tuple(c for c in channels if c not in BUILTIN_CHANNELS)
    config.contacts = {c: t.removeprefix("profile.") for c, t in channels.items() if t}
    tz = data.get("default_timezone")
    if "allowed_lateness" in data:
        config.allowed_lateness = parse_duration(data["allowed_lateness"])
    if "dedup_window" in data:
        config.dedup_window = parse_duration(data["dedup_window"])
    config.run = data.get("run") or {}
    config.templates = data.get("templates")
    config.delivery = data.get("delivery") or {}
    config.options = Options(channels=BUILTIN_CHANNELS + extra, default_timezone=tz)
