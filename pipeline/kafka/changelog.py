"""Read a compacted changelog partition from the start to its end (last stable offset)."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from pipeline.kafka.config import client_config
from pipeline.settings import KafkaSettings


def replay(kafka: KafkaSettings, topic: str, partition: int,
           apply: Callable[[bytes, bytes | None], None], timeout_s: float = 120.0) -> int:
    """Feed every committed (key, value) of one partition to ``apply``; return records read."""
    consumer = Consumer(client_config(kafka, **{
        "group.id": "dsom-changelog-replay",  # required by librdkafka; never committed
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "fetch.queue.backoff.ms": 10,
    }))
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        if high <= low:
            return 0
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        read = 0
        waited = 0.0
        while True:
            msgs = consumer.consume(num_messages=1000, timeout=0.5)
            if not msgs:
                waited += 0.5
                if waited > timeout_s:
                    raise TimeoutError(f"changelog {topic}[{partition}] did not reach its end")
                continue
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        return read
                    raise KafkaException(err)
                key = msg.key()
                if key is not None:
                    apply(key, msg.value())
                    read += 1
    finally:
        consumer.close()
