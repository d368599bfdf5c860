"""The state-store interface, and the in-memory store behind it.

The engine asks a store for one customer's state at a time, hands it back after
each event, and asks for the customers with timers when it starts. Everything a
store must keep beyond that: a few named values (the clock, offsets) and the IR
of every journey version an instance may still be running on.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Protocol

from .state import Customer


class StateStore(Protocol):
    def get(self, customer_id: str) -> Customer | None: ...
    def prefetch(self, customer_ids: Iterable[str]) -> None: ...
    def put(self, customer_id: str, state: Customer) -> None: ...
    def customers(self) -> Iterator[tuple[str, Customer]]: ...
    def timers(self) -> Iterable[tuple[int, str]]: ...
    def get_meta(self, key: str): ...
    def set_meta(self, key: str, value) -> None: ...
    def save_version(self, version: str, ir: dict) -> None: ...
    def load_version(self, version: str) -> dict | None: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


class MemoryStore:
    """Keeps live objects: nothing is encoded, which makes it the fastest store for a replay."""

    def __init__(self):
        self._customers: dict[str, Customer] = {}
        self._meta: dict = {}
        self._versions: dict = {}

    def get(self, customer_id):
        return self._customers.get(customer_id)

    def prefetch(self, customer_ids):
        """Everything is in memory already."""

    def put(self, customer_id, state):
        self._customers[customer_id] = state

    def customers(self):
        return iter(self._customers.items())

    def timers(self):
        for cid, c in self._customers.items():
            due = c.next_due()
            if due is not None:
                yield due, cid

    def get_meta(self, key):
        return self._meta.get(key)

    def set_meta(self, key, value):
        self._meta[key] = value

    def save_version(self, version, ir):
        self._versions.setdefault(version, ir)

    def load_version(self, version):
        return self._versions.get(version)

    def commit(self):
        pass

    def close(self):
        pass
