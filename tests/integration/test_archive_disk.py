"""A byte flipped in an archive record on the broker's disk is found by the checkpoints.

On a broker of the test's own, stopped for the edit: the record's value comes back changed
(after a clean shutdown the broker does not re-check its segments, and librdkafka does not
check CRCs by default), or the broker's recovery drops it; either way the tree differs.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from pipeline.archive import verify_archive
from pipeline.archive_logs import verifier_of
from pipeline.core.archive_log import log_origin, record_leaf
from pipeline.core.checkpoint import Checkpoint
from pipeline.core.merkle import CompactRange
from pipeline.kafka.admin import ensure_topics, system_topics
from pipeline.kafka.config import client_config
from pipeline.security.archive_key import init_archive_key, load_signer
from pipeline.security.bootstrap import grant_services
from pipeline.settings import Settings
from tests.integration.conftest import PKI
from tests.integration.test_broker_restart import PORT, Broker
from tests.integration.test_verifiable_archive import _archive_values

pytestmark = pytest.mark.integration


def _wait_for_leaders(s: Settings) -> None:
    """A restarted broker answers before it leads its partitions again."""
    consumer = Consumer(client_config(s.kafka, **{"group.id": s.topics.reader_group}))
    try:
        deadline = time.monotonic() + 60
        for topic in (s.topics.archive, s.topics.checkpoints):
            for p in range(s.topics.archive_partitions):
                while True:
                    try:
                        consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                        break
                    except KafkaException:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.3)
    finally:
        consumer.close()


def test_a_byte_flipped_on_disk_is_found(settings: Settings, tmp_path: Path) -> None:
    broker = Broker(tmp_path / "own-broker")
    broker.start()
    try:
        s = settings.model_copy(update={
            "kafka": settings.kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{PORT}"}),
            "archive": settings.archive.model_copy(update={"key_dir": tmp_path / "archive-key"})})
        if PKI:
            grant_services(s)
        init_archive_key(s.archive_key_dir, s.archive.origin)
        ensure_topics(s, system_topics(s))
        part = zlib.crc32(b"op-a") % s.topics.archive_partitions
        records = _archive_values()[:6]
        producer = Producer(client_config(s.kafka, **{"acks": "all", "linger.ms": 0}))
        tree = CompactRange()
        for offset, (key, value) in enumerate(records):  # one batch per record: offsets 0..5
            producer.produce(s.topics.archive, value, key, partition=part)
            assert producer.flush(30) == 0
            tree.append(record_leaf(part, offset, key, value))
        # The checkpoint the checkpointer would sign (its agent is tested elsewhere).
        cp = Checkpoint(log_origin(s.archive.origin, s.topics.archive, part), tree.size, tree.root())
        producer.produce(s.topics.checkpoints, load_signer(s.archive_key_dir, s.archive.origin)
                         .sign(cp.body()).encode(), b"p", partition=part)
        assert producer.flush(30) == 0
        assert verify_archive(s, verifier_of(s)).findings == []
    finally:
        broker.stop()

    segment = next((tmp_path / "own-broker" / "kafka" / "data" / f"{s.topics.archive}-{part}").glob("*.log"))
    data = bytearray(segment.read_bytes())
    at = data.index(records[3][1][-40:]) + 20  # inside the fourth record's value
    data[at] ^= 0x01
    segment.write_bytes(bytes(data))

    broker.start()
    try:
        _wait_for_leaders(s)
        found = verify_archive(s, verifier_of(s)).findings
    finally:
        broker.stop()
    assert any(f"archive partition {part}: " in f and "leaves 0..5" in f for f in found), found
