"""The library an operator's platform uses to send its events to dsom."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from pipeline.kafka.config import producer_config
from pipeline.settings import Settings
from schemas import EVENT_BATCH, default_codec


class DeliveryError(RuntimeError):
    """Kafka did not confirm some records; they must be sent again (re-sending is always safe)."""


class OperatorProducer:
    """Sends ``EventBatch`` records to the operator's own ingest topic, keyed by source."""

    def __init__(self, settings: Settings, operator_id: str, sandbox: bool = False, **overrides: Any) -> None:
        self.operator_id = operator_id
        # The sandbox topic: validated and receipted, never counted in GGR or tax.
        self.topic = settings.topics.sandbox(operator_id) if sandbox else settings.topics.ingest(operator_id)
        self._codec = default_codec()
        self._producer = Producer(producer_config(settings.kafka, **overrides))
        self._errors: list[str] = []
        self.records_sent = 0

    def send(self, source_id: str, events: list[dict[str, Any]]) -> None:
        """Queue one batch of events from one source (1 to 10,000; 200-2,000 is best)."""
        value = self._codec.encode(EVENT_BATCH, {
            "operator_id": self.operator_id, "source_id": source_id,
            "sent_at_us": time.time_ns() // 1000, "events": events,
        })
        self.send_raw(source_id.encode(), value)

    def send_raw(self, key: bytes, value: bytes) -> None:
        """Queue an already encoded record (tests and tools)."""
        while True:
            try:
                self._producer.produce(self.topic, key=key, value=value, on_delivery=self._delivered)
                break
            except BufferError:  # the local queue is full: let librdkafka drain it
                self._producer.poll(0.05)
        self._producer.poll(0)
        self.records_sent += 1

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every queued record is confirmed; raise :class:`DeliveryError` if some failed."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DeliveryError(f"{remaining} records to {self.topic} not confirmed within {timeout} s")
        if self._errors:
            errors, self._errors = self._errors, []
            raise DeliveryError(f"{len(errors)} records to {self.topic} failed, first: {errors[0]}")

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(err.str())
