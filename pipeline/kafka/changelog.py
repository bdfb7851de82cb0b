"""Replay compacted changelog partitions from their start to their end (last stable offset)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, TopicPartition

from pipeline.kafka.config import client_config
from pipeline.kafka.reader import read_to_end
from pipeline.settings import KafkaSettings

# Longer than a transaction may stay open: a dead producer's is aborted after its
# transaction.timeout.ms (30 s for the agents) plus the coordinator's check interval (10 s).
SETTLE_TIMEOUT_S = 90.0


def replay(kafka: KafkaSettings, topic: str, partitions: Sequence[int],
           apply: Callable[[bytes, bytes | None], None], *, group: str,
           settle_timeout_s: float = SETTLE_TIMEOUT_S) -> int:
    """Feed every committed (key, value) of ``partitions`` of ``topic`` to ``apply``; return records read.

    Everything written to the partitions before the call is replayed once its transaction has
    ended: a read_committed reader stops at the last stable offset, and the commit markers of a
    transaction that was just committed (by the previous owner of the state, on a rebalance) land
    after ``commit_transaction`` returned. Reading to the first end would then miss the previous
    owner's last entries (found by the chaos run: a restored hash chain started again at link 1).
    So the replay first waits until the stable offset has passed the high watermark seen now.
    All the partitions are settled and read by the same clients at once: a restore needs several
    (one per changelog partition its input partitions map to), and each client costs a TLS
    handshake and a metadata round trip, seconds on a loaded machine.
    """
    tps = [TopicPartition(topic, p) for p in sorted(set(partitions))]
    if not tps:
        return 0
    settle(kafka, tps, group=group, timeout_s=settle_timeout_s)
    read = 0
    for msg in read_to_end(kafka, tps, group=group):
        key = msg.key()
        if key is not None:
            apply(key, msg.value())
            read += 1
    return read


def settle(kafka: KafkaSettings, tps: Sequence[TopicPartition], *, group: str, timeout_s: float) -> None:
    """Wait until every transaction holding records of ``tps`` written before now has ended."""
    def consumer(isolation: str) -> Consumer:
        return Consumer(client_config(kafka, **{"group.id": group, "enable.auto.commit": False,
                                                "isolation.level": isolation}))

    # A read_committed client's watermark query answers the last stable offset, a
    # read_uncommitted one's the high watermark.
    uncommitted, committed = consumer("read_uncommitted"), consumer("read_committed")
    try:
        highs = {(tp.topic, tp.partition): uncommitted.get_watermark_offsets(tp, timeout=30, cached=False)[1]
                 for tp in tps}
        deadline = time.monotonic() + timeout_s
        for tp in tps:
            high = highs[(tp.topic, tp.partition)]
            while True:
                _, stable = committed.get_watermark_offsets(tp, timeout=30, cached=False)
                if stable >= high:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{tp.topic}[{tp.partition}]: a transaction stayed open for "
                                       f"{timeout_s:.0f} s (stable offset {stable}, high watermark {high})")
                time.sleep(0.05)
    finally:
        uncommitted.close()
        committed.close()
