"""What the web UI's counters cost the engine (issue 18: under 5% of its throughput).

usage: python bench/ui_counters.py [BENCH_DIR] [N_EVENTS] [--rounds R]

The same events through the same engine twice per round, alternately: `on` with the counters the engine
keeps (engine/core/stats.py: totals, moves and ends per step, per-minute series, recent actions), `off`
with only the totals the engine kept before the UI (42fad68: entered, outcomes, actions, dead letters,
segments). Both runs parse in the loop, as bench/core.py does, so the share is of the engine's whole
work, and every 2,000 events both do what `run` does with its counters at each commit (--drain-every;
0 for a replay's once at the end). Throughput is per CPU second (process time), which another process on the machine moves less than
the wall clock. Two figures: the median of the rounds' costs (each round's two runs taken back to back, so
a machine that slows down for a while slows both), and the best run of each mode against each other.

Pure build only: the compiled engine's `stats` is declared a `Stats` (engine/core/engine.pxd), which it calls
in C, so the `off` stand-in cannot take its place there; the script says so and stops (exit 1).
"""
import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from journeyctl.dsl.project.loader import load_journeys
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import BadEvent, parse_event
from journeyctl.engine.core.stats import Stats
from journeyctl.engine.obs.build import build_name, compiled
from journeyctl.engine.replay.loop import tune_gc
from journeyctl.engine.store.memory import MemoryStore


class TotalsOnly:
    """The counters of 42fad68, with today's signatures: what the engine counted before the UI."""
    def __init__(self):
        self.events = self.unused = self.duplicates = self.parked = 0
        self.journeys: dict = defaultdict(Counter)
        self.actions: Counter = Counter()
        self.dead_letters: Counter = Counter()
        self.segments: dict = defaultdict(Counter)

    def entered(self, journey, now=None, held_out=False, version=None, start=None):
        self.journeys[journey]["entered"] += 1

    def blocked(self, journey):
        self.journeys[journey]["blocked"] += 1

    def moved(self, version, step, to):
        pass

    def ended(self, journey, reason, inst=None, now=None):
        self.journeys[journey][reason] += 1

    def action(self, journey, channel, status, now=None, action=None):
        self.actions[(journey, channel, status)] += 1

    def dead_letter(self, reason, at=None):
        self.dead_letters[reason] += 1

    def segment(self, segment, entered, now=None):
        self.segments[segment]["entered" if entered else "exited"] += 1

    def clock_set(self, t):
        pass  # (places dead letters counted before the clock in a minute: the totals have no minutes)

    def to_dict(self):
        return {"events": self.events, "unused": self.unused, "duplicates": self.duplicates,
                "journeys": {j: dict(c) for j, c in self.journeys.items()},
                "actions": [[*k, n] for k, n in self.actions.items()],
                "dead_letters": dict(self.dead_letters),
                "segments": {s: dict(c) for s, c in self.segments.items()}}


def commit(stats, drains: bool, clock) -> None:
    stats.to_dict()
    if drains:
        stats.drain_series(clock)
        stats.drain_recent()


def run(irs, lines, stats, drain_every: int = 0) -> tuple[float, dict]:
    """`drain_every`: what `run` does at each commit, every so many events: the batch's actions held until
    then (for the outbox), the counts as the meta value written with the state (to_dict), and with the UI's
    counters the series and recent actions handed over for the store (engine/store/counts.py record());
    0: once at the end, as a replay does."""
    engine = Engine(irs, store=MemoryStore())
    engine.stats = stats
    drains = isinstance(stats, Stats)
    batch: list = []  # the batch's actions, held until its commit as run's outbox holds them
    start = time.process_time()
    for n, line in enumerate(lines, 1):
        try:
            batch.extend(engine.process(parse_event(line)))
        except BadEvent:
            pass
        if drain_every and n % drain_every == 0:
            commit(stats, drains, engine.clock)
            batch = []
    engine.advance_to(engine.clock)
    commit(stats, drains, engine.clock)
    cpu = time.process_time() - start
    return len(lines) / cpu, {j: dict(c) for j, c in stats.journeys.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", nargs="?", default="bench/out/std", type=Path)
    parser.add_argument("events", nargs="?", default=300_000, type=int)
    parser.add_argument("--rounds", default=3, type=int)
    parser.add_argument("--drain-every", default=2_000, type=int,
                        help="events between drains, as run's commits (a poll of up to 2,000 records); 0: at the end")
    opts = parser.parse_args()
    if compiled():
        sys.exit("bench/ui_counters.py: measures the pure build only (the compiled engine takes no stand-in for its "
                 "Stats: engine/core/engine.pxd); run it without the compiled modules on the path")
    root, limit, rounds = opts.bench, opts.events, opts.rounds
    irs = load_journeys([root / "journeys"])
    with open(root / "events.jsonl", "rb") as f:
        lines = [line for _, line in zip(range(limit), f)]
    tune_gc()
    best = {"off": 0.0, "on": 0.0}
    costs = []
    for r in range(1, rounds + 1):
        rates = {}
        for mode, stats in (("off", TotalsOnly()), ("on", Stats())):
            rates[mode], totals = run(irs, lines, stats, opts.drain_every)
            best[mode] = max(best[mode], rates[mode])
            if mode == "off":
                expected = totals
            elif totals != expected:
                sys.exit("the two modes counted different totals: the comparison is void")
        costs.append(1 - rates["on"] / rates["off"])
        print(f"round {r}: off {rates['off']:,.0f} events/cpu-s, on {rates['on']:,.0f} events/cpu-s, "
              f"cost {1 - rates['on'] / rates['off']:.1%}")
    print(f"{len(lines):,} events, {len(irs)} journeys, build {build_name()}: best off {best['off']:,.0f}, "
          f"best on {best['on']:,.0f} events/cpu-s: the UI's counters cost {statistics.median(costs):.1%} "
          f"(median of the rounds), {1 - best['on'] / best['off']:.1%} (best against best); target < 5%")


if __name__ == "__main__":
    main()
