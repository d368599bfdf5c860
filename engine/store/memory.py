"""The in-memory state store: live objects, nothing encoded, gone when the process ends."""
from __future__ import annotations

from journeyctl.engine.core.state import Customer


class MemoryStore:
    """Keeps live objects: nothing is encoded, which makes it the fastest store for a replay.
    One process's only: never shared, and nothing to commit with the state (durable() is None)."""

    shared = False

    def __init__(self):
        self._customers: dict[str, Customer] = {}
        self._meta: dict = {}
        self._versions: dict = {}

    def get(self, customer_id):
        return self._customers.get(customer_id)

    def resident(self):
        return self._customers

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

    def meta_like(self, prefix):
        return {k: v for k, v in self._meta.items() if k.startswith(prefix)}

    def positions(self):
        """No topic is read into a store that keeps nothing (`run` keeps them in its outbox)."""
        return {}

    def durable(self):
        return None

    def save_version(self, version, ir):
        self._versions.setdefault(version, ir)

    def load_version(self, version):
        return self._versions.get(version)

    def commit(self):
        pass

    def close(self):
        pass
