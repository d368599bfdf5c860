"""Which partition a customer belongs to: murmur2 of its id, as Kafka's default partitioner does.

One formula for everything that splits customers: `run` (which partition a customer's events land
on, and so which worker owns its timers), the producer's per-key partition cache, and
`simulate --jobs` (which process replays a customer). Pure, with no Kafka import, so the replay can
use it where no broker exists.
"""
from __future__ import annotations

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 as the Java client's `Utils.murmur2` computes it, as an unsigned 32-bit number."""
    return murmur2_of(data, 0, len(data))


def murmur2_of(data: bytes, start: int, stop: int) -> int:
    """murmur2(data[start:stop]) without the slice: `simulate --jobs` hashes each line's customer id where it
    lies in a block of lines (replay/glance.py), where a lookup of the new slice in a table of ids missed the
    processor's caches (a fifth of reading a share)."""
    if not 0 <= start <= stop <= len(data):
        raise ValueError(f"no bytes {start}:{stop} in {len(data)}")
    length = stop - start
    h = (_SEED ^ length) & _MASK
    end = start + (length & ~3)
    for i in range(start, end, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest == 3:
        h ^= data[end + 2] << 16
    if rest >= 2:
        h ^= data[end + 1] << 8
    if rest >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, count: int) -> int:
    """The partition the producers' default partitioner picks for a key among `count`: where a
    customer's events land when they are keyed by its id."""
    return partition_of(key, 0, len(key), count)


def partition_of(data: bytes, start: int, stop: int, count: int) -> int:
    """partition_for(data[start:stop], count), without the slice (murmur2_of)."""
    if count <= 1:
        return 0
    return (murmur2_of(data, start, stop) & 0x7FFFFFFF) % count


def customer_partition(customer_id: str, count: int) -> int:
    """partition_for of a customer id, keyed as the producers key it (UTF-8)."""
    return partition_for(customer_id.encode("utf-8", "surrogatepass"), count)
