"""Consumer-group lag against the real broker: what the worker's gauge and the demo's drain read."""

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from pipeline.kafka.admin import ensure_topics, system_topics
from pipeline.kafka.config import client_config, producer_config
from pipeline.kafka.lag import LagMonitor, agent_groups
from pipeline.settings import Settings

pytestmark = pytest.mark.integration


def test_lag_follows_produced_and_committed_offsets(settings: Settings) -> None:
    ensure_topics(settings, system_topics(settings))
    _, group, pattern = agent_groups(settings, ["tax"])[0]
    producer = Producer(producer_config(settings.kafka))
    for i in range(30):
        producer.produce(settings.topics.archive, key=b"k", value=b"v%d" % i, partition=i % 3)
    producer.flush(30)
    monitor = LagMonitor(settings.kafka)
    try:
        assert monitor.lag(group, pattern) == 30
        # The group commits 4 records of partition 0 (10 each); the monitor's client sees it.
        committer = Consumer(client_config(settings.kafka, **{"group.id": group,
                                                              "enable.auto.commit": False}))
        committer.commit(offsets=[TopicPartition(settings.topics.archive, 0, 4)], asynchronous=False)
        committer.close()
        assert monitor.lag(group, pattern) == 26
        for i in range(5):
            producer.produce(settings.topics.archive, key=b"k", value=b"w%d" % i, partition=1)
        producer.flush(30)
        assert monitor.lag(group, pattern) == 31  # the same client, new high watermarks
        assert monitor.lag(group, "^nothing-matches$") == 0
    finally:
        monitor.close()
