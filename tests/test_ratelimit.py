"""The per-channel pacer never lets more than the quota through in any window, even when the process
stalls: slots reserved ahead once woke together after a stall and put 12 attempts in a second at 10/s."""
import asyncio
import time

from journeyctl.engine.deliver.ratelimit import Pacer


def _attempt_times(per_second: float, n: int, stall_after: int, stall_s: float) -> list[float]:
    async def main():
        pacer = Pacer(per_second)
        times: list[float] = []

        async def one():
            await pacer.wait()
            times.append(time.monotonic())
            if len(times) == stall_after:
                time.sleep(stall_s)  # the whole event loop stalls, as on a busy machine

        await asyncio.gather(*(one() for _ in range(n)))
        return times

    return asyncio.run(main())


def _busiest(times: list[float], window: float) -> int:
    return max(sum(1 for x in times if start <= x < start + window) for start in times)


def test_a_stall_never_lets_a_burst_past_the_quota():
    times = _attempt_times(10, 30, stall_after=5, stall_s=0.35)
    assert len(times) == 30
    assert _busiest(times, 1.0) <= 10
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.1 - 0.005  # evenly spaced from when each really went out


def test_a_slow_rate_spaces_attempts_by_its_own_gap():
    times = _attempt_times(4, 6, stall_after=0, stall_s=0)
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.25 - 0.005
