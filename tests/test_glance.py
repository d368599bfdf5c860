"""replay/glance.py: a file's byte range read a block at a time finds, for every line, the time and process that
reading it line by line finds (events.scan_event, else a parse), whatever the lines: the usual shapes, identify
calls, lines of other shapes, bad ones, blank ones, CRLF, text that is not ASCII or not UTF-8, escapes, ids too
long, days that do not exist, lines too long to be events; and a process's own lines read again are its lines."""
from array import array

import pytest
from hypothesis import given, settings, strategies as st

from journeyctl.engine.replay import glance, shares
from journeyctl.engine.replay.glance import BAD, NO_TIME, own_lines, read_share
from journeyctl.engine.replay.shares import Lines, file_shares
from journeyctl.engine.replay.sources import jsonl_lines

CUSTOMER = st.one_of(st.sampled_from(["c1", "c2", "c3", "ünï", "c\\u00e9", "x" * 513, "a b", "\x7f", "\u0085"]),
                     st.text(st.characters(codec="utf-8", exclude_characters='"\n\\'), min_size=1, max_size=6))
STAMP = st.sampled_from(["2026-11-01T00:00:00.604Z", "2026-11-01t23:59:59.999z", "2026-02-30T00:00:00.000Z",
                         "0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "2026-11-01T00:00:00Z",
                         "2026-11-01T00:00:60.000Z", "2026-11-01T00:00:00.000+01:00"])


@st.composite
def line(draw) -> bytes:
    cid, ts = draw(CUSTOMER), draw(STAMP)
    shape = draw(st.sampled_from(["event", "spaced", "identify", "reordered", "no_end",
                                  "blank", "spaces", "junk", "not_utf8", "other_name", "cut", "unclosed",
                                  "continued"]))
    text = {
        "event": f'{{"event":"viewed","customer_id":"{cid}","timestamp":"{ts}","message_id":"m","properties":{{}}}}',
        "spaced": f'{{"event": "viewed", "customer_id": "{cid}", "timestamp": "{ts}", "properties": {{"a": 1}}}}',
        "identify": f'{{"type":"identify","userId":"{cid}","timestamp":"{ts}","messageId":"m","traits":{{"a":1}}}}',
        "reordered": f'{{"timestamp":"{ts}","customer_id":"{cid}","event":"viewed"}}',
        "no_end": f'{{"event":"viewed","customer_id":"{cid}","timestamp":"{ts}"',
        "blank": "", "spaces": "  \t", "junk": "not json at all",
        "not_utf8": None, "other_name": f'{{"name":"viewed","user_id":"{cid}","ts":"{ts}"}}',
        "cut": f'{{"event":"viewed","customer_id":"{cid}","timestamp":"{ts}"}} x',
        # a quote left open, and a line that would close it: `[^"]` must not run on from one to the other
        "unclosed": '{"event":"vie', "continued": f'wed","customer_id":"{cid}","timestamp":"{ts}"}}',
    }[shape]
    raw = (b'{"event":"v","customer_id":"\xff","timestamp":"2026-11-01T00:00:00.000Z"}' if text is None
           else text.encode("utf-8", "surrogatepass"))
    return raw + draw(st.sampled_from([b"", b"\r"]))


def by_line(path, jobs: int) -> tuple:
    """The reading line by line: each line's (time, process) by its number, the bad lines' numbers, the count."""
    with open(path, "rb") as f:
        items = list(jsonl_lines(f))
    found = read_share(Lines(lambda: iter(items)), jobs)
    return _by_number(found, [number for number, _, _ in items])


def _by_number(found, numbers) -> tuple:
    places = dict(zip(numbers, zip(found.times, found.owners)))
    return places, sorted(line for _, line, _, _ in found.bad), found.last_line


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(line(), max_size=25), last_end=st.booleans(), jobs=st.integers(1, 4),
       chunk=st.sampled_from([1, 50, 300, 1 << 22]), longest=st.sampled_from([40, 1_000_000]))
def test_a_byte_range_read_a_block_at_a_time_finds_what_a_reading_line_by_line_finds(tmp_path_factory, lines,
                                                                                     last_end, jobs, chunk, longest):
    path = tmp_path_factory.mktemp("glance") / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if last_end and lines else b""))
    saved = shares.CHUNK, glance.MAX_LINE
    shares.CHUNK, glance.MAX_LINE = chunk, longest  # (small blocks, and blocks read line by line for a long one)
    try:
        (share,) = file_shares(str(path), 1)
        found = read_share(share(), jobs)
        expected = by_line(path, jobs)
        places, bad, last = expected
        assert _by_number(found, range(1, len(found.times) + 1)) == (
            {**{n: (NO_TIME, BAD) for n in range(1, len(found.times) + 1)}, **places}, bad, last)
        with open(path, "rb") as f:
            assert found.lines == len(found.times) == sum(1 for _ in f)
        for k in range(jobs):
            mine = list(own_lines(share(), found.owners, k))
            assert [n for _, n, _, _ in mine] == [n for n, (_, owner) in places.items() if owner == k]
            assert all(raw == lines[n - 1].rstrip(b"\r") and place == n - 1 for place, n, raw, _ in mine)
    finally:
        shares.CHUNK, glance.MAX_LINE = saved


USUAL = b'{"event":"viewed","customer_id":"%s","timestamp":"%s","message_id":"m","properties":{}}'


@pytest.mark.parametrize("one", [
    USUAL % (b"x" * 513, b"2026-11-01T00:00:00.604Z"),  # an id too long: bad_id
    USUAL % (b"c1", b"2026-02-30T00:00:00.000Z"),       # no such day: bad_time
    USUAL % (b"c1", b"2026-11-01T25:00:00.000Z"),       # no such hour
    USUAL % (b"c1", b"0000-01-01T00:00:00.000Z"),       # before any event's time
    USUAL % (b"c1", b"9999-12-31T23:59:59.999Z"),       # after it
    USUAL % ("ünï".encode(), b"2026-11-01T00:00:00.604Z"),
    USUAL % (b"c1", b"2026-11-01T00:00:00.604Z") + b"\r",  # a CRLF line end
    USUAL % (b"c1", b"2026-11-01T00:00:00.604Z") + b" ",   # a space after the object: left to a parse
    b'{"event":"vie\nwed","customer_id":"c2","timestamp":"2026-11-01T00:00:01.000Z"}',  # a quote left open
    b'{"type":"identify","userId":"c2","timestamp":"2026-11-01T00:00:01.000Z","traits":{}}',
])
def test_a_line_on_its_own_in_a_plain_block(tmp_path, one):
    """Each line the quick reading of a block must leave to a parse, or may read, among usual lines."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([USUAL % (b"c1", b"2026-11-01T00:00:00.604Z"), one, b""]))
    (share,) = file_shares(str(path), 1)
    found = read_share(share(), 3)
    assert _by_number(found, range(1, len(found.times) + 1)) == by_line(path, 3)


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_the_usual_lines_are_read_without_a_parse(tmp_path, monkeypatch, end):
    """(The point of it: a parse of the standard input's lines at a glance would cost what the replay saves.)"""
    path = tmp_path / "events.jsonl"
    path.write_bytes(end.join([b'{"event":"viewed","customer_id":"c1","timestamp":"2026-11-01T00:00:00.604Z"}',
                               b'{"type":"identify","userId":"c2","timestamp":"2026-11-01T00:00:01.000Z"}', b""]))
    monkeypatch.setattr(glance, "parsed", lambda raw: 1 / 0)
    monkeypatch.setattr(glance, "scan_event", lambda raw: 1 / 0)
    found = read_share(file_shares(str(path), 1)[0](), 2)
    assert found.times == array("q", [1793491200604, 1793491201000]) and found.bad == []
