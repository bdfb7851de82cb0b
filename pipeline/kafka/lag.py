"""How far a consumer group is behind on a set of topics (for progress output and draining)."""

from __future__ import annotations

import time

import stamina
from confluent_kafka import Consumer, IsolationLevel, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.kafka.config import client_config, retriable
from pipeline.kafka.offsets import end_offsets
from pipeline.kafka.reader import matching_partitions
from pipeline.settings import KafkaSettings, Settings


class LagMonitor:
    """Measures consumer groups' lag again and again over long-lived clients.

    A fresh client per measurement costs the broker TLS handshakes every time (two
    connections each, bootstrap and broker), which with mTLS is real CPU on a small machine.
    With a thousand operators a group reads thousands of partitions, and what a measurement
    asks is kept to three requests per broker: the partitions come from a metadata answer
    listing every topic, reused for ``partitions_max_age_s`` (0: asked every time, as tools that
    create topics and then wait for them need); the committed offsets in one request to the
    group's coordinator; the high watermarks in one ``ListOffsets`` per broker. Asked partition
    by partition, the watermarks of the validator's 4,000 partitions cost the brokers 2.6 to 4.8
    CPU seconds per measurement (docs/operations.md, "A thousand operators").
    """

    def __init__(self, kafka: KafkaSettings, partitions_max_age_s: float = 0.0) -> None:
        self._kafka = kafka
        self._max_age_s = partitions_max_age_s
        self._consumers: dict[str, Consumer] = {}
        self._admin: AdminClient | None = None
        self._partitions: dict[str, tuple[float, list[TopicPartition]]] = {}  # pattern -> (when, tps)

    def lag(self, group_id: str, pattern: str) -> int:
        """Records not yet committed by ``group_id`` on topics matching ``pattern``.

        Counts up to the high watermark, so on topics written in transactions the final commit
        marker counts as one record the group never consumes.
        """
        consumer = self._consumers.get(group_id)
        if consumer is None:
            # Never subscribes or commits: it only asks for the group's committed offsets, the
            # last committed ones (read_uncommitted: the coordinator answers at once instead of
            # holding the request until an open transaction's offsets are settled).
            consumer = self._consumers[group_id] = Consumer(client_config(
                self._kafka, **{"group.id": group_id, "enable.auto.commit": False,
                                "isolation.level": "read_uncommitted"}))
        tps = self._matching(consumer, pattern)
        if not tps:
            return 0
        committed = _committed(consumer, tps)
        if self._admin is None:
            self._admin = AdminClient(client_config(self._kafka))
        high = end_offsets(self._admin, [(tp.topic, tp.partition) for tp in committed],
                           IsolationLevel.READ_UNCOMMITTED)
        return sum(high[(tp.topic, tp.partition)] - max(tp.offset, 0) for tp in committed)

    def _matching(self, consumer: Consumer, pattern: str) -> list[TopicPartition]:
        cached = self._partitions.get(pattern)
        if cached is not None and time.monotonic() - cached[0] < self._max_age_s:
            return cached[1]
        tps = matching_partitions(consumer, pattern)
        self._partitions[pattern] = (time.monotonic(), tps)
        return tps

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()
        self._admin = None


# Answered while __consumer_offsets is created or loaded (a fresh broker), not flagged retriable.
_COORDINATOR_MOVING = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                       KafkaError.COORDINATOR_NOT_AVAILABLE}


def _committed(consumer: Consumer, tps: list[TopicPartition], timeout_s: float = 30) -> list[TopicPartition]:
    """The group's committed offsets, asked again while the group coordinator is still moving or loading."""
    for attempt in stamina.retry_context(on=lambda exc: retriable(exc, _COORDINATOR_MOVING),
                                         attempts=None, timeout=timeout_s, wait_initial=0.2, wait_max=2.0):
        with attempt:
            return list(consumer.committed(tps, timeout=timeout_s))
    raise AssertionError("unreachable: stamina raises once the attempts are spent")


def agent_groups(settings: Settings, agents: tuple[str, ...] | list[str]) -> list[tuple[str, str, str]]:
    """``(agent, consumer group, pattern of every topic it reads)`` of each of ``agents``."""
    from pipeline.agents.app import app  # noqa: PLC0415 - the registry imports the agents

    topics = settings.topics
    return [(spec.name, spec.consumer_group(topics), spec.read_pattern(topics))
            for spec in (app.get(name) for name in agents)]
