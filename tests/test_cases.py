"""Conformance cases (tests/cases/ and the official ../shared/spec/cases/) run through `journeyctl simulate`.

A case folder holds journeys/*.journey, events.jsonl, expected.jsonl and `until`. The comparison is the
same as /work/shared/tools/check-cases: a multiset over (journey, customer_id, channel, template, due_at,
status), plus, for each expected line that lists `variables`, some produced action with the same key whose
variables contain those names with those values. Order is not judged.
"""
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from journeyctl.engine.cli.simulate import simulate

HERE = Path(__file__).resolve().parent
CASE_ROOTS = [HERE / "cases", Path(__file__).resolve().parents[2] / "shared/spec/cases"]
CASES = sorted(d for root in CASE_ROOTS if root.is_dir() for d in root.iterdir() if (d / "expected.jsonl").is_file())


def _instant(text):
    t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    assert t.tzinfo is not None, f"due_at without a time zone: {text!r}"
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _key(a):
    return (a.get("journey"), a.get("customer_id"), a.get("channel"), a.get("template"),
            _instant(a.get("due_at")), a.get("status", "send"))


def _jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("case", CASES, ids=[f"{d.parent.parent.name}/{d.name}" for d in CASES])
def test_case(case, monkeypatch):
    monkeypatch.chdir(case)  # like check-cases: no project config from the caller's folder applies
    until = (case / "until").read_text().strip()
    result = CliRunner().invoke(simulate, ["journeys", "--events", "events.jsonl", "--until", until,
                                           "--format", "jsonl"])
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    got = _jsonl(result.stdout)
    expected = _jsonl((case / "expected.jsonl").read_text())

    got_keys, want_keys = Counter(map(_key, got)), Counter(map(_key, expected))
    missing = sorted((want_keys - got_keys).elements(), key=str)
    unexpected = sorted((got_keys - want_keys).elements(), key=str)
    assert not missing and not unexpected, f"missing: {missing}\nunexpected: {unexpected}"

    for a in expected:
        if "variables" in a:
            matches = [g.get("variables", {}) for g in got if _key(g) == _key(a)]
            assert any(all(v.get(n) == val for n, val in a["variables"].items()) for v in matches), \
                f"variables differ for {_key(a)}: want {a['variables']}, got {matches}"
