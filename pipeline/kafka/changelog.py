"""Replay a compacted changelog partition from its start to its end (last stable offset)."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import TopicPartition

from pipeline.kafka.reader import read_to_end
from pipeline.settings import KafkaSettings


def replay(kafka: KafkaSettings, topic: str, partition: int,
           apply: Callable[[bytes, bytes | None], None], *, group: str) -> int:
    """Feed every committed (key, value) of one partition to ``apply``; return records read."""
    read = 0
    for msg in read_to_end(kafka, [TopicPartition(topic, partition)], group=group):
        key = msg.key()
        if key is not None:
            apply(key, msg.value())
            read += 1
    return read
