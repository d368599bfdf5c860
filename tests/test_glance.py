"""replay/glance.py: a file's byte range read a block at a time finds, for every line, the time and process that
reading it line by line finds (events.scan_event, else a parse), whatever the lines: the usual shapes, identify
calls, lines of other shapes, bad ones, blank ones, CRLF, text that is not ASCII or not UTF-8, escapes, ids too
long, days that do not exist, lines too long to be events; and a process's own lines read again are its lines.
Each test runs both ways through a plain block, whatever the build: the regex's (the pure build's) and the byte
by byte scan's (the compiled build's: glance.COMPILED)."""
from array import array

import pytest
from hypothesis import given, settings, strategies as st

from journeyctl.engine.replay import glance, shares
from journeyctl.engine.replay.glance import BAD, NO_TIME, own_lines, read_share
from journeyctl.engine.replay.shares import Lines, file_shares
from journeyctl.engine.replay.sources import jsonl_lines

@pytest.fixture(params=["regex", "scan"], scope="module")
def way(request):
    """Both ways through a plain block (module scope: hypothesis runs its examples in one call of a test)."""
    saved = glance.COMPILED
    glance.COMPILED = request.param == "scan"
    yield request.param
    glance.COMPILED = saved


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
    if shape in ("event", "spaced", "identify") and draw(st.booleans()):  # a byte of the fields read another
        raw = mutated(draw, raw, raw.find(b'"', raw.find(b'"timestamp"') + 13) + 1)
    return raw + draw(st.sampled_from([b"", b"\r"]))


# bytes the usual shapes are made of, and a few they are not
SWAPS = [b'"', b"}", b"{", b"0", b"5", b"6", b"9", b":", b" ", b"Z", b"z", b"T", b"t", b"-", b".", b",", b"a", b"\t",
         b"\r", b""]


def mutated(draw, raw: bytes, within: int, start: int = 0) -> bytes:
    """One byte of raw[start:within] another, or none. (Past the fields a quick reading reads, a line broken
    there may be read as an event it is not: the process applying it finds out, replay/parallel.py.)"""
    at = draw(st.integers(min(start, len(raw) - 1), max(0, min(within, len(raw)) - 1)))
    return raw[:at] + draw(st.sampled_from(SWAPS)) + raw[at + 1:]


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
def test_a_byte_range_read_a_block_at_a_time_finds_what_a_reading_line_by_line_finds(way, tmp_path_factory, lines,
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
            batches = list(own_lines(share(), found.owners, k, 3))
            assert all(0 < len(b) <= 3 for b in batches)
            mine = [row for b in batches for row in b]
            assert [n for _, n, _, _ in mine] == [n for n, (_, owner) in places.items() if owner == k]
            assert all(raw == lines[n - 1].rstrip(b"\r") and place == n - 1 for place, n, raw, _ in mine)
    finally:
        shares.CHUNK, glance.MAX_LINE = saved


@st.composite
def usual_line(draw) -> bytes:
    """A line of a usual shape, plain, its bytes changed here and there: in its time, its fields, or anywhere."""
    cid = draw(st.text("ab1 é:,{}", min_size=1, max_size=4)).encode()
    second, milli = draw(st.integers(0, 61)), draw(st.integers(0, 999))
    ts = draw(st.sampled_from([b"2026-11-01T00:00:%02d.%03dZ" % (second, milli), b"2026-02-30t23:59:59.999z"]))
    raw = draw(st.sampled_from([b'{"event":"viewed","customer_id":"%s","timestamp":"%s","properties":{}}',
                                b'{"event": "a", "customer_id": "%s", "timestamp": "%s"}',
                                b'{"type":"identify","userId":"%s","timestamp":"%s","traits":{}}'])) % (cid, ts)
    fields = raw.find(b'"', raw.find(b'"timestamp"') + 13) + 1
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2]))):
        start, within = draw(st.sampled_from([(fields - 26, fields), (fields - 26, fields), (0, fields),
                                              (0, len(raw))]))
        raw = mutated(draw, raw, within, start)
    return raw.replace(b"\n", b"")


@settings(max_examples=600, deadline=None)
@given(lines=st.lists(st.one_of(usual_line(), usual_line(), line()), min_size=1, max_size=8), jobs=st.integers(1, 4),
       crlf=st.booleans(), last_end=st.booleans())
def test_the_compiled_builds_scan_of_a_block_reads_what_the_regex_reads(lines, jobs, crlf, last_end):
    """_scan_plain against _read_by_regex on one plain block of usual lines changed anywhere: the same times
    and processes, and the same lines left to be read one by one. (The test above holds both to the reading
    line by line, where a line is not broken past its fields.)"""
    end = b"\r\n" if crlf else b"\n"
    block = end.join(lines) + (end if last_end else b"")
    if not glance._plain(block):
        return
    by_regex = glance._read_by_regex(block, jobs, {b"": BAD}, {b"": NO_TIME})
    if by_regex is None:  # (a match ran on past a line end: the block is read line by line)
        return
    times, owners, odd = glance._scanned(block, jobs, {b"": NO_TIME})
    assert odd == by_regex[2] and len(times) == len(owners) == len(by_regex[0])
    read = [i for i in range(len(times)) if i not in odd]
    assert [(times[i], owners[i]) for i in read] == [(by_regex[0][i], by_regex[1][i]) for i in read]


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
    b'{"type":"identify","userId":"\t1","timestamp":"2026-11-01T00:00:00.604Z","traits":{}}',  # a raw tab: no JSON
    b'{"type":"identify","userId":"\r1","timestamp":"2026-11-01T00:00:00.604Z","traits":{}}',  # a raw CR: no JSON
    b'{"event":"a","customer_id":"c\r2","timestamp":"2026-11-01T00:00:01.000Z"}',               # nor here
    USUAL % (b"c1", b"2026-11-01T00:00:00.604Z") + b"\r\r",  # two CRs before the line end: a reader strips both
    # the usual shape but for a byte: each left to a parse
    b'{"event":"","customer_id":"c2","timestamp":"2026-11-01T00:00:01.000Z"}',
    b'{"event":"a","customer_id":"c2","timestamp":"2026-11-01T00:00:015000Z"}',
    b'{"event":"a","customer_id":"c2","timestamp":"2026+11-01T00:00:01.000Z"}',
    b'{"event":"a","customer_id":"c2","timestamp":"2026-11-01T00:00:01.000Z"\t}',
    b'{"event":\t"a","customer_id":"c2","timestamp":"2026-11-01T00:00:01.000Z"}',
    b'{"event":"a","customer_id":"","timestamp":"2026-11-01T00:00:01.000Z"}',
    b'{"event":"a","customer_id":"c2","timestamp":"2026-11-01T00:00:01.000Z"',
    b'{"event":"a","customer_id":"c2","timestamp":"2026-11-01T00:00:01.000Z}',
    b'{"event":"a","customer_id":"c2","timestamp":"2026-11-01T00:00:01.000Z""}',
])
def test_a_line_on_its_own_in_a_plain_block(way, tmp_path, one):
    """Each line the quick reading of a block must leave to a parse, or may read, among usual lines."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([USUAL % (b"c1", b"2026-11-01T00:00:00.604Z"), one, b""]))
    (share,) = file_shares(str(path), 1)
    found = read_share(share(), 3)
    assert _by_number(found, range(1, len(found.times) + 1)) == by_line(path, 3)


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_the_usual_lines_are_read_without_a_parse(way, tmp_path, monkeypatch, end):
    """(The point of it: a parse of the standard input's lines at a glance would cost what the replay saves.)"""
    path = tmp_path / "events.jsonl"
    path.write_bytes(end.join([b'{"event":"viewed","customer_id":"c1","timestamp":"2026-11-01T00:00:00.604Z"}',
                               b'{"type":"identify","userId":"c2","timestamp":"2026-11-01T00:00:01.000Z"}', b""]))
    monkeypatch.setattr(glance, "parsed", lambda raw: 1 / 0)
    monkeypatch.setattr(glance, "scan_event", lambda raw: 1 / 0)
    found = read_share(file_shares(str(path), 1)[0](), 2)
    assert found.times == array("q", [1793491200604, 1793491201000]) and found.bad == []
