"""What the UI's tests and its screenshots show: a store filled by a real `simulate --state` run over
hours of the demo's traffic (engine/live/traffic.py, seeded, so the pictures are the same each time),
and Debian's Chromium driven by Playwright.

Chromium is the system's (/usr/bin/chromium, from `apt-get install chromium`; scripts/ensure-chromium
installs it for `make test`): `playwright install` is never run, nothing is downloaded.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson

from journeyctl.engine.core.events import parse_instant
from journeyctl.engine.live.traffic import Traffic

ROOT = Path(__file__).resolve().parents[2]
LIVE_JOURNEYS = ROOT / "examples" / "live"
START = "2026-03-02T08:00:00Z"
CHROMIUM = os.environ.get("JOURNEYCTL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def journeys(folder: Path) -> Path:
    """The demo's journeys (examples/live) and a segment its traffic moves (window_shoppers)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in LIVE_JOURNEYS.glob("*.journey"):
        shutil.copy(f, folder / f.name)
    shutil.copy(ROOT / "journeys" / "window_shoppers.journey", folder / "window_shoppers.journey")
    return folder


def simulate_into(state_url: str, workdir: Path, hours: float = 3.0) -> Path:
    """A real `journeyctl simulate --state` over `hours` of traffic; returns the journeys folder. Its
    actions, as jsonl, are in workdir/actions.jsonl."""
    folder = journeys(workdir / "journeys")
    events = workdir / "events.jsonl"
    write_events(events, hours=hours)
    with open(workdir / "actions.jsonl", "wb") as out:
        subprocess.run([sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()", "simulate",
                        str(folder), "--events", str(events), "--state", state_url, "--format", "jsonl",
                        "--config", str(ROOT / "journeyctl.yaml")],
                       check=True, stdout=out, cwd=workdir)
    return folder


def write_events(path: Path, hours: float = 3.0, rate: float = 1.0, seed: int = 7, start: str = START) -> int:
    """The demo's traffic over `hours` from `start`, as JSONL; returns how many events."""
    traffic = Traffic(rate=rate, customers=600, seed=seed)
    t0 = parse_instant(start)
    n = 0
    with open(path, "wb") as f:
        for now in range(t0, t0 + int(hours * 3_600_000), 500):
            for ev in traffic.due(now):
                f.write(orjson.dumps(ev) + b"\n")
                n += 1
    return n


def launch_browser(playwright):
    """Headless Debian Chromium; a plain error when it is not installed."""
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"no Chromium at {CHROMIUM}: run scripts/ensure-chromium (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
