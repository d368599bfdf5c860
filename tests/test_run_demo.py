"""`journeyctl demo`: live by default (embedded broker, generated traffic, actions printed as they
happen), the offline replay with --offline."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOURNEYCTL = [sys.executable, "-c", "from journeyctl.engine.cli.main import main; main()"]


def test_live_demo_prints_actions_as_they_happen_and_stops_cleanly(tmp_path):
    done = subprocess.run([*JOURNEYCTL, "demo", "--duration", "8", "--rate", "10", "--seed", "3"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Live demo: 7 journeys" in done.stdout
    assert "✉ alex" in done.stdout
    assert "Hi Alex, check out the latest running shoes picked just for you." in done.stdout
    assert "What customers received" in done.stdout
    sends = [line for line in done.stdout.splitlines() if "  send  " in line and "-> cust-" in line]
    assert sends, done.stdout
    assert "Journeys" in done.stdout and "Actions" in done.stdout  # the summary at the end
    assert "stopped:" in done.stderr and "Traceback" not in done.stderr


def test_offline_demo_replays_the_examples(tmp_path):
    done = subprocess.run([*JOURNEYCTL, "demo", "--offline"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Checked" in done.stdout and "Timeline" in done.stdout
