"""Shared simulated traffic and a fake confluent-kafka producer for the operator-side tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import KafkaError

from pipeline.operator.fleet import demo_registry
from pipeline.operator.simulator import Fleet, SimBatch
from pipeline.registry import Registry

NOW = 1_800_000_000_000_000  # 2027-01-15
REGISTRY: Registry = demo_registry(1)


@dataclass
class Sent:
    operator_id: str
    batch: SimBatch
    now_us: int


def run_fleet(seed: int = 5, batches: int = 600, **options: Any) -> tuple[Fleet, list[Sent]]:
    """``batches`` records from the demo fleet, one simulated second apart."""
    opts: dict[str, Any] = {"batch_size": 40, "bad_share": 0.05, "duplicate_share": 0.05} | options
    fleet = Fleet(REGISTRY, seed, **opts)
    sent = []
    for i in range(batches):
        now = NOW + i * 1_000_000
        op, batch = fleet.next_batch(now)
        sent.append(Sent(op, batch, now))
    return fleet, sent


@pytest.fixture(scope="session")
def traffic() -> tuple[Fleet, list[Sent]]:
    return run_fleet()


class FakeMessage:
    def __init__(self, topic: str, key: bytes, value: bytes, partition: int = 0) -> None:
        self._topic, self._key, self._value, self._partition = topic, key, value, partition

    def topic(self) -> str:
        return self._topic

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def partition(self) -> int:
        return self._partition


class FakeProducer:
    """Stands in for ``confluent_kafka.Producer``: queues, delivers on poll/flush, can fail."""

    instances: list[FakeProducer] = []

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.queued: list[tuple[FakeMessage, Any]] = []
        self.delivered: list[FakeMessage] = []
        self.buffer_full = 0  # produce raises BufferError this many times
        self.fail_next = 0  # this many deliveries fail
        self.stuck = 0  # flush leaves this many undelivered
        self.polls = 0
        FakeProducer.instances.append(self)

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery: Any, partition: int = 0) -> None:
        if self.buffer_full:
            self.buffer_full -= 1
            raise BufferError("Local: Queue full")
        self.queued.append((FakeMessage(topic, key, value, partition), on_delivery))

    def poll(self, timeout: float = 0) -> int:
        self.polls += 1
        served = 0
        while len(self.queued) > self.stuck:
            msg, callback = self.queued.pop(0)
            if self.fail_next:
                self.fail_next -= 1
                callback(KafkaError(KafkaError._MSG_TIMED_OUT), msg)
            else:
                self.delivered.append(msg)
                callback(None, msg)
            served += 1
        return served

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return len(self.queued)


@pytest.fixture
def fake_kafka(monkeypatch: pytest.MonkeyPatch) -> type[FakeProducer]:
    FakeProducer.instances = []
    monkeypatch.setattr("pipeline.operator.producer.Producer", FakeProducer)
    return FakeProducer
