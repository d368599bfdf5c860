"""Choosing a state store from one setting (`--state URL`, `state:` in the project config).

One string covers every deployment: nothing for a throwaway replay, a file for a
single node, a database server later. The plain words of the errors are what a
user sees when the setting is wrong.
"""
from __future__ import annotations

import os

from journeyctl.engine.store.counts import record
from journeyctl.engine.store.secrets import scrub, redact
from journeyctl.engine.store.sqlite import SchemaError, SqliteStore
from journeyctl.engine.store.memory import MemoryStore

SUPPORTED = ("memory:", "sqlite:///relative/path.db", "sqlite:////absolute/path.db", "a path ending in .db",
             "postgresql://user@host:port/database")
_FILE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


class StoreError(OSError):
    """The state store cannot be opened: missing, unreachable, not a journeyctl store, newer than this
    journeyctl. An OSError, since to every command it is an I/O error (exit 2); the message is plain
    words and never holds a password."""


def open_store(url: str | os.PathLike | None, *, read_only: bool = False, **options):
    """memory: (or None) -> MemoryStore; sqlite:///rel.db, sqlite:////abs.db or a *.db path -> SqliteStore;
    postgresql://... or postgres://... (libpq URL, plus ?schema=name) -> PgStore.
    `options` go to the store (cache_size; schema for PostgreSQL).

    read_only: for the commands that only look (status, inspect, segments): the store is never created
    nor changed (a file opened read-only, no schema made); one that is not there is a StoreError.
    ValueError for a location that cannot be read as one; StoreError for a store that cannot be opened."""
    if url is None:
        return MemoryStore()
    url = os.fspath(url)
    try:
        return _open(url, read_only, options)
    except (ValueError, StoreError):
        raise
    except SchemaError as e:  # (its words name the store already)
        raise StoreError(scrub(str(e), url)) from None
    except Exception as e:  # sqlite3, psycopg, a schema from a newer journeyctl, a folder we may not write
        raise StoreError(f"cannot open the state {redact(url)}: {scrub(_first_line(e), url)}") from None


def _open(url: str, read_only: bool, options: dict):
    shown = redact(url)
    if url in ("memory:", "memory://", "memory"):
        return MemoryStore()
    if url.startswith("sqlite:"):
        if not url.startswith("sqlite:///"):
            raise ValueError(f"cannot read the state location {shown!r}: a SQLite location is sqlite:/// followed "
                             "by a path (sqlite:///state.db for a relative path, sqlite:////var/lib/state.db "
                             "for an absolute one)")
        path = url[len("sqlite:///"):]
        if not path:
            raise ValueError(f"the state location {shown!r} names no file: write sqlite:///state.db")
        return _sqlite(path, read_only, options)
    if url.startswith(("postgresql:", "postgres:")):
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"cannot read the state location {shown!r}: a PostgreSQL location is "
                             "postgresql://user@host:port/database (add ?schema=name for a schema of its own)")
        from journeyctl.engine.store.postgres import PgStore  # psycopg is imported only by those who use it

        return PgStore(url, read_only=read_only, **options)
    if "://" not in url and url.lower().endswith(_FILE_SUFFIXES):
        return _sqlite(url, read_only, options)
    raise ValueError(f"cannot use {shown!r} as the state location; supported: " + ", ".join(SUPPORTED))


def _sqlite(path: str, read_only: bool, options: dict):
    if read_only and not os.path.isfile(path):
        raise StoreError(f"no state store at {path}: the file does not exist (a mistyped path, or no engine "
                         "has run with it yet)")
    return SqliteStore(path, read_only=read_only, **options)


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def checkpoint(engine) -> None:
    """Make the engine's progress durable. The clock goes in with the customers because the engine
    restarts from it: a stale clock would let late events in, or fire timers at the wrong moment."""
    record(engine.store, engine)
    engine.store.set_meta("clock", engine.clock)
    engine.store.set_meta("stats", engine.stats.to_dict())
    engine.store.commit()
