"""The one partition formula (engine/core/partition.py) is Kafka's: the Java client's murmur2
vectors, and the same hash as kafka-python's (what the producers run) for any key."""
import random

from kafka.partitioner.default import murmur2 as kafka_murmur2

from journeyctl.engine.core.partition import customer_partition, murmur2, partition_for

# org.apache.kafka.common.utils.UtilsTest.testMurmur2: the Java client's signed results
JAVA = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, b"abc": 479470107}


def test_murmur2_is_the_java_clients():
    for data, signed in JAVA.items():
        assert murmur2(data) == signed & 0xFFFFFFFF, data


def test_the_hash_is_kafka_pythons_and_the_partition_its_default_partitioners():
    rng = random.Random(19)
    for _ in range(3_000):
        key = rng.randbytes(rng.randrange(0, 40))
        count = rng.randrange(1, 64)
        assert murmur2(key) == kafka_murmur2(key) & 0xFFFFFFFF, key
        # kafka.partitioner.default.DefaultPartitioner.partition: idx &= 0x7fffffff; idx %= len(partitions)
        assert partition_for(key, count) == (kafka_murmur2(key) & 0x7FFFFFFF) % count


def test_a_customer_is_keyed_by_its_utf8_id():
    assert customer_partition("c42", 7) == partition_for(b"c42", 7)
    assert customer_partition("kund-\u00e9", 5) == partition_for("kund-\u00e9".encode(), 5)
    assert {customer_partition(f"c{i}", 1) for i in range(50)} == {0}
