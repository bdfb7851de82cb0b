"""How far a consumer group is behind on a set of topics (for progress output and draining)."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from pipeline.kafka.config import client_config
from pipeline.kafka.reader import topic_partitions
from pipeline.settings import KafkaSettings, Settings


def group_lag(kafka: KafkaSettings, group_id: str, pattern: str) -> int:
    """Records not yet committed by ``group_id`` on topics matching ``pattern``.

    Counts up to the high watermark, so on topics written in transactions the final commit
    marker counts as one record the group never consumes.
    """
    tps = topic_partitions(kafka, pattern, group=group_id)
    if not tps:
        return 0
    consumer = Consumer(client_config(kafka, **{"group.id": group_id, "enable.auto.commit": False}))
    try:
        committed = consumer.committed(tps, timeout=30)
        lag = 0
        for tp in committed:
            _, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=30)
            lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


def agent_groups(settings: Settings, agents: tuple[str, ...] | list[str]) -> list[tuple[str, str, str]]:
    """``(agent, consumer group, topic pattern)`` of each of ``agents`` that consumes a group."""
    topics = settings.topics
    archive = "^" + topics.archive.replace(".", r"\.") + "$"
    patterns = {"validator": topics.ingest_pattern, "tax": archive, "sink": archive}
    return [(agent, topics.agent_group(agent), patterns[agent]) for agent in agents if agent in patterns]
