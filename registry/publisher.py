"""Publishing: committed changes go from the outbox to the compacted ``<prefix>.registry`` topic, and back.

The outbox row is written in the transaction that made the change, so a change is published if
and only if it was committed. The publisher keeps no state of its own: each record carries its
outbox sequence number in a header, and on start the last record of the (single-partition,
idempotently produced, so gap-free and ordered) topic says where to resume. A crash between
producing and recording progress republishes a few entities' histories, which a reader takes as
the same state again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]
from sqlalchemy import select

from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.config import OUTPUT_TOPIC_MESSAGE_BYTES, client_config, consumer_config, producer_config
from pipeline.registry import Registry
from pipeline.settings import Settings
from registry.core.snapshot import registry_from_records
from registry.db.tables import OutboxRow
from registry.service import RegistryService

log = logging.getLogger(__name__)
SEQ_HEADER = "outbox-seq"
# Compacted: the newest history of each entity stays forever, superseded ones go after a minute.
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "min.compaction.lag.ms": "60000",
    "max.message.bytes": str(OUTPUT_TOPIC_MESSAGE_BYTES),
}


def registry_topic(settings: Settings) -> NewTopic:
    # One partition: every change in commit order, and one last record to resume from.
    return NewTopic(settings.topics.registry, 1, settings.topics.replication_factor, config=TOPIC_CONFIG)


def last_published(settings: Settings) -> int:
    """The outbox sequence number of the topic's last record (0: nothing published yet)."""
    consumer = Consumer(consumer_config(settings.kafka, settings.topics.reader_group))
    try:
        tp = TopicPartition(settings.topics.registry, 0)
        low, high = consumer.get_watermark_offsets(tp, timeout=30)
        if high <= low:
            return 0
        # read_committed: the high watermark may sit past a control record, so read from a
        # little before it to the end and keep the last data record.
        consumer.assign([TopicPartition(tp.topic, 0, max(low, high - 10))])
        last = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    return last
                raise KafkaException(err)
            last = max(last, _seq_of(msg.headers()))
            if (msg.offset() or 0) >= high - 1:
                return last
        raise TimeoutError(f"could not read the end of {tp.topic}")
    finally:
        consumer.close()


def _seq_of(headers: Any) -> int:
    for k, v in headers or []:
        if k == SEQ_HEADER and v is not None:
            return int(v)
    return 0


class Publisher:
    """Moves outbox rows to the topic, in order, as they are committed."""

    def __init__(self, settings: Settings, service: RegistryService) -> None:
        self._s = settings
        self._svc = service
        ensure_topics(settings, [registry_topic(settings)])
        self._producer = Producer(producer_config(settings.kafka, **{"linger.ms": 2}))
        self.position = last_published(settings)

    def publish_once(self, limit: int = 50_000) -> int:
        """Publish up to ``limit`` committed changes past the position; return how many."""
        with self._svc._read() as s:  # noqa: SLF001 - the outbox belongs to the service's database
            rows = s.execute(
                select(OutboxRow.seq, OutboxRow.key, OutboxRow.value)
                .where(OutboxRow.seq > self.position)
                .order_by(OutboxRow.seq)
                .limit(limit)
            ).all()
        if not rows:
            return 0
        failed: list[KafkaError] = []

        def delivered(err: KafkaError | None, _msg: object) -> None:
            if err is not None:
                failed.append(err)

        for seq, key, value in rows:
            while True:
                try:
                    self._producer.produce(
                        self._s.topics.registry,
                        value.encode(),
                        key.encode(),
                        headers=[(SEQ_HEADER, str(seq).encode())],
                        on_delivery=delivered,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)
        remaining = self._producer.flush(60)
        if failed or remaining:
            raise RuntimeError(f"registry publication failed: {failed[0] if failed else 'flush timed out'}")
        self.position = rows[-1][0]
        return len(rows)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.publish_once() == 0:
                stop.wait(self._s.registry.publish_interval_s)

    def close(self) -> None:
        self._producer.flush(30)


class Follower:
    """Follows the registry topic and gives the validator's ``Registry`` at any instant.

    What the validator and the sink will use instead of the file (docs/registry.md).
    """

    def __init__(self, settings: Settings, on_change: Callable[[], None] | None = None) -> None:
        self._latest: dict[bytes, bytes | None] = {}
        self._on_change = on_change
        self._consumer = Consumer(
            client_config(
                settings.kafka,
                **{
                    "group.id": settings.topics.reader_group,
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "fetch.wait.max.ms": 50,
                    "enable.partition.eof": True,
                },
            )
        )
        self._consumer.assign([TopicPartition(settings.topics.registry, 0, OFFSET_BEGINNING)])
        self.at_end = False

    def poll(self, timeout: float = 0.1) -> int:
        """Take what arrived; return the number of records applied."""
        n = 0
        for msg in self._consumer.consume(num_messages=10_000, timeout=timeout):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self.at_end = True
                    continue
                raise KafkaException(err)
            key = msg.key()
            if key is not None:
                self._latest[key] = msg.value()
                n += 1
        if n and self._on_change is not None:
            self._on_change()
        return n

    def registry(self, at_us: int | None = None) -> Registry:
        t = time.time_ns() // 1000 if at_us is None else at_us
        return registry_from_records(self._latest.items(), t)

    def close(self) -> None:
        self._consumer.close()
