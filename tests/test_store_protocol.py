"""Every state store implements the whole of the store Protocols (engine/core/store.py), so that no
caller has to ask a store whether it has a method: a capability a store lacks is answered by the
store (`shared`, `positions()`, `durable()` is None), never found out with hasattr or a class name."""
from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Protocol

import pytest

from journeyctl.engine.core.state import Customer
from journeyctl.engine.core.store import DurableStore, OutboxRow, Position, StateStore
from journeyctl.engine.replay.parallel import _Overlay
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent


def members(protocol) -> set[str]:
    """The names a Protocol asks for: its methods and its annotated attributes, of its bases too."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls in (Protocol, object) or cls.__module__ == "typing":
            continue
        names |= {n for n in vars(cls) if not n.startswith("_")}
        names |= set(vars(cls).get("__annotations__", {}))
    return names


def missing(store, protocol) -> list[str]:
    """What `store` lacks of `protocol`: a member not there, a method not callable, or one that does not
    take the parameters the Protocol names."""
    out = []
    for name in sorted(members(protocol)):
        want = inspect.getattr_static(protocol, name, None)
        if not hasattr(store, name):
            out.append(f"{name}: missing")
        elif callable(want):
            got = getattr(store, name)
            if not callable(got):
                out.append(f"{name}: not callable")
                continue
            try:
                have = inspect.signature(got).parameters
            except (TypeError, ValueError):  # a compiled method may not tell its signature
                continue
            wanted = [p for p in inspect.signature(want).parameters if p != "self"]
            if not all(p in have for p in wanted):
                out.append(f"{name}: takes {list(have)}, the Protocol {wanted}")
    return out


@pytest.fixture(params=["memory", "sqlite", "postgresql", "replay overlay"])
def store(request, tmp_path):
    kind = request.param
    if kind == "memory":
        opened = MemoryStore()
    elif kind == "sqlite":
        opened = SqliteStore(tmp_path / "state.db")
    elif kind == "postgresql":
        pg_url = request.getfixturevalue("pg_url")
        from journeyctl.engine.store.postgres import PgStore

        opened = PgStore(pg_url, schema=request.getfixturevalue("pg_state")[1])
    else:
        opened = _Overlay(MemoryStore())
    yield kind, opened
    opened.close()


def test_every_store_implements_the_whole_state_store_protocol(store):
    kind, s = store
    assert missing(s, StateStore) == []
    assert isinstance(s.shared, bool)
    assert s.shared == (kind == "postgresql")


def test_a_durable_store_implements_the_whole_durable_protocol_and_the_others_say_none(store):
    kind, s = store
    tables = s.durable()
    if kind in ("memory", "replay overlay"):
        assert tables is None
        return
    assert tables is s
    assert missing(tables, DurableStore) == []


def test_what_every_store_answers_alike(store):
    """The calls a command makes of any store, with what a store that keeps them answers and what one
    that keeps nothing answers."""
    kind, s = store
    s.put("c1", _customer())
    s.set_meta("clock:w1", 5)
    s.set_meta("clock", 7)
    s.set_meta("stats:w1", {"events": 1})
    s.commit()
    if kind == "replay overlay":  # meta is the parent's to write: a replay process sees none of its own
        assert s.meta_like("clock") == {}
    else:
        assert s.meta_like("clock") == {"clock:w1": 5, "clock": 7}
        assert s.meta_like("stats:") == {"stats:w1": {"events": 1}}
    assert s.positions() == {}
    tables = s.durable()
    if tables is not None:
        tables.save_positions({("events", 0): Position(10, 1_000, "abcd"), ("events", 1): (3, None, None)})
        tables.add_outbox([OutboxRow(tables.outbox_next_id(), "actions", b"c1", b"{}")])
        tables.commit()
        # a Position and the plain tuple it replaced are written alike and read back as the same value
        assert s.positions() == {("events", 0): (10, 1_000, "abcd"), ("events", 1): (3, None, None)}
        at = s.positions()[("events", 0)]
        assert (at.offset, at.clock, at.fingerprint) == (10, 1_000, "abcd")
        (row,) = tables.outbox()
        assert (row.topic, row.key, row.value) == ("actions", b"c1", b"{}") and tables.own_outbox_id(row.id)


def _customer() -> Customer:
    c = Customer()
    c.profile["plan"] = "pro"
    return c


# a store asked whether it has a method, or what class it is, rather than told through the Protocol
_FEATURE_TEST = re.compile(r"(hasattr|getattr)\((self\.)?(engine\.)?(store|_tables|tables)\b|type\((self\.)?(engine\.)?store\)")


def test_no_caller_tests_a_store_for_a_feature():
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for top in ("engine", "scripts") for path in sorted((ROOT / top).rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if _FEATURE_TEST.search(line)]
    assert found == []
