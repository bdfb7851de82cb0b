"""Read whole topics (committed records only) from the start to their current end."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import stamina
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from pipeline.kafka.config import client_config, retriable
from pipeline.settings import KafkaSettings


def committed_reader(kafka: KafkaSettings, group: str, **overrides: Any) -> Consumer:
    """A consumer that reads committed records of the partitions it is assigned, and says where they end."""
    return Consumer(client_config(kafka, **{
        "group.id": group,  # never joined or committed, but the principal needs READ on it
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "fetch.queue.backoff.ms": 10,
        **overrides,
    }))


# A partition's leadership moving (a broker restarted, or a replica caught up and took it back):
# the read asks again instead of stopping. Seen in the chaos run: the archive check's first
# watermark query after a broker restart answered NOT_LEADER_FOR_PARTITION.
_LEADERSHIP_MOVING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                      KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._TRANSPORT, KafkaError.REQUEST_TIMED_OUT,
                      KafkaError._TIMED_OUT, KafkaError.NOT_ENOUGH_REPLICAS}


def transient(exc: Exception) -> bool:
    """Whether a Kafka error is one a repeat of the same request can get past."""
    return retriable(exc, _LEADERSHIP_MOVING)


def _watermarks(consumer: Consumer, tp: TopicPartition) -> tuple[int, int]:
    for attempt in stamina.retry_context(on=transient, attempts=10, timeout=60.0, wait_max=5.0):
        with attempt:
            low, high = consumer.get_watermark_offsets(tp, timeout=30)
    return low, high


def topic_partitions(kafka: KafkaSettings, pattern: str, *, group: str) -> list[TopicPartition]:
    """Every partition of the topics whose names match ``pattern`` (a regular expression)."""
    consumer = committed_reader(kafka, group)
    try:
        return matching_partitions(consumer, pattern)
    finally:
        consumer.close()


def matching_partitions(client: Consumer, pattern: str) -> list[TopicPartition]:
    """Every partition of the topics matching ``pattern``, from ``client``'s metadata."""
    meta = client.list_topics(timeout=30)
    return [TopicPartition(name, p) for name, t in sorted(meta.topics.items())
            if re.fullmatch(pattern, name) for p in sorted(t.partitions)]


def read_to_end(kafka: KafkaSettings, tps: list[TopicPartition], *, group: str,
                idle_timeout_s: float = 60.0) -> Iterator[Message]:
    """Yield every committed record of ``tps`` in partition order, ending at each partition's end."""
    consumer = committed_reader(kafka, group)
    try:
        pending = set()
        for tp in tps:
            low, high = _watermarks(consumer, tp)
            if high > low:
                pending.add((tp.topic, tp.partition))
        if not pending:
            return
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in pending])
        idle = 0.0
        while pending:
            msgs = consumer.consume(num_messages=1000, timeout=0.5)
            idle = idle + 0.5 if not msgs else 0.0
            if idle > idle_timeout_s:
                raise TimeoutError(f"no progress reading {sorted(pending)}")
            for msg in msgs:
                err = msg.error()
                if err is None:
                    yield msg
                elif err.code() == KafkaError._PARTITION_EOF:
                    pending.discard((msg.topic(), msg.partition()))
                elif err.code() in _LEADERSHIP_MOVING or err.retriable():
                    continue  # librdkafka fetches the partition again from its new leader
                else:
                    raise KafkaException(err)
    finally:
        consumer.close()
