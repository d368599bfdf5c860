"""The engine's timer queue: (due, customer id) entries, taken out earliest first.

A binary heap did this until a replay of the standard benchmark showed each pop
costing 3.4 µs, a tenth of the whole replay: with 75,000 pending timers every
step down the heap is a cache miss. Here timers wait unsorted in buckets of one
minute, and only the front bucket is sorted, once, when its turn comes; the heap
left is one of bucket numbers, a few thousand small ints at most.
"""
from __future__ import annotations

import heapq
from bisect import insort

BUCKET_MS = 60_000
EMPTY = 1 << 62  # `head` when nothing is queued: later than every instant


class TimerQueue:
    """Entries come out in (due, customer id) order, the order a heap of those tuples gives, so a
    replay fires timers in the same order as before. Entries are not de-duplicated: the engine
    skips stale ones when they come out, as it did with the heap."""

    def __init__(self):
        self.head = EMPTY          # the earliest due queued, read on every event without a call
        self._front: list = []     # the earliest entries, sorted; taken from index _at on
        self._at = 0
        self._front_bucket = -1    # every entry queued after the front is in a later bucket than this
        self._buckets: dict = {}   # bucket number -> its entries, unsorted
        self._order: list = []     # heap of the bucket numbers in _buckets
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def push(self, due: int, cid: str) -> None:
        bucket = due // BUCKET_MS
        if not self._len:  # the front is never empty while anything is queued
            self._front, self._at, self._front_bucket = [(due, cid)], 0, bucket
        elif bucket <= self._front_bucket:
            insort(self._front, (due, cid), lo=self._at)
        else:
            entries = self._buckets.get(bucket)
            if entries is None:
                self._buckets[bucket] = [(due, cid)]
                heapq.heappush(self._order, bucket)
            else:
                entries.append((due, cid))
        self._len += 1
        if due < self.head:
            self.head = due

    def pop(self) -> tuple[int, str]:
        """The earliest entry; the caller checks `head` first (popping from an empty queue raises)."""
        entry = self._front[self._at]
        self._at += 1
        self._len -= 1
        if self._at == len(self._front):
            self._next_bucket()
        else:
            self.head = self._front[self._at][0]
        return entry

    def _next_bucket(self) -> None:
        if not self._order:
            self._front, self._at, self.head = [], 0, EMPTY
            return
        self._front_bucket = heapq.heappop(self._order)
        self._front = self._buckets.pop(self._front_bucket)
        self._front.sort()
        self._at = 0
        self.head = self._front[0][0]
