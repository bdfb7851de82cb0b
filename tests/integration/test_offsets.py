"""Where committed records end, and whether any lie past an offset: the stall watch, on the real broker."""

import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.config import producer_config
from pipeline.kafka.offsets import Offsets
from pipeline.settings import Settings
from tests.integration.conftest import PKI

pytestmark = pytest.mark.integration


def test_where_committed_records_end_and_whether_any_lie_past_an_offset(settings: Settings) -> None:
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
    offsets = Offsets(kafka, settings.topics.reader_group)
    # An open transaction holds the last stable offset where it began.
    assert offsets.stable([(topic, 0), (topic, 1)]) == {(topic, 0): 5, (topic, 1): 0}
    txn.commit_transaction(30)
    # The coordinator writes the commit marker after commit_transaction returns.
    deadline = time.monotonic() + 30
    while offsets.stable([(topic, 1)]) != {(topic, 1): 4} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert offsets.stable([(topic, 1)]) == {(topic, 1): 4}  # 3 records and the commit marker
    assert offsets.stable([]) == {}
    # Read to its end, a transactional partition is one offset short of it: the marker's.
    assert offsets.records_from({(topic, 0): 5, (topic, 1): 3}) == set()
    assert offsets.records_from({(topic, 0): 4, (topic, 1): 2}) == {(topic, 0), (topic, 1)}
    # As the agents ask: with the pipeline's own key, which may read its topics and no more.
    mine = Offsets(settings.kafka, settings.topics.reader_group)
    assert mine.stable([(topic, 0)]) == {(topic, 0): 5}
    assert mine.records_from({(topic, 0): 3}) == {(topic, 0)}
