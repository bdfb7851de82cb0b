"""The library an operator's platform uses to send its events to dsom."""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from pipeline.core.partitioning import home_partition
from pipeline.kafka.config import producer_config
from pipeline.settings import Settings
from schemas import EVENT_BATCH, default_codec

MAX_EVENTS_PER_BATCH = 10_000
_KEPT_ERRORS = 5


class DeliveryError(RuntimeError):
    """Kafka did not confirm some records; send them again (re-sending is always safe)."""


class SequenceCounter:
    """Numbers one source's events 1, 2, 3, ...: ``(source_id, seq)`` is the event's unique ID.

    A seq is never reused, not even for a corrected event. Persist :attr:`last` with the
    source's own data and pass it back after a restart.
    """

    def __init__(self, last: int = 0) -> None:
        if last < 0:
            raise ValueError("last must be >= 0")
        self.last = last

    def next(self) -> int:
        self.last += 1
        return self.last

    def take(self, n: int) -> range:
        """The next ``n`` seqs."""
        first = self.last + 1
        self.last += n
        return range(first, first + n)

    def number(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Give each event without a ``seq`` the next one; return them as a list."""
        out = list(events)
        for ev in out:
            if ev.get("seq") is None:
                ev["seq"] = self.next()
        return out


class OperatorProducer:
    """Sends ``EventBatch`` records to the operator's own ingest topic, keyed by source.

    The producer is idempotent (``enable.idempotence``): librdkafka's retries never duplicate
    or reorder a partition's records, and every record of a source goes to the source's home
    partition (``pipeline.core.partitioning``), where its dedup state is.
    :meth:`send` only queues; :meth:`flush` waits and reports failed deliveries.
    """

    def __init__(self, settings: Settings, operator_id: str, sandbox: bool = False,
                 **overrides: Any) -> None:
        self.operator_id = operator_id
        # The sandbox topic: validated and receipted, never counted in GGR or tax.
        self.topic = settings.topics.sandbox(operator_id) if sandbox else settings.topics.ingest(operator_id)
        self._partitions = settings.topics.home_partitions(self.topic)
        self._codec = default_codec()
        self.max_record_bytes = settings.validation.max_record_bytes
        # Room for the largest record the contract allows, its key and the framing; no more.
        overrides = {"message.max.bytes": self.max_record_bytes + 64 * 1024, **overrides}
        self._producer = Producer(producer_config(settings.kafka, **overrides))
        self._errors: list[str] = []  # the first few, for the message
        self.failed = 0
        self.delivered = 0
        self.records_sent = 0
        self.events_sent = 0

    def send(self, source_id: str, events: list[dict[str, Any]], sent_at_us: int | None = None) -> None:
        """Queue one batch of 1 to 10,000 events from one source (200-2,000 is best).

        A batch that encodes to more than the contract's record limit is sent as several
        records, in order (each gets its own ReceiptBatch); one event that alone exceeds it is
        refused with a ValueError.
        """
        if not 1 <= len(events) <= MAX_EVENTS_PER_BATCH:
            raise ValueError(f"a batch carries 1 to {MAX_EVENTS_PER_BATCH} events, not {len(events)}")
        value = self._codec.encode(EVENT_BATCH, {
            "operator_id": self.operator_id, "source_id": source_id,
            "sent_at_us": time.time_ns() // 1000 if sent_at_us is None else sent_at_us,
            "events": events,
        })
        if len(value) > self.max_record_bytes:
            if len(events) == 1:
                raise ValueError(f"event seq {events[0].get('seq')} alone encodes to {len(value)} bytes, "
                                 f"above the contract's {self.max_record_bytes}: shorten its text fields")
            half = len(events) // 2
            self.send(source_id, events[:half], sent_at_us)
            self.send(source_id, events[half:], sent_at_us)
            return
        self.send_raw(source_id.encode(), value)
        self.events_sent += len(events)

    def send_raw(self, key: bytes | str, value: bytes) -> None:
        """Queue an already encoded record (tools and tests); never waits for delivery."""
        raw_key = key.encode() if isinstance(key, str) else key
        while True:
            try:
                # The source's home, named explicitly: the same as the default partitioner's
                # choice, and still right if partitions are ever added to the topic.
                self._producer.produce(self.topic, key=raw_key, value=value, on_delivery=self._delivered,
                                       partition=home_partition(raw_key, self._partitions))
                break
            except BufferError:  # the local queue is full: serve delivery reports until it drains
                self._producer.poll(0.05)
        self._producer.poll(0)
        self.records_sent += 1

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery reports; return how many were served."""
        return int(self._producer.poll(timeout))

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every queued record is confirmed; raise :class:`DeliveryError` if some failed."""
        remaining = self._producer.flush(timeout)
        failed, errors = self.failed, self._errors
        self.failed, self._errors = 0, []
        if failed:
            raise DeliveryError(f"{failed} records to {self.topic} failed; first: {'; '.join(errors)}")
        if remaining:
            raise DeliveryError(f"{remaining} records to {self.topic} not confirmed within {timeout} s")

    def __enter__(self) -> OperatorProducer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.flush()

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        if len(self._errors) < _KEPT_ERRORS:
            self._errors.append(f"{err.str()} (partition {msg.partition()})")
