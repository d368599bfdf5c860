"""Per-channel rate limits (`rate: 50/s`): attempts are spaced evenly, 1/rate apart.

Even spacing rather than a bucket with a burst: a bucket of 50 tokens at 50/s lets 100
attempts into one second (a full bucket, then its refill), and the point is never to exceed
the provider's quota in any window. Each waiter reserves its slot before sleeping, so waiters
go out in the order they asked.
"""
from __future__ import annotations

import asyncio
import time


class Pacer:
    def __init__(self, per_second: float):
        self.gap = 1.0 / per_second
        self._next = 0.0

    async def wait(self) -> bool:
        """Wait for this attempt's slot; True when it had to wait (it was rate-limited)."""
        now = time.monotonic()
        at = max(now, self._next)
        self._next = at + self.gap
        if at > now:
            await asyncio.sleep(at - now)
            return True
        return False
