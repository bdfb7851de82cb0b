"""How far a consumer group is behind on a set of topics (for progress output and draining)."""

from __future__ import annotations

import stamina
from confluent_kafka import Consumer, KafkaError, TopicPartition

from pipeline.kafka.config import client_config, retriable
from pipeline.kafka.reader import matching_partitions
from pipeline.settings import KafkaSettings, Settings


class LagMonitor:
    """Measures consumer groups' lag again and again over one long-lived client per group.

    A fresh client per measurement costs the broker TLS handshakes every time (two
    connections each, bootstrap and broker), which with mTLS is real CPU on a small machine.
    """

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._consumers: dict[str, Consumer] = {}

    def lag(self, group_id: str, pattern: str) -> int:
        """Records not yet committed by ``group_id`` on topics matching ``pattern``.

        Counts up to the high watermark, so on topics written in transactions the final commit
        marker counts as one record the group never consumes.
        """
        consumer = self._consumers.get(group_id)
        if consumer is None:
            # Never subscribes or commits: it only asks for the group's committed offsets.
            consumer = self._consumers[group_id] = Consumer(client_config(
                self._kafka, **{"group.id": group_id, "enable.auto.commit": False}))
        tps = matching_partitions(consumer, pattern)
        if not tps:
            return 0
        lag = 0
        for tp in _committed(consumer, tps):
            _, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=30)
            lag += high - max(tp.offset, 0)
        return lag

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()


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
