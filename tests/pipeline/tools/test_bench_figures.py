import math

from pipeline.core.dedup import SeqSet
from pipeline.tools.bench_figures import changelog_bytes, deep_size, latency_summary, percentile


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_latency_summary_joins_sent_and_stored() -> None:
    sent = {("op", "s", 1): 1_000_000, ("op", "s", 2): 1_000_000, ("op", "s", 3): 2_000_000}
    stored = [(("op", "s", 1), 1_010_000), (("op", "s", 2), 1_030_000), (("op", "s", 3), 2_020_000),
              (("op", "s", 99), 5)]
    summary = latency_summary(sent, stored)
    assert summary["events"] == 3 and summary["unknown"] == 1
    assert summary["p50_ms"] == 20.0 and summary["max_ms"] == 30.0 and summary["min_ms"] == 10.0


def test_changelog_bytes_counts_the_latest_live_value_per_key() -> None:
    entries = [(b"t|0|seq|a", b"12345"), (b"t|0|seq|a", b"12"), (b"t|0|bets|7", b"xx"),
               (b"t|0|bets|7", None), (b"t|0|chain", b"c")]
    assert changelog_bytes(entries) == {"seq": len(b"t|0|seq|a") + 2, "chain": len(b"t|0|chain") + 1}


def test_deep_size_counts_shared_objects_once() -> None:
    q = SeqSet([1], [100])
    one = deep_size(q)
    assert one > deep_size([1]) > 0
    seen: set[int] = set()
    assert deep_size(q, seen) == one and deep_size(q, seen) == 0
