"""A changelog replay waits for transactions still open on the partition, instead of stopping short.

Found by the chaos run (issue 16): after a rebalance the new owner replayed the changelog while
the previous owner's last commit markers were still on their way, missed its last entries, and
restarted a hash chain at link 1.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from pipeline.kafka.changelog import replay
from pipeline.kafka.config import client_config
from pipeline.settings import Settings
from tests.integration.conftest import PKI

pytestmark = pytest.mark.integration


def test_replay_includes_entries_committed_after_it_started(settings: Settings) -> None:
    kafka = settings.kafka_as("broker") if PKI else settings.kafka
    topic = f"{settings.topics.prefix}.settle-{uuid.uuid4().hex[:6]}"
    admin = AdminClient(client_config(kafka))  # kept: a collected client cancels its futures
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    time.sleep(1)

    def producer(name: str) -> Producer:
        p = Producer(client_config(kafka, **{"transactional.id": f"{topic}-{name}"}))
        p.init_transactions(30)
        return p

    first, second = producer("a"), producer("b")
    first.begin_transaction()
    first.produce(topic, key=b"k1", value=b"1")
    first.commit_transaction(30)
    second.begin_transaction()  # still open when the replay starts
    second.produce(topic, key=b"k2", value=b"2")
    second.flush(30)
    first.begin_transaction()
    first.produce(topic, key=b"k3", value=b"3")
    first.commit_transaction(30)  # committed, but behind second's open transaction

    seen: list[bytes] = []
    done = threading.Event()

    def run() -> None:
        replay(kafka, topic, [0], lambda k, v: seen.append(k), group=settings.topics.reader_group,
               settle_timeout_s=60)
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(2.0)
    assert not done.is_set(), f"the replay ended with {seen} while a transaction was open"
    second.commit_transaction(30)
    thread.join(60)
    assert done.is_set() and seen == [b"k1", b"k2", b"k3"]
