"""What a state store's failure means to the run loop: wait and try again, or stop and ask a person.

A driver error (sqlite3, psycopg) from any store call becomes a `StoreFault` in plain words:
`transient` ones (a lost connection, a lock, a server restarting) are retried with backoff,
like a broker away; the others (a full disk, tables gone, a damaged file) stop `run` with the
message and exit code 2, never a traceback. Either way nothing is lost: nothing of the
batch in hand was committed, and it is read again from the stored offsets.

The tables below are the whole policy: SQLite says what happened only in its message,
PostgreSQL in the SQLSTATE (the five-character code, or its two-character class).
"""
from __future__ import annotations

import sqlite3

# (words in SQLite's message, transient, what a person reads), first match wins
SQLITE = (
    ("database or disk is full", False, "the disk holding the state store is full; free space (or move the "
                                        "store) and start journeyctl again"),
    ("database is locked", True, "another process holds a lock on the state store"),
    ("database table is locked", True, "another process holds a lock on the state store"),
    ("no such table", False, "the state store's tables are gone (was the file replaced or emptied?)"),
    ("readonly database", False, "the state store cannot be written (the file or its folder is read-only)"),
    ("disk i/o error", False, "reading or writing the state store failed (disk I/O error)"),
    ("malformed", False, "the state store file is damaged"),
    ("not a database", False, "the state store file is not a database any more"),
    ("unable to open", False, "the state store file cannot be opened any more"),
)
SQLITE_OTHER = (False, "the state store failed")

# SQLSTATE, or its class (two characters) -> (transient, what a person reads)
POSTGRESQL = {
    "53100": (False, "the PostgreSQL server's disk is full; free space and start journeyctl again"),
    "42P01": (False, "the state store's tables are gone (was its schema renamed or dropped?)"),
    "3F000": (False, "the state store's schema is gone (renamed or dropped?)"),
    "42703": (False, "the state store's tables are not the ones journeyctl made (a column is missing)"),
    "25006": (True, "the database is read-only right now (a fail-over?)"),
    "55P03": (True, "a lock in the state store was not available"),
    "08": (True, "the connection to PostgreSQL was lost"),
    "40": (True, "PostgreSQL rolled the transaction back (a deadlock or a conflict)"),
    "53": (True, "the PostgreSQL server is short of resources (connections, memory)"),
    "57": (True, "the PostgreSQL server ended the connection (a restart, or an operator's pg_terminate_backend)"),
}
POSTGRESQL_LOST = (True, "the connection to PostgreSQL was lost")  # no SQLSTATE: the socket went away
POSTGRESQL_OTHER = (False, "the state store failed")


class StoreFault(Exception):
    """A state store failure in plain words; `transient`: waiting may cure it."""

    def __init__(self, message: str, transient: bool):
        super().__init__(message)
        self.transient = transient


def store_fault(exc: BaseException | None) -> StoreFault | None:
    """The StoreFault behind an exception (itself, or what it was raised from), or None when no store
    failed: then it is a bug of ours, or bad data no check foresaw."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, StoreFault):
            return exc
        found = _classify(exc)
        if found is not None:
            return found
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _classify(exc: BaseException) -> StoreFault | None:
    if isinstance(exc, sqlite3.Error):
        text = str(exc).lower()
        transient, what = next(((t, w) for words, t, w in SQLITE if words in text), SQLITE_OTHER)
        return StoreFault(f"{what} ({_first_line(exc)})", transient)
    if type(exc).__module__.split(".")[0] == "psycopg":  # psycopg is imported only by those who use it
        state = getattr(exc, "sqlstate", None)
        if state is None:
            transient, what = POSTGRESQL_LOST if type(exc).__name__ in ("OperationalError", "InterfaceError") \
                else POSTGRESQL_OTHER
        else:
            transient, what = POSTGRESQL.get(state) or POSTGRESQL.get(state[:2]) or POSTGRESQL_OTHER
        return StoreFault(f"{what} ({_first_line(exc)})", transient)
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
