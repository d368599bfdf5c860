"""NAME=VALUE options (send's --prop and --trait, preview's --var), read one way.

A value that reads as JSON (80, true, null, "80", [1,2]) is that value; anything else is
the text itself, so `--prop cart_value=80` is a number and `--var name=Ana` a text.
"""
from __future__ import annotations

from typing import Callable, Iterable

import orjson


def value_of(text: str):
    """JSON when it reads as JSON, else the text itself."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def name_values(items: Iterable[str], bad: Callable[[str], Exception]) -> dict:
    """{NAME: value} of NAME=VALUE items, the last of a name winning; an item with no name or no `=`
    raises bad(item), the command's own error in its own words."""
    out = {}
    for item in items:
        name, eq, text = item.partition("=")
        if not eq or not name:
            raise bad(item)
        out[name] = value_of(text)
    return out
