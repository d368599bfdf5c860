"""The optional event catalog: which events exist and what their properties look like.

Without it, `purchse` is just an event that never arrives, and the journey waits
forever in silence. With it, the compiler can say so. The file maps each event
name to a JSON Schema of its properties object:

    events:
      cart_abandoned:
        properties:
          cart_value: {type: number}
          cart_url: {type: string}
      "Order Completed": {}          # known, properties not described

A property counts as unknown only when its schema lists `properties` and does
not allow others (`additionalProperties` absent or false): a catalog written
for validation, not for documentation only, should not cry wolf. Type checks
use the schema's `type`: a catalog-typed property compared with a value of
another type is J013 (J114 stays for mismatches visible without the catalog).
`segment_entered` and `segment_exited` come with the engine and are always known.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
from jsonschema.validators import validator_for

from ..diagnostics import ERROR, Diagnostic, Span, did_you_mean
from .yamlcheck import check_yaml, node_span

SEGMENT_EVENT = {"type": "object", "properties": {"segment": {"type": "string"}}, "required": ["segment"]}
BUILTIN_EVENTS = {"segment_entered": SEGMENT_EVENT, "segment_exited": SEGMENT_EVENT}

CATALOG_SCHEMA = {
    "type": "object",
    "required": ["events"],
    "additionalProperties": False,
    "x-hint": "the catalog is a mapping with one key, events",
    "properties": {
        "events": {
            "type": "object",
            "propertyNames": {"type": "string", "minLength": 1,
                              "x-hint": "quote event names that YAML would read as numbers or true/false"},
            "additionalProperties": {
                "type": ["object", "null"],
                "x-hint": "each event maps to a JSON Schema of its properties, e.g. {properties: {cart_value: {type: number}}}",
            },
            "x-hint": "map each event name to a JSON Schema of its properties",
        },
    },
}

JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
_KINDS = {"number": "number", "integer": "number", "string": "string", "boolean": "bool"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Catalog:
    """events: event name -> JSON Schema of its properties object; path: where it was read, for hints."""

    events: dict
    path: str | None = None
    _validators: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.events = {**BUILTIN_EVENTS, **{k: (v or {}) for k, v in self.events.items()}}

    # ---- what the compiler calls ---------------------------------------------------------

    def check_events(self, events_used, error) -> None:
        """J011 for each use of an event the catalog does not list. `error` is the compiler's reporter."""
        for name, span in events_used:
            if name in self.events:
                continue
            close = did_you_mean(name, self.events)
            error("J011", f'unknown event "{name}"', _name_span(name, span),
                  f'did you mean "{close}"?' if close else f"add it to the event catalog{self._where()}")

    def check_property(self, event, parts, span, compiler) -> None:
        """J012 for a property the event's schema rules out; silent when the schema cannot tell."""
        if event is None or event not in self.events:
            return
        found = _lookup(self.events[event], parts)
        if found[0] != "unknown":
            return
        _, known, depth = found
        name = ".".join(parts[: depth + 1])
        close = did_you_mean(parts[depth], known)
        if close:
            hint = f'did you mean "{".".join([*parts[:depth], close])}"?'
        else:
            hint = ("its properties: " + ", ".join(sorted(known))) if known else f"{event} has no properties"
        compiler.error("J012", f'{event} has no property "{name}"', span, hint)

    def property_kind(self, event, parts) -> str | None:
        """"number", "string", "bool" or "instant" (a text of format date-time or date) when the schema fixes the
        property's type; None when it does not."""
        if event is None or event not in self.events:
            return None
        found = _lookup(self.events[event], parts)
        return _kind_of(found[1]) if found[0] == "ok" else None

    # ---- what the engine calls -----------------------------------------------------------

    def validate_event(self, name: str, properties: dict) -> list[str]:
        """Plain-words problems of one incoming event against the catalog; empty when it conforms."""
        if name not in self.events:
            close = did_you_mean(name, self.events)
            return [f'unknown event "{name}"' + (f' (did you mean "{close}"?)' if close else "")]
        validator = self._validators.get(name)
        if validator is None:
            schema = {"type": "object", **self.events[name]}
            validator = self._validators[name] = validator_for(schema, default=jsonschema.Draft202012Validator)(schema)
        out = []
        for e in sorted(validator.iter_errors(properties), key=lambda e: [str(p) for p in e.absolute_path]):
            where = ".".join(str(p) for p in e.absolute_path)
            out.append(f"{where}: {e.message}" if where else e.message)
        return out

    def _where(self) -> str:
        return f" ({self.path})" if self.path else ""


def load_catalog(path: str | Path) -> tuple[Catalog | None, list[Diagnostic]]:
    """The catalog, or None with J010 diagnostics when it cannot be trusted: half a catalog would
    report real events as unknown."""
    data, root, diags = check_yaml(path, CATALOG_SCHEMA, "J010", "event catalog")
    events = data.get("events") if isinstance(data, dict) else None
    for name, schema in events.items() if isinstance(events, dict) else ():
        schema = schema or {}
        if not isinstance(schema, dict):
            continue  # already reported against CATALOG_SCHEMA
        cls = validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as e:
            where = list(e.path)
            if "type" in where[-2:]:
                message = f"the schema of {name} names the type {e.instance!r}, which JSON Schema does not have"
                hint = "types: " + ", ".join(JSON_TYPES)
            else:
                message = f"the schema of {name} is not a valid JSON Schema: {e.message}"
                hint = "see https://json-schema.org/understanding-json-schema/"
            diags.append(Diagnostic("J010", ERROR, message, node_span(root, ["events", name, *where]), hint,
                                    str(path)))
    if diags:
        return None, sorted(diags, key=lambda d: (d.span.line, d.span.column))
    return Catalog(events or {}, str(path)), []


def _lookup(schema, parts):
    """Follow `parts` through nested `properties`: ("ok", subschema), ("unknown", known names, index of
    the first unknown part), or ("open", None) when the schema does not say."""
    for i, part in enumerate(parts):
        if not isinstance(schema, dict):
            return ("open", None)
        props = schema.get("properties")
        if isinstance(props, dict) and part in props:
            schema = props[part]
            continue
        extra = schema.get("additionalProperties")
        if extra not in (None, False) or schema.get("patternProperties"):
            return ("open", None)
        if props is None and extra is None:
            return ("open", None)
        return ("unknown", list(props or ()), i)
    return ("ok", schema)


def _kind_of(schema) -> str | None:
    if not isinstance(schema, dict):
        return None
    types = schema.get("type")
    if isinstance(types, list):
        types = [t for t in types if t != "null"]
        types = types[0] if len(types) == 1 else None
    if types is None:
        values = schema.get("enum") or ([schema["const"]] if "const" in schema else None)
        if values and all(isinstance(v, str) for v in values):
            return "string"
        return None
    if types == "string" and schema.get("format") in ("date-time", "date"):
        return "instant"  # read as a time where one is needed (dsl/times.py)
    return _KINDS.get(types)


def _name_span(name: str, span: Span) -> Span:
    """Matchers carry the span of the whole `EVENT where ...`; point at the name alone."""
    width = len(name) if _IDENT.fullmatch(name) else len(name) + 2
    return Span.point(span.line, span.column, width)
