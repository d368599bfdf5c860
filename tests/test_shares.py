"""replay/shares.py: a file of JSON lines cut into byte ranges, one per `simulate --jobs` process, gives every
line once, numbered as one reader numbers it, whatever the lines (blank, CRLF, long, no last line end) and
wherever the cuts fall; any other input is read whole by the first process."""
import gzip

from hypothesis import given, settings, strategies as st

from journeyctl.engine.replay import shares
from journeyctl.engine.replay.shares import byte_ranges, file_shares, input_shares
from journeyctl.engine.replay.sources import jsonl_lines

LINE = st.one_of(st.just(b""), st.just(b"  "), st.just(b"\r"), st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")),
                 st.integers(0, 300).map(lambda n: b"y" * n))


def whole(path) -> list:
    with open(path, "rb") as f:
        return list(jsonl_lines(f))


def shared(path, count: int) -> list:
    """Every share's items, numbered on from the lines of the shares before it (as parallel.py numbers them)."""
    items, before = [], 0
    for share in file_shares(str(path), count):
        lines = share()
        items += [(before + number, raw, item) for number, raw, item in lines]
        before += lines.lines
    return items


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(LINE, max_size=30), last_end=st.booleans(), count=st.integers(1, 5),
       chunk=st.sampled_from([1, 3, 7, 64, 1 << 22]))
def test_the_shares_of_a_file_are_its_lines_once_numbered_as_one_reader_numbers_them(tmp_path_factory, lines,
                                                                                      last_end, count, chunk):
    path = tmp_path_factory.mktemp("shares") / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if last_end and lines else b""))
    saved, shares.CHUNK = shares.CHUNK, chunk  # (small blocks: lines cut across them)
    try:
        assert shared(path, count) == whole(path)
    finally:
        shares.CHUNK = saved


def test_each_share_starts_on_a_line_of_its_own_and_a_long_line_leaves_a_share_empty(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"a\n" + b"z" * 1000 + b"\nb\nc\n")
    ranges = byte_ranges(str(path), 4)
    data = path.read_bytes()
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(hi == lo2 for (_, hi), (lo2, _) in zip(ranges, ranges[1:]))
    assert all(lo == 0 or data[lo - 1:lo] == b"\n" for lo, _ in ranges)
    assert any(lo == hi for lo, hi in ranges)  # (the cuts at 1/4 and 2/4 both fall in the long line)
    assert shared(path, 4) == whole(path)


def test_a_file_of_json_lines_is_cut_and_anything_else_is_read_whole_by_the_first(tmp_path):
    plain = tmp_path / "events.jsonl"
    plain.write_bytes(b'{"a": 1}\n' * 10)
    packed = tmp_path / "events.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    read = lambda: jsonl_lines(gzip.open(packed))  # noqa: E731

    cut = input_shares(str(plain), 2, read, lines=True)
    assert [len(list(share())) for share in cut] == [5, 5]
    for path, lines in ((packed, True), (plain, False)):  # compressed; or not to be read as it lies (--sort, CSV)
        first, second = input_shares(str(path), 2, read, lines=lines)
        assert len(list(first())) == 10 and list(second()) == []


@given(st.lists(st.binary(max_size=12), max_size=20))
def test_lines_swapped_between_processes_come_back_as_they_went_even_holding_line_ends(values):
    """(A CSV row's text may hold a line end in a quoted cell: the first process reads such input whole and
    hands the others their rows, engine/replay/parallel.py.)"""
    from journeyctl.engine.replay.parallel import _joined, _split
    assert _split(_joined(values)) == values or values == []
