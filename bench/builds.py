"""The builds side by side (issue 19): the pure-Python reference against the compiled build, in one run.

usage: .venv/bin/python bench/builds.py [BENCH_DIR] [--events N] [--rounds R] [--only core,simulate,jobs,run]
       [--compiled DIR] [--plain]

BENCH_DIR defaults to bench/out/std (1M events, 20 journeys; ../shared/tools/make-bench-input).
The compiled build is made first into build/bench-compiled (scripts/build_fast.py, incremental), or
taken from --compiled; --plain adds a third build compiled without the .pxd declarations (what
issue 19 measured before: the unchanged modules). Then, round by round, every build in turn:

  core      bench/core.py: parse + process in process, lines read beforehand (events/s, wall and CPU). The
            digest of its actions is a run of its own per build, before the rounds and untimed: --md5 keeps
            every action until the end (628,000 of them), which a replay never does, and that memory slowed
            the timed run (compiled 12.3 s against 13.9-14.4 s on one machine), both builds by about as much
  simulate  `journeyctl simulate --format jsonl` end to end, reading the file, writing the actions to a
            file: its events/s as a share of the same build's core (issue 19's target: 0.8)
  jobs      `simulate --format jsonl --jobs 2` against `--jobs 1`, same build (target 1.7 on 2 cores)
  run       bench/run_throughput.py --skip latency (the embedded broker, SQLite state)

Every round's numbers are printed as they come, then a table of medians and ratios. The actions must be
the same bytes from every build and every job count (md5 of bench/core.py's actions, and of every
simulate output): the script exits 1 and says which differ otherwise. That check is the benchmark's
proof that both builds decide the same, at 1M events; the tests make the same comparison on a smaller
generated input (tests/test_builds.py).

The machine's load moves every number; the builds alternate within each round so that both see the
same conditions, and the CPU times say how much of a slow round was the machine.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOURNEYCTL = "import sys; sys.argv[0] = 'journeyctl'; from journeyctl.engine.cli.main import program; program()"
SECTIONS = ("core", "simulate", "jobs", "run")


def env_for(build: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if build:
        env["PYTHONPATH"] = build
    return env


def build_compiled(out: Path, plain: bool = False) -> str:
    args = [sys.executable, str(ROOT / "scripts" / "build_fast.py"), "--out", str(out)] + (["--no-pxd"] if plain else [])
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    print(done.stdout.strip() or done.stderr.strip())
    if done.returncode or not (out / "journeyctl").is_dir():
        sys.exit("bench/builds.py: no compiled build (see above)")
    return str(out)


def core(build, bench: Path, events: int | None, digest: bool = False) -> dict:
    args = [sys.executable, str(ROOT / "bench" / "core.py"), str(bench), *([str(events)] if events else []),
            *(["--md5"] if digest else [])]
    text = subprocess.run(args, cwd=ROOT, env=env_for(build), capture_output=True, text=True, check=True).stdout
    number = lambda pattern: float(re.search(pattern, text)[1].replace(",", ""))  # noqa: E731
    row = {"events/s": number(r"([\d,]+) events/s"), "events/cpu-s": number(r"([\d,]+) events/cpu-s"),
           "line": text.strip()}
    if digest:
        row["md5"] = re.search(r"actions md5 (\w+)", text)[1]
    return row


def simulate(build, bench: Path, events_file: Path, jobs: int, work: Path) -> dict:
    out = work / f"actions-{abs(hash((build, jobs)))}.jsonl"
    args = [sys.executable, "-c", JOURNEYCTL, "simulate", str(bench / "journeys"), "--events", str(events_file),
            "--format", "jsonl", "--jobs", str(jobs)]
    start = time.perf_counter()
    with open(out, "wb") as f:
        done = subprocess.run(args, cwd=ROOT, env=env_for(build), stdout=f, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"bench/builds.py: simulate failed: {done.stderr.decode()}")
    md5 = hashlib.md5(out.read_bytes()).hexdigest()
    lines = sum(1 for _ in open(events_file, "rb"))
    out.unlink()
    return {"events/s": lines / took, "seconds": took, "md5": md5}


def run_throughput(build, extra: list[str]) -> dict:
    args = [sys.executable, str(ROOT / "bench" / "run_throughput.py"), "--skip", "latency", *extra]
    text = subprocess.run(args, cwd=ROOT, env=env_for(build), capture_output=True, text=True).stdout
    found = re.search(r"= ([\d,]+) events/s", text)
    return {"events/s": float(found[1].replace(",", "")) if found else float("nan"), "line": text.strip()[-200:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", nargs="?", type=Path, default=ROOT / "bench" / "out" / "std")
    ap.add_argument("--events", type=int, help="only the first N events (default: all)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default=",".join(SECTIONS))
    ap.add_argument("--compiled", type=Path, help="a compiled tree made by scripts/build_fast.py --out")
    ap.add_argument("--plain", action="store_true", help="also a build compiled without the .pxd declarations")
    ap.add_argument("--run-args", default="", help="arguments for bench/run_throughput.py, space-separated")
    args = ap.parse_args()
    only = set(args.only.split(","))
    builds = {"pure": None, "compiled": str(args.compiled) if args.compiled else
              build_compiled(ROOT / "build" / "bench-compiled")}
    if args.plain:
        builds["plain"] = build_compiled(ROOT / "build" / "bench-plain", plain=True)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="journeyctl-builds-") as tmp:
        work = Path(tmp)
        events_file = args.bench / "events.jsonl"
        if args.events:
            events_file = work / "events.jsonl"
            with open(args.bench / "events.jsonl", "rb") as src, open(events_file, "wb") as dst:
                for _, line in zip(range(args.events), src):
                    dst.write(line)
        if "core" in only:  # the actions' digest, untimed (core's docstring above)
            for name, build in builds.items():
                c = core(build, args.bench, args.events, digest=True)
                results.setdefault(name, {})["digest"] = [c]
                print(f"digest   {name:8} core      {c['line']}", flush=True)
        for r in range(1, args.rounds + 1):
            for name, build in builds.items():
                row = results.setdefault(name, {})
                if "core" in only:
                    c = core(build, args.bench, args.events)
                    row.setdefault("core", []).append(c)
                    print(f"round {r} {name:8} core      {c['line']}", flush=True)
                if "simulate" in only or "jobs" in only:
                    s = simulate(build, args.bench, events_file, 1, work)
                    row.setdefault("simulate", []).append(s)
                    print(f"round {r} {name:8} simulate  {s['events/s']:,.0f} events/s ({s['seconds']:.2f} s) "
                          f"md5 {s['md5']}", flush=True)
                if "jobs" in only:
                    j = simulate(build, args.bench, events_file, 2, work)
                    row.setdefault("jobs2", []).append(j)
                    print(f"round {r} {name:8} --jobs 2 {j['events/s']:,.0f} events/s ({j['seconds']:.2f} s) "
                          f"md5 {j['md5']}", flush=True)
                if "run" in only:
                    t = run_throughput(build, args.run_args.split())
                    row.setdefault("run", []).append(t)
                    print(f"round {r} {name:8} run       {t['events/s']:,.0f} events/s  ({t['line'][-120:]})",
                          flush=True)
    return report(results)


def median(rows: list, key: str) -> float:
    return statistics.median(row[key] for row in rows)


def report(results: dict) -> int:
    pure = results["pure"]
    print("\nmedians (events/s) and ratios:")
    print(f"{'build':10} {'core':>10} {'core cpu':>10} {'x pure':>7} {'x (cpu)':>7} {'simulate':>10} {'/ core':>7} "
          f"{'--jobs 2':>10} {'/ jobs 1':>8} {'run':>10} {'x pure':>7}")
    for name, row in results.items():
        cells = [f"{name:10}"]
        if "core" in row:
            c, cpu = median(row["core"], "events/s"), median(row["core"], "events/cpu-s")
            cells += [f"{c:10,.0f}", f"{cpu:10,.0f}", f"{c / median(pure['core'], 'events/s'):7.2f}",
                      f"{cpu / median(pure['core'], 'events/cpu-s'):7.2f}"]
        else:
            cells += [" " * 10] * 2 + [" " * 7] * 2
        if "simulate" in row:
            s = median(row["simulate"], "events/s")
            cells += [f"{s:10,.0f}", f"{s / c:7.2f}" if "core" in row else " " * 7]
        else:
            cells += [" " * 10, " " * 7]
        if "jobs2" in row:
            j = median(row["jobs2"], "events/s")
            cells += [f"{j:10,.0f}", f"{j / s:8.2f}"]
        else:
            cells += [" " * 10, " " * 8]
        if "run" in row:
            t = median(row["run"], "events/s")
            cells += [f"{t:10,.0f}", f"{t / median(pure['run'], 'events/s'):7.2f}"]
        print(" ".join(cells))
    best = {name: max(r["events/s"] for r in row["jobs2"]) / max(r["events/s"] for r in row["simulate"])
            for name, row in results.items() if "jobs2" in row}
    if best:  # (a host busy with others' work only slows a run down: the best of each is the least disturbed)
        print("--jobs 2 / jobs 1, the best round of each: " + ", ".join(f"{n} {x:.2f}" for n, x in best.items()))
    digests = {(name, part, row["md5"]) for name, rows in results.items() for part in ("digest", "simulate", "jobs2")
               for row in rows.get(part, [])}
    core_md5 = {md5 for _, part, md5 in digests if part == "digest"}
    output_md5 = {md5 for _, part, md5 in digests if part != "digest"}
    if len(core_md5) > 1 or len(output_md5) > 1:
        print("\nDIFFERENT ACTIONS:")
        for name, part, md5 in sorted(digests):
            print(f"  {name:10} {part:9} {md5}")
        return 1
    print(f"\nsame actions from every build and job count: core md5 {next(iter(core_md5), '-')}, "
          f"simulate output md5 {next(iter(output_md5), '-')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
