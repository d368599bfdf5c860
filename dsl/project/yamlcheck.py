"""A project's YAML checked against a JSON Schema, every problem pointing at the line at fault.

The config and the event catalog are small hand-written files: "additional
properties are not allowed" at no position helps nobody. So each jsonschema
error is said again in the file's own words (unknown key, with "did you mean";
wrong type, in words like "a mapping (key: value lines)") at the line of the key
or value concerned, found in the composed YAML nodes.
"""
from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from ..diagnostics import ERROR, Diagnostic, Span, did_you_mean
from .yamlfile import YamlProblem, read_yaml


def check_yaml(path: str | Path, schema: dict, code: str, what: str):
    """(data, composed root node, diagnostics). data is None when the file cannot be used at all."""
    where = str(path)
    try:
        doc = read_yaml(path, what)
    except YamlProblem as e:
        span = Span.point(e.line, e.column) if e.line else Span()
        return None, None, [Diagnostic(code, ERROR, e.message, span, e.hint, where)]
    data = {} if doc.data is None else doc.data
    diags = _duplicate_keys(doc.root, code, where)
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        diags += _explain(error, doc.root, code, where)
    diags.sort(key=lambda d: (d.span.line, d.span.column))
    return data, doc.root, diags


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
            out.append(diagnostic_at(root, keys + [extra], path, code,
                           f'unknown key "{extra}"' + (f" in {name}" if name else ""),
                           f'did you mean "{close}"?' if close else ("keys: " + ", ".join(known) if known else hint),
                           key=True))
        return out
    if "propertyNames" in error.relative_schema_path:
        return [diagnostic_at(root, keys + [error.instance], path, code, f'"{error.instance}" is not a valid name here',
                    hint, key=True)]
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = " or ".join(_TYPE_WORDS.get(t, str(t)) for t in wanted)
        subject = f"`{name}`" if name else "the file"
        return [diagnostic_at(root, keys, path, code, f"{subject} must be {words}, not {_kind(error.instance)}", hint)]
    if error.validator == "required":
        missing = [r for r in error.validator_value if r not in error.instance]
        return [diagnostic_at(root, keys, path, code, f'"{m}" is missing' + (f" in {name}" if name else ""), hint)
                for m in missing]
    if error.validator in ("pattern", "minLength", "enum"):
        return [diagnostic_at(root, keys, path, code, f"`{name}` cannot be {error.instance!r}", hint)]
    return [diagnostic_at(root, keys, path, code, f"`{name}`: {error.message}" if name else error.message, hint)]


def diagnostic_at(root, keys: list, path: str, code: str, message: str, hint: str | None, key: bool = False) -> Diagnostic:
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
