"""`simulate --jobs N` writes exactly what one process writes (issue 19): actions, dead letters, profile
records, the summary, a trace and a stored state, on the examples and on a generated stream with late
events, re-sent messages and unusable lines; through the real command line."""
import gzip
import json
import multiprocessing
import os
import resource
import sqlite3
import struct
import subprocess
import sys
from array import array
from functools import partial
from pathlib import Path

import pytest
from rich.console import Console

from generated_events import write_events
from journeyctl.engine.cli.startup import open_state, project_to_run
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import format_instant, parse_instant, scan_event
from journeyctl.engine.core.partition import customer_partition
from journeyctl.engine.replay import parallel, shares as shares_module
from journeyctl.engine.replay.glance import _LINE
from journeyctl.engine.replay.loop import replay
from journeyctl.engine.replay.output import action_line
from journeyctl.engine.replay.shares import Lines, file_shares, first_reads_all
from journeyctl.engine.replay.sources import read_events

ROOT = Path(__file__).resolve().parent.parent
JOURNEYCTL = [sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()"]
FALLBACK = "replaying in one process"


def simulate(*args, cwd=ROOT, files=None):
    """journeyctl simulate ARGS; with `files`, allowed that many open files (descriptors): a number, or the
    (soft, hard) limits."""
    soft, hard = files if isinstance(files, tuple) else (files, files)
    limit = None if files is None else (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)))
    done = subprocess.run([*JOURNEYCTL, "simulate", *map(str, args)], capture_output=True, cwd=cwd,
                          stdin=subprocess.DEVNULL, timeout=300, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "1000"},
                          preexec_fn=limit)
    assert done.returncode == 0, done.stderr.decode()
    return done


def outputs(tmp_path, events, jobs, *extra, fmt="jsonl", files=None):
    """Every file and stream one run writes, as bytes."""
    run = tmp_path / f"jobs{jobs}-{fmt}"
    run.mkdir()
    done = simulate(ROOT / "journeys", "--events", events, "--format", fmt, "--jobs", jobs,
                    "--dead-letter", run / "dead.jsonl", "--profiles", run / "profiles.jsonl", *extra, files=files)
    return {"stdout": done.stdout, "stderr": done.stderr.decode().replace(str(run), "RUN"), "dead": (run / "dead.jsonl").read_bytes(),
            "profiles": (run / "profiles.jsonl").read_bytes()}


def test_the_examples_give_the_same_output_with_any_number_of_jobs(tmp_path):
    one = outputs(tmp_path, ROOT / "examples" / "events.jsonl", 1)
    assert one["stdout"].count(b"\n") > 5 and one["dead"]
    for jobs in (2, 3):
        assert outputs(tmp_path, ROOT / "examples" / "events.jsonl", jobs) == one


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "events.jsonl"
    write_events(path, 4_000, resent_later=False)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "summary"])
def test_a_stream_with_late_resent_and_bad_lines_splits_exactly(tmp_path, stream, fmt):
    one = outputs(tmp_path, stream, 1, "--trace", "c7", fmt=fmt)
    assert "late" in one["stderr"] and "invalid_json" in one["stderr"] and one["profiles"]
    if fmt == "summary":
        assert b"duplicates ignored" in one["stdout"] and b" 0 duplicates" not in one["stdout"]
    for jobs in (2, 3):
        split = outputs(tmp_path, stream, jobs, "--trace", "c7", fmt=fmt)
        assert FALLBACK not in split["stderr"]
        assert split == one


def test_until_and_sort_split_exactly(tmp_path, stream):
    extra = ("--until", "2026-03-08T00:00:00Z", "--sort")
    one = outputs(tmp_path, stream, 1, *extra)
    assert "after --until" in one["stderr"]
    assert outputs(tmp_path, stream, 2, *extra) == one


def test_until_splits_exactly_with_the_lines_read_in_each_process(tmp_path, stream):
    """Without --sort each process reads a byte range of the input, and the ranges again for its own lines:
    each counts its own customers' events past --until, having parsed them."""
    one = outputs(tmp_path, stream, 1, "--until", "2026-03-05T00:00:00Z")
    assert "after --until" in one["stderr"]
    split = outputs(tmp_path, stream, 2, "--until", "2026-03-05T00:00:00Z")
    assert FALLBACK not in split["stderr"]
    assert split == one


def test_many_jobs_need_a_pipe_each_not_one_between_each_two(tmp_path, stream):
    """Twelve processes in 128 open files: a pipe from each to each took 264 descriptors (and --jobs 23
    failed under the common limit of 1,024)."""
    one = outputs(tmp_path, stream, 1)
    split = outputs(tmp_path, stream, 12, files=128)
    assert FALLBACK not in split["stderr"]
    assert split == one


def test_many_jobs_raise_a_low_soft_limit_of_open_files_toward_the_hard_one(tmp_path, stream):
    """Forty processes under a soft limit of 64 open files and a hard one of 1,024: simulate raises the soft
    limit, as a program that opens many files does, where it fell back to one process."""
    one = outputs(tmp_path, stream, 1)
    split = outputs(tmp_path, stream, 40, files=(64, 1024))
    assert FALLBACK not in split["stderr"]
    assert split == one


def test_jobs_the_system_cannot_start_fall_back_to_one_process(tmp_path, stream):
    """Refused its pipes (too many open files), simulate says so and replays in one process: the same
    output, where it stopped with exit code 2."""
    one = outputs(tmp_path, stream, 1)
    split = outputs(tmp_path, stream, 40, files=48)
    assert "40 replay processes could not be started (Too many open files); " + FALLBACK in split["stderr"]
    assert split["stdout"] == one["stdout"] and split["dead"] == one["dead"] and split["profiles"] == one["profiles"]


def test_a_message_resent_with_a_later_time_falls_back_to_one_process(tmp_path):
    path = tmp_path / "events.jsonl"
    write_events(path, 3_000, seed=5, resent_later=True)
    one = outputs(tmp_path, path, 1)
    split = outputs(tmp_path, path, 2)
    assert FALLBACK in split["stderr"]
    assert split["stdout"] == one["stdout"] and split["dead"] == one["dead"] and split["profiles"] == one["profiles"]


def test_a_stored_state_is_the_same_and_a_second_run_continues_from_it(tmp_path, stream):
    lines = stream.read_bytes().splitlines(keepends=True)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"".join(lines[:2_500]))
    second.write_bytes(b"".join(lines[2_500:]))
    states = {}
    for jobs in (1, 2):
        db = tmp_path / f"state{jobs}.db"
        out = b""
        for part in (first, second):
            done = simulate(ROOT / "journeys", "--events", part, "--format", "jsonl", "--jobs", jobs,
                            "--state", f"sqlite:///{db}")
            assert FALLBACK not in done.stderr.decode()
            out += done.stdout
        with sqlite3.connect(db) as conn:
            tables = {name: sorted(conn.execute(f"SELECT * FROM {name}").fetchall())
                      for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        meta = dict(tables.pop("meta"))
        stats = json.loads(meta.pop("stats"))  # the same counts; the order counters were first met in is not kept
        stats["actions"] = sorted(stats["actions"])
        states[jobs] = (out, tables, meta, stats)
    assert states[1][0].count(b"\n") > 100
    assert states[2] == states[1]


def test_bad_lines_before_any_time_are_counted_in_the_minute_one_process_counts_them(tmp_path, stream):
    """Under --state, the web UI's count of dead letters per minute: lines set aside before the clock had a
    time count in the minute of the first event applied after them. Here that event no journey reads (it
    counts nothing of its own), three hours before the first one that does; the bad lines' process is not
    the one that applies it."""
    lines = stream.read_bytes().splitlines()
    first = json.loads(lines[0])["timestamp"]
    early = parse_instant(first) - 3 * 3_600_000
    unread = [b'{"event":"zz_read_by_no_journey","customer_id":"%s","timestamp":"%s"}'
              % (c.encode(), format_instant(early + i).encode()) for i, c in enumerate(("c1", "c2", "c3", "c4"))]
    path = tmp_path / "early.jsonl"
    path.write_bytes(b"\n".join([b"not json", b"{}", *unread, *lines]) + b"\n")
    counts = {}
    for jobs in (1, 2):
        db = tmp_path / f"state{jobs}.db"
        done = simulate(ROOT / "journeys", "--events", path, "--format", "jsonl", "--jobs", jobs,
                        "--state", f"sqlite:///{db}")
        assert FALLBACK not in done.stderr.decode()
        with sqlite3.connect(db) as conn:
            counts[jobs] = sorted(conn.execute("SELECT * FROM counts WHERE series LIKE 'dead_letter:%'").fetchall())
    # (kept by the hour this far from the stream's end)
    assert sum(n for size, at, _, n in counts[1] if (size, at) == (60, early // 3_600_000)) == 2, counts[1][:3]
    assert counts[2] == counts[1]


def test_a_long_run_of_bad_lines_before_any_time_is_set_aside_in_one_pass(tmp_path, stream):
    """100,000 unusable lines and then the stream: each process finds the time its bad lines count at once
    for the share, where looking on from each bad line took hours (B x L steps)."""
    path = tmp_path / "bad-first.jsonl"
    path.write_bytes(b"not json\n" * 100_000 + stream.read_bytes())
    one = outputs(tmp_path, path, 1)
    assert one["dead"].count(b"\n") >= 100_000
    split = outputs(tmp_path, path, 2)
    assert FALLBACK not in split["stderr"]
    assert split == one


def test_csv_and_standard_input_split_exactly(tmp_path, stream):
    records = [r for r in map(json.loads, (line for line in stream.read_bytes().splitlines()
                                           if line.startswith(b'{"event"'))) if "properties" in r]
    csv = tmp_path / "events.csv"
    csv.write_text("customer_id,event,timestamp,cart_value,category,message_id\n" + "".join(
        f"{r['customer_id']},{r['event']},{r['timestamp']},{r['properties']['cart_value']},"
        f"{r['properties']['category']},{r.get('message_id', '')}\n" for r in records))
    one = simulate(ROOT / "journeys", "--events", csv, "--format", "jsonl")
    assert one.stdout.count(b"\n") > 100
    assert simulate(ROOT / "journeys", "--events", csv, "--format", "jsonl", "--jobs", 2).stdout == one.stdout
    packed = tmp_path / "events.jsonl.gz"  # (read whole by the first process, which hands the others their lines)
    packed.write_bytes(gzip.compress(stream.read_bytes()))
    one = outputs(tmp_path, stream, 1)
    assert outputs(tmp_path, packed, 2) == one
    piped = subprocess.run([*JOURNEYCTL, "simulate", str(ROOT / "journeys"), "--events", "-", "--format", "jsonl",
                            "--jobs", "2"], input=stream.read_bytes(), capture_output=True, cwd=ROOT, timeout=300)
    assert piped.returncode == 0, piped.stderr.decode()
    assert piped.stdout == simulate(ROOT / "journeys", "--events", stream, "--format", "jsonl").stdout


def _rewritten(record: dict, how: int) -> bytes:
    """A stream line in a shape a quick reading (events.scan_event) leaves to the parse, the event unchanged:
    the process whose share holds it parses it, and the one it belongs to parses it again."""
    if how == 0:  # the time as epoch milliseconds
        return json.dumps(dict(record, timestamp=parse_instant(record["timestamp"]))).encode()
    if how == 1:  # the customer id written with an escape
        return json.dumps(record).encode().replace(b'"customer_id": "c', b'"customer_id": "\\u0063', 1)
    if how == 2:  # the properties first: the quick reading stops at the first nested object
        return json.dumps({"properties": record.get("properties", {}), **record}).encode()
    return json.dumps(dict(record, timestamp=record["timestamp"].replace("Z", "+00:00"))).encode()  # an offset


def test_lines_of_other_shapes_are_parsed_where_they_are_read_and_split_exactly(tmp_path, stream):
    lines, changed = [], []
    for i, raw in enumerate(stream.read_bytes().splitlines()):
        record = json.loads(raw) if raw.startswith(b'{"event"') else None
        if record is not None and "customer_id" in record and i % 5 == 0:
            raw = _rewritten(record, i // 5 % 4)
            changed.append(raw)
        lines.append(raw)
    lines[100:100] = [b'{"event":"purchase","customer_id":"c1","timestamp":"2026-03-01T00:00:00.000Z","p":"\xe9"}',
                      b'{"event":"purchase","customer_id":"c1","timestamp":"2026-03-01T00:00:00.000Z","p":{"a":1']
    assert all(scan_event(raw) is None for raw in changed + lines[100:102]) and len(changed) > 600
    path = tmp_path / "shapes.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    one = outputs(tmp_path, path, 1)
    assert one["dead"].count(b'"invalid_json"') >= 2
    split = outputs(tmp_path, path, 2)
    assert FALLBACK not in split["stderr"]
    assert split == one


def _customer(same: bool) -> str:
    """A customer id that --jobs 2 gives to c1's process (same) or to the other."""
    return next(c for c in (f"c{i}" for i in range(2, 100))
                if (customer_partition(c, 2) == customer_partition("c1", 2)) == same)


@pytest.mark.parametrize("misread", [
    # a key given twice: the quick reading keeps the first customer, the parse the last, of the other process
    b'{"event":"purchase","customer_id":"c1","timestamp":"%s","properties":{},"customer_id":"' +
    _customer(same=False).encode() + b'"}',
    # a line cut after a nested object: the quick reading sees an event, the parse no JSON
    b'{"event":"purchase","customer_id":"c1","timestamp":"%s","properties":{"cart_value":20}',
    # an identify call naming its customer_id after its userId: the quick reading takes the userId, the parse not
    b'{"type":"identify","userId":"c1","timestamp":"%s","customer_id":"' + _customer(same=False).encode() + b'"}',
    # an identify call whose traits are no object: the quick reading sees an event, the parse a bad line
    b'{"type":"identify","userId":"c1","timestamp":"%s","traits":"vip"}',
])
def test_a_line_read_wrongly_at_a_glance_falls_back_to_one_process(tmp_path, stream, misread):
    lines = stream.read_bytes().splitlines()
    at = next(i for i in range(2_000, len(lines)) if lines[i].startswith(b'{"event"'))
    line = misread % json.loads(lines[at])["timestamp"].encode()
    assert _LINE.match(line)[1]  # (read at a glance a block at a time, replay/glance.py, and one by one)
    assert scan_event(line) is not None or line.startswith(b'{"type":"identify"')
    lines.insert(at + 1, line)
    path = tmp_path / "misread.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    one = outputs(tmp_path, path, 1)
    split = outputs(tmp_path, path, 2)
    assert f"line {at + 2} is not the event a quick reading of it found" in split["stderr"]
    assert FALLBACK in split["stderr"]
    assert split["stdout"] == one["stdout"] and split["dead"] == one["dead"] and split["profiles"] == one["profiles"]


def test_a_line_read_as_another_customer_of_the_same_process_splits_exactly(tmp_path, stream):
    """What a split needs of a quick reading is the line's time and process, not its customer: a key given
    twice whose two customers share a process is applied by that process, at the clock the model gave it."""
    lines = stream.read_bytes().splitlines()
    at = next(i for i in range(2_000, len(lines)) if lines[i].startswith(b'{"event"'))
    other = _customer(same=True)
    lines.insert(at + 1, b'{"event":"cart_abandoned","customer_id":"c1","timestamp":"%s","properties":{"cart_value"'
                 b':80},"customer_id":"%s"}' % (json.loads(lines[at])["timestamp"].encode(), other.encode()))
    path = tmp_path / "twice.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    one = outputs(tmp_path, path, 1)
    assert b'"customer_id":"%s"' % other.encode() in one["stdout"]
    split = outputs(tmp_path, path, 2)
    assert FALLBACK not in split["stderr"]
    assert split == one


@pytest.mark.parametrize("shares", [file_shares, lambda path, count: first_reads_all(
    lambda: read_events(path, parse=False), count)], ids=["byte ranges", "first reads all"])
def test_the_progress_is_the_input_line_the_first_process_reached(stream, monkeypatch, shares):
    """What the parent shows on a terminal (on_progress): the line of the input the first process's replay
    reached, as it rises, up to the last, however the input was shared out."""
    monkeypatch.setattr(parallel, "PROGRESS_EVERY", 100)  # (the processes are forked: they see it)
    monkeypatch.setattr(parallel, "BATCH", 4)  # (reported after a batch of a process's own lines)
    project, irs, segments = project_to_run([str(ROOT / "journeys")], str(ROOT / "journeyctl.yaml"),
                                            Console(stderr=True))

    def make_engine(store):
        return Engine(irs, segments, store=store, channels=project.contacts, lateness=5_000,
                      default_timezone=project.options.default_timezone, dedup_window=project.dedup_window)

    seen: list[int] = []
    result = parallel.replay_split(make_engine(open_state("memory:")), make_engine, lambda: open_state("memory:"),
                                   shares(str(stream), 2), None, jsonl=True,
                                   stored=False, on_progress=seen.append)
    last = max(number for number, _, _ in read_events(str(stream), parse=False))
    assert len(seen) > last // 100 - 5 and seen == sorted(seen) and seen[-1] == last
    assert result.events > 3_000


def test_a_replay_process_that_fails_says_why_and_none_is_left_waiting(stream):
    """The second process's input breaks after 2,000 lines while the first waits for what it found: the
    parent reports the second's error (not the first's wait ended), and no replay process outlives the call."""
    project, irs, segments = project_to_run([str(ROOT / "journeys")], str(ROOT / "journeyctl.yaml"),
                                            Console(stderr=True))

    def make_engine(store):
        return Engine(irs, segments, store=store, channels=project.contacts, lateness=5_000,
                      default_timezone=project.options.default_timezone, dedup_window=project.dedup_window)

    def breaking():
        for n, item in enumerate(read_events(str(stream), parse=False)):
            if n == 2_000:
                raise ValueError("the input broke off")
            yield item

    shares = [partial(Lines, tuple), partial(Lines, breaking), partial(Lines, tuple)]
    with pytest.raises(parallel.ReplayFailed, match="the input broke off") as failed:
        parallel.replay_split(make_engine(open_state("memory:")), make_engine, lambda: open_state("memory:"),
                              shares, None, jsonl=True, stored=False)
    assert "EOFError" not in str(failed.value)
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("journeyctl-replay")]


def test_a_replay_process_that_ends_partway_through_its_actions_is_a_failed_process():
    """The parent reads a part, then its blocks of JSON lines (parallel._send): a process that ends in the middle
    of one (killed, out of memory) is a replay process that failed, not a problem with the input's file (an
    OSError, which simulate said as one, with the words of the pipe)."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    part = parallel._Part(array("q", [1]), ["c1"], 1, [], {}, 0, [], [], [], 1, 0, set(), None, None, None)
    sending.send(part)
    os.write(sending.fileno(), struct.pack("!i", 100) + b'{"action_id":')  # (100 bytes said, 13 sent)
    sending.close()
    with pytest.raises(parallel.ReplayFailed, match="ended without a word"):
        parallel._collect([receiving], None)


def test_a_replay_process_whose_formatting_fails_after_its_part_has_gone_says_why(stream, monkeypatch):
    """A process formats its JSON lines a block at a time as it sends them, after its part (parallel._Blocks):
    should formatting fail there (a bug of ours), the traceback goes in the next block's place, and the parent
    says it as a failed replay process, not as one that ended without a word or as bad JSON."""
    project, irs, segments = project_to_run([str(ROOT / "journeys")], str(ROOT / "journeyctl.yaml"),
                                            Console(stderr=True))
    calls = []

    def breaking(action):
        calls.append(1)
        if len(calls) > parallel.CHUNK:  # (the first block has gone)
            raise RuntimeError("formatting broke")
        return action_line(action)

    def make_engine(store):
        return Engine(irs, segments, store=store, channels=project.contacts, lateness=5_000,
                      default_timezone=project.options.default_timezone, dedup_window=project.dedup_window)

    monkeypatch.setattr(parallel, "action_line", breaking)  # (the processes are forked: they see it)
    with pytest.raises(parallel.ReplayFailed, match="RuntimeError: formatting broke") as failed:
        parallel.replay_split(make_engine(open_state("memory:")), make_engine, lambda: open_state("memory:"),
                              file_shares(str(stream), 2), None, jsonl=True, stored=False)
    assert "in breaking" in str(failed.value) and "without a word" not in str(failed.value)
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("journeyctl-replay")]


def test_shares_read_in_many_blocks_split_exactly(stream, monkeypatch):
    """Blocks of 4 KB (replay/shares.py CHUNK): every share in many, lines cut across them, and blank, CRLF and
    bad lines among them; the replay split in three is the one-process replay."""
    monkeypatch.setattr(shares_module, "CHUNK", 4096)  # (the processes are forked: they see it)
    lines = stream.read_bytes().splitlines()[:3_000]
    lines[10:10] = [b"", b"   ", b"not json"]
    lines = [line + b"\r" if i % 7 == 0 else line for i, line in enumerate(lines)]
    path = stream.parent / "blocks.jsonl"
    path.write_bytes(b"\n".join(lines))  # (no last line end)
    project, irs, segments = project_to_run([str(ROOT / "journeys")], str(ROOT / "journeyctl.yaml"),
                                            Console(stderr=True))

    def make_engine(store):
        return Engine(irs, segments, store=store, channels=project.contacts, lateness=5_000,
                      default_timezone=project.options.default_timezone, dedup_window=project.dedup_window)

    one = replay(make_engine(open_state("memory:")), read_events(str(path)), spec_form=False)
    split = parallel.replay_split(make_engine(open_state("memory:")), make_engine, lambda: open_state("memory:"),
                                  file_shares(str(path), 3), None, jsonl=True, stored=False)
    assert split.actions == [action_line(a) for a in one.actions] and len(split.actions) > 500
    assert [(d.line, d.reason, d.raw) for d in split.dead_letters] == [
        (d.line, d.reason, d.raw) for d in one.dead_letters] and split.dead_letters
    assert split.events == one.events


@pytest.mark.parametrize("room", [0.75, 0.05])
def test_without_room_in_the_temporary_folder_jobs_do_what_they_still_can(tmp_path, stream, room):
    """Where files may not grow large (a limit a file; the disk full, as the system says it): without room to
    decompress a gzip file of JSON lines (room 0.75 of it), simulate says so and the first process reads it as
    it is; without room for the lines it then hands the other (0.05), it replays in one process. The same
    output either way, where a process failed with a traceback."""
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(stream.read_bytes()))
    expect = simulate(ROOT / "journeys", "--events", stream, "--format", "jsonl").stdout
    size = int(stream.stat().st_size * room)

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    done = subprocess.run([*JOURNEYCTL, "simulate", str(ROOT / "journeys"), "--events", str(path), "--format",
                           "jsonl", "--jobs", "2"], capture_output=True, cwd=ROOT, timeout=300, preexec_fn=small_files,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "1000"})
    said = done.stderr.decode()
    assert done.returncode == 0, said
    assert (f"journeyctl simulate: no room to decompress {path} for --jobs (File too large); the first process "
            "reads it") in said
    assert ("for what the replay processes swap (File too large); " + FALLBACK in said) == (room < 0.5), said
    assert done.stdout == expect


def _cut_short(data: bytes) -> bytes:
    return data[:len(data) // 2]


def _flipped(data: bytes) -> bytes:
    return data[:12] + bytes([data[12] ^ 0xFF]) + data[13:]


@pytest.mark.parametrize("name", ["events.jsonl.gz", "events.csv.gz"])
@pytest.mark.parametrize("harm, words", [
    (_cut_short, "the compressed file is cut short (it ends before its end-of-stream marker)"),
    (_flipped, "the compressed data is damaged (Error -3 while decompressing data: invalid code lengths set)"),
    (lambda data: b"hello\n", "not a gzip file, or a damaged one (Not a gzipped file (b'he'))"),
], ids=["cut short", "damaged", "not gzip"])
def test_a_damaged_gzip_file_is_said_in_words_with_any_number_of_jobs(tmp_path, stream, name, harm, words):
    """gzip's and zlib's errors, which gave a traceback (zlib.error) or "Aborted!" with exit code 1 (click took
    gzip's EOFError for Ctrl-D), are a message naming the file and exit code 2, whichever process reads it."""
    whole = gzip.compress(stream.read_bytes() if name.endswith("jsonl.gz") else b"event,customer_id,timestamp\n"
                          + b"purchase,c1,2026-03-01T00:00:00Z\n" * 20_000)
    path = tmp_path / name
    path.write_bytes(harm(whole))
    for jobs in (1, 2):
        done = subprocess.run([*JOURNEYCTL, "simulate", str(ROOT / "journeys"), "--events", str(path), "--format",
                               "jsonl", "--jobs", str(jobs)], capture_output=True, cwd=ROOT, timeout=300,
                              env={**os.environ, "NO_COLOR": "1", "COLUMNS": "1000"})
        assert done.returncode == 2, done.stderr.decode()
        assert done.stderr.decode().strip() == f"journeyctl simulate: {path}: {words}", done.stderr.decode()
