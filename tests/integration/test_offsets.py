"""Many partitions' offsets in one admin request, against the real broker (the stall watch reads them)."""

import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.config import producer_config
from pipeline.kafka.offsets import watermarks
from pipeline.settings import Settings
from tests.integration.conftest import PKI

pytestmark = pytest.mark.integration


def test_first_and_last_stable_offsets_of_plain_and_transactional_writes(settings: Settings) -> None:
    kafka = settings.kafka_as("broker") if PKI else settings.kafka  # any transactional ID
    topic = f"{settings.topics.prefix}.offsets-{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [NewTopic(topic, 2, 1)])
    plain = Producer(producer_config(kafka))
    for i in range(5):
        plain.produce(topic, value=b"%d" % i, partition=0)
    plain.flush(30)
    txn = Producer(producer_config(kafka, **{"transactional.id": f"{topic}-txn"}))
    txn.init_transactions(30)
    txn.begin_transaction()
    for i in range(3):
        txn.produce(topic, value=b"%d" % i, partition=1)
    txn.flush(30)
    # An open transaction holds the last stable offset where it began.
    assert watermarks(kafka, [(topic, 0), (topic, 1)]) == {(topic, 0): (0, 5), (topic, 1): (0, 0)}
    txn.commit_transaction(30)
    assert watermarks(kafka, [(topic, 1)]) == {(topic, 1): (0, 4)}  # 3 records and the marker
    assert watermarks(kafka, []) == {}
    # As the agents ask it: with the pipeline's own key, which may read its topics and no more.
    assert watermarks(settings.kafka, [(topic, 0)]) == {(topic, 0): (0, 5)}
