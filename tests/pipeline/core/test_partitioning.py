from collections import Counter

import pytest

from pipeline.core.partitioning import home_partition, murmur2


def signed(n: int) -> int:
    return n - (1 << 32) if n >= 1 << 31 else n


# Kafka's own vectors (clients/.../UtilsTest.java testMurmur2) and librdkafka's (rdmurmur2.c).
@pytest.mark.parametrize(("key", "expected"), [
    ("21", -973932308), ("foobar", -790332482), ("a-little-bit-long-string", -985981536),
    ("a-little-bit-longer-string", -1486304829),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971), ("abc", 479470107),
    ("kafka", -798503068), ("1", -1993445489), ("12", 126087238), ("123", -267702483),
    ("1234", -1614185708), ("12345", -1188365604),
])
def test_murmur2_matches_kafkas_java_client(key: str, expected: int) -> None:
    assert signed(murmur2(key.encode())) == expected


def test_home_partition_is_the_java_default_partitioners_choice() -> None:
    # Utils.toPositive(murmur2(key)) % partitions
    assert home_partition(b"21", 3) == (-973932308 & 0x7FFFFFFF) % 3
    assert all(home_partition(b"k%d" % i, 1) == 0 for i in range(100))


def test_sources_spread_over_partitions() -> None:
    spread = Counter(home_partition(f"op-a-src-{i}".encode(), 6) for i in range(6000))
    assert set(spread) == set(range(6)) and min(spread.values()) > 800
