"""Choosing a state store from one setting (`--state URL`, `state:` in the project config).

One string covers every deployment: nothing for a throwaway replay, a file for a
single node, a database server later. The plain words of the errors are what a
user sees when the setting is wrong.
"""
from __future__ import annotations

import os

from journeyctl.engine.store.counts import record
from journeyctl.engine.store.sqlite import SqliteStore
from journeyctl.engine.store.memory import MemoryStore

SUPPORTED = ("memory:", "sqlite:///relative/path.db", "sqlite:////absolute/path.db", "a path ending in .db",
             "postgresql://user@host:port/database")
_FILE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def open_store(url: str | os.PathLike | None, **options):
    """memory: (or None) -> MemoryStore; sqlite:///rel.db, sqlite:////abs.db or a *.db path -> SqliteStore;
    postgresql://... or postgres://... (libpq URL, plus ?schema=name) -> PgStore.
    `options` go to the store (cache_size; schema for PostgreSQL)."""
    if url is None:
        return MemoryStore()
    url = os.fspath(url)
    if url in ("memory:", "memory://", "memory"):
        return MemoryStore()
    if url.startswith("sqlite:"):
        if not url.startswith("sqlite:///"):
            raise ValueError(f"cannot read the state location {url!r}: a SQLite location is sqlite:/// followed "
                             "by a path (sqlite:///state.db for a relative path, sqlite:////var/lib/state.db "
                             "for an absolute one)")
        path = url[len("sqlite:///"):]
        if not path:
            raise ValueError(f"the state location {url!r} names no file: write sqlite:///state.db")
        return SqliteStore(path, **options)
    if url.startswith(("postgresql:", "postgres:")):
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"cannot read the state location {url!r}: a PostgreSQL location is "
                             "postgresql://user@host:port/database (add ?schema=name for a schema of its own)")
        from journeyctl.engine.store.postgres import PgStore  # psycopg is imported only by those who use it

        return PgStore(url, **options)
    if "://" not in url and url.lower().endswith(_FILE_SUFFIXES):
        return SqliteStore(url, **options)
    raise ValueError(f"cannot use {url!r} as the state location; supported: " + ", ".join(SUPPORTED))


def checkpoint(engine) -> None:
    """Make the engine's progress durable. The clock goes in with the customers because the engine
    restarts from it: a stale clock would let late events in, or fire timers at the wrong moment."""
    record(engine.store, engine)
    engine.store.set_meta("clock", engine.clock)
    engine.store.set_meta("stats", engine.stats.to_dict())
    engine.store.commit()
