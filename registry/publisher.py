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
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from sqlalchemy import select

from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.config import consumer_config, producer_config
from pipeline.settings import Settings
from registry.db.tables import OutboxRow
from registry.follow import Follower as Follower  # re-exported: readers of the topic
from registry.follow import registry_topic
from registry.service import RegistryService

log = logging.getLogger(__name__)
SEQ_HEADER = "outbox-seq"


def last_published(settings: Settings) -> int:
    """The outbox sequence number of the topic's last record (0: nothing published yet)."""
    consumer = Consumer(consumer_config(settings.kafka, settings.topics.reader_group))
    try:
        tp = TopicPartition(settings.topics.registry, 0)
        deadline = time.monotonic() + 30
        while True:
            try:
                low, high = consumer.get_watermark_offsets(tp, timeout=30)
                break
            except KafkaException as exc:
                # A topic just created may not be in this client's metadata yet, or have no leader yet.
                err = exc.args[0]
                settling = err.code() in (KafkaError._UNKNOWN_PARTITION, KafkaError.NOT_LEADER_FOR_PARTITION,
                                          KafkaError.LEADER_NOT_AVAILABLE) or err.retriable()
                if not settling or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
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
