"""Per-channel rate limits (`rate: 50/s`): attempts are spaced evenly, 1/rate apart, counted from
when each one really went out.

Even spacing rather than a bucket with a burst: a bucket of 50 tokens at 50/s lets 100
attempts into one second (a full bucket, then its refill), and the point is never to exceed
the provider's quota in any window. Slots reserved ahead of time are not enough either: a
process that stalls for 0.3 s (a busy machine, a long garbage collection) wakes three reserved
waiters at once, and the window after them then holds twelve attempts at 10/s. So waiters go
one at a time, in the order they asked, each at least one gap after the attempt before it went
out, and never past the quota of the last window (the window is a second, or one gap for rates
under one a second).
"""
from __future__ import annotations

import asyncio
import time
from collections import deque


class Pacer:
    def __init__(self, per_second: float):
        self.gap = 1.0 / per_second
        self.window = max(1.0, self.gap)
        self.quota = max(1, int(per_second * self.window + 1e-9))
        self._next = 0.0
        self._sent: deque = deque()
        self._turn = asyncio.Lock()

    async def wait(self) -> bool:
        """Wait for this attempt's turn; True when it had to wait (it was rate-limited)."""
        waited = False
        async with self._turn:
            sent = self._sent
            while True:
                now = time.monotonic()
                while sent and sent[0] <= now - self.window:
                    sent.popleft()
                at = self._next if len(sent) < self.quota else max(self._next, sent[0] + self.window)
                if at <= now:
                    break
                waited = True
                await asyncio.sleep(at - now)
            sent.append(now)
            self._next = now + self.gap
        return waited
