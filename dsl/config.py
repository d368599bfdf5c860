"""The project config, `journeyctl.yaml`: what a project adds to the language.

A typo in a config key would otherwise be silently ignored and surface weeks
later as "why is whatsapp unknown?", so the file is checked against a JSON
Schema that allows no unknown keys, and every problem points at its YAML line.
The YAML reader here is shared with the event catalog for the same reason.

    channels:               # extra channels, and contact traits for any channel
      whatsapp: phone       # reachable only when the profile has `phone`
      line:                 # a new channel, no contact trait
    default_timezone: Europe/Paris
    catalog: events.yaml    # relative to this file
    allowed_lateness: 5s
    dedup_window: 24h       # a copy of a message id within this much event time is a duplicate
    run: {}                 # engine settings, free-form for now
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import available_timezones

import jsonschema
import yaml

from .compiler import BUILTIN_CHANNELS, Options, valid_timezone
from .diagnostics import ERROR, Diagnostic, Span, did_you_mean
from .durations import parse_duration

CONFIG_NAME = "journeyctl.yaml"
MAX_YAML_BYTES = 1024 * 1024
NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
TRAIT = r"^(profile\.)?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
DURATION = r"^(\d+[wdhms])+$"

CONFIG_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "x-hint": "the config is a mapping of keys: channels, default_timezone, catalog, allowed_lateness, "
              "dedup_window, run",
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
    path: Path | None = None
    diagnostics: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.severity == ERROR for d in self.diagnostics)


def find_config(explicit: str | Path | None = None, cwd: str | Path | None = None) -> Path | None:
    """`--config PATH` if given (it must exist), else `journeyctl.yaml` in the current folder, if any."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"cannot read config {path}: no such file")
        return path
    path = Path(cwd or ".") / CONFIG_NAME
    return path if path.is_file() else None


def load_config(explicit: str | Path | None = None, *, catalog: str | Path | None = None,
                cwd: str | Path | None = None) -> ProjectConfig:
    """The project's settings. `catalog` (the `--catalog` option) replaces the config's own catalog.
    Problems inside the files come back as diagnostics; a path that cannot be found raises ConfigError."""
    from .catalog import load_catalog  # the catalog module reuses read_yaml from here

    if catalog is not None and not Path(catalog).is_file():
        raise ConfigError(f"cannot read catalog {catalog}: no such file")
    path = find_config(explicit, cwd)
    config = ProjectConfig(path=path)
    if path is not None:
        data, root, config.diagnostics = read_yaml(path, CONFIG_SCHEMA, "J009", "config")
        if isinstance(data, dict):
            config.diagnostics += _check_values(data, root, str(path))
        if data is not None and config.ok:
            _apply(config, data)
            if catalog is None and data.get("catalog"):
                catalog = path.parent / data["catalog"]
                if not catalog.is_file():
                    problem = "is not a file" if catalog.exists() else "does not exist"
                    config.diagnostics.append(
                        _at(root, ["catalog"], str(path), "J009", f"catalog file {data['catalog']} {problem}",
                            "the path is relative to this config file"))
                    catalog = None
    if catalog is not None:
        cat, problems = load_catalog(catalog)
        config.diagnostics += problems
        config.options = replace(config.options, catalog=cat)
    return config


def _check_values(data: dict, root, path: str) -> list[Diagnostic]:
    """What a JSON Schema cannot say: whether a text names a real time zone."""
    tz = data.get("default_timezone")
    if isinstance(tz, str) and not valid_timezone(tz):
        close = did_you_mean(tz, available_timezones())
        return [_at(root, ["default_timezone"], path, "J009", f'"{tz}" is not a time zone',
                    f'did you mean "{close}"?' if close else 'use an IANA name like "Europe/Paris"')]
    return []


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
    config.options = Options(channels=BUILTIN_CHANNELS + extra, default_timezone=tz)


# ---- YAML with line numbers -----------------------------------------------------------------

def read_yaml(path: str | Path, schema: dict, code: str, what: str):
    """(data, composed root node, diagnostics). data is None when the file cannot be used at all.
    The YAML is composed first so every problem can point at the line of the key or value at fault."""
    where = str(path)
    try:
        raw = Path(path).read_bytes()[: MAX_YAML_BYTES + 1]
    except OSError as e:
        return None, None, [Diagnostic(code, ERROR, f"cannot read this {what} file: {e.strerror or e}", Span(),
                                       None, where)]
    if len(raw) > MAX_YAML_BYTES:
        return None, None, [Diagnostic(code, ERROR, f"this {what} file is over 1 MB", Span(), None, where)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, None, [Diagnostic(code, ERROR, f"this {what} file is not UTF-8 text", Span(), None, where)]
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        span = Span.point(mark.line + 1, mark.column + 1) if mark else Span()
        problem = getattr(e, "problem", None) or str(e)
        if problem.startswith("but ") and getattr(e, "context", None):
            problem = f"{e.context}, {problem}"
        layout = isinstance(e, (yaml.scanner.ScannerError, yaml.parser.ParserError))
        return None, None, [Diagnostic(code, ERROR, f"this {what} file is not valid YAML: {problem}", span,
                                       "check the indentation and the colons around this spot" if layout else None,
                                       where)]
    if data is None:
        data = {}
    diags = _duplicate_keys(root, code, where)
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        diags += _explain(error, root, code, where)
    diags.sort(key=lambda d: (d.span.line, d.span.column))
    return data, root, diags


_TYPE_WORDS = {"string": "a text", "object": "a mapping (key: value lines)", "array": "a list",
               "number": "a number", "integer": "a whole number", "boolean": "true or false", "null": "empty"}


def _kind(value) -> str:
    if value is None:
        return "empty"
    for t, py in (("boolean", bool), ("integer", int), ("number", float), ("string", str), ("array", list),
                  ("object", dict)):
        if isinstance(value, py):
            return _TYPE_WORDS[t]
    return type(value).__name__


def _explain(error, root, code: str, path: str) -> list[Diagnostic]:
    """jsonschema's messages are written for programmers; say the same in the config's own words."""
    keys = list(error.absolute_path)
    name = ".".join(str(k) for k in keys)
    hint = error.schema.get("x-hint") if isinstance(error.schema, dict) else None
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(error.schema.get("properties", {}))
        out = []
        for extra in (k for k in error.instance if k not in known):
            close = did_you_mean(str(extra), known)
            out.append(_at(root, keys + [extra], path, code,
                           f'unknown key "{extra}"' + (f" in {name}" if name else ""),
                           f'did you mean "{close}"?' if close else ("keys: " + ", ".join(known) if known else hint),
                           key=True))
        return out
    if "propertyNames" in error.relative_schema_path:
        return [_at(root, keys + [error.instance], path, code, f'"{error.instance}" is not a valid name here',
                    hint, key=True)]
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in wanted)
        subject = f"`{name}`" if name else "the file"
        return [_at(root, keys, path, code, f"{subject} must be {words}, not {_kind(error.instance)}", hint)]
    if error.validator == "required":
        missing = [r for r in error.validator_value if r not in error.instance]
        return [_at(root, keys, path, code, f'"{m}" is missing' + (f" in {name}" if name else ""), hint)
                for m in missing]
    if error.validator in ("pattern", "minLength", "enum"):
        return [_at(root, keys, path, code, f"`{name}` cannot be {error.instance!r}", hint)]
    return [_at(root, keys, path, code, f"`{name}`: {error.message}" if name else error.message, hint)]


def _at(root, keys: list, path: str, code: str, message: str, hint: str | None, key: bool = False) -> Diagnostic:
    return Diagnostic(code, ERROR, message, node_span(root, keys, key=key), hint, path)


def node_span(root, keys: list, key: bool = False) -> Span:
    """Where the value at `keys` was written (or its key, with key=True); as close as the YAML allows
    when the path goes somewhere the text does not (a default, a merge key)."""
    node, found = root, root
    for i, k in enumerate(keys):
        if isinstance(node, yaml.MappingNode):
            pair = next(((kn, vn) for kn, vn in node.value if _same_key(kn, k)), None)
            if pair is None:
                break
            last = i == len(keys) - 1
            node = pair[0] if (key and last) else pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(k, int) and k < len(node.value):
            node = node.value[k]
        else:
            break
        found = node
    if found is None:
        return Span()
    start, end = found.start_mark, found.end_mark
    if end.line == start.line and end.column > start.column:
        return Span(start.line + 1, start.column + 1, end.line + 1, end.column + 1)
    return Span.point(start.line + 1, start.column + 1)


def _same_key(node, key) -> bool:
    """Whether a key as written (`yes`, `1`) is the key as loaded (True, 1)."""
    if not isinstance(node, yaml.ScalarNode):
        return False
    if node.value == str(key) and (node.style or isinstance(key, str)):
        return True
    try:
        loaded = yaml.safe_load(node.value) if node.style is None else node.value
    except yaml.YAMLError:
        return False
    return type(loaded) is type(key) and loaded == key


def _duplicate_keys(node, code: str, path: str) -> list[Diagnostic]:
    """PyYAML keeps the last of two equal keys without a word; a reader expects the first."""
    out = []
    if isinstance(node, yaml.MappingNode):
        seen: dict = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen:
                    out.append(Diagnostic(code, ERROR, f'key "{k.value}" is given twice',
                                          Span.point(k.start_mark.line + 1, k.start_mark.column + 1, len(k.value)),
                                          f"the first one is at line {seen[k.value]}; keep one", path))
                seen.setdefault(k.value, k.start_mark.line + 1)
            out += _duplicate_keys(v, code, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            out += _duplicate_keys(item, code, path)
    return out


def read_text_limited(path: str | Path) -> str:
    """A config-sized file's text; raises OSError/UnicodeDecodeError rather than read a huge one."""
    raw = Path(path).read_bytes()[: MAX_YAML_BYTES + 1]
    if len(raw) > MAX_YAML_BYTES:
        raise OSError(f"{path} is over 1 MB")
    return raw.decode("utf-8")
