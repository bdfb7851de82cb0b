"""A licence suspended through the registry's API reaches the validator through ``<prefix>.registry``.

The validator follows the topic (not the file): the next event of the suspended licence is
rejected ``licence_suspended``, and the delay from the registry's commit to that rejection is
measured. The suspension's audit entry names the decision.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pipeline.kafka.config import consumer_config
from pipeline.operator.fleet import demo_registry
from pipeline.registry import Registry
from pipeline.settings import RegistrySettings, Settings
from registry.api import create_app
from registry.core.access import Principal, PrincipalRole
from registry.publisher import Publisher
from registry.seed import rows_of
from registry.service import RegistryService
from schemas import RECEIPT_BATCH
from tests.integration.hostile import CODEC, A, RawProducer, batch, event, seed, validator

pytestmark = pytest.mark.integration
LICENCE = "LIC-OC-0001"


def test_a_suspension_rejects_the_next_event_within_2_s(settings: Settings, tmp_path: Path) -> None:
    s = settings.model_copy(update={"registry": RegistrySettings(
        dsn=SecretStr(f"sqlite:///{tmp_path / 'registry.sqlite'}"), tax_number_key=SecretStr("k"),
        publish_interval_s=0.05)})
    seed(s)  # the operators' topics; it also writes the file, which the topic must override
    # The file says the licence is not registered at all: a receipt that is not unknown_licence
    # shows the validator decided with the topic's registry.
    Registry(operators=()).save(s.registry_path)
    svc = RegistryService.from_settings(s)
    svc.add(Principal("seed", PrincipalRole.SYSTEM), rows_of(demo_registry(1)), "test seed")
    publisher = Publisher(s, svc)
    publisher.publish_once()
    api = TestClient(create_app(svc))

    receipts = Consumer(consumer_config(s.kafka, s.topics.reader_group))
    receipts.assign([TopicPartition(s.topics.receipts(A), 0)])
    producer = RawProducer(s, A)
    seq = 0

    def decide_one() -> str | None:
        """Send one event of the licence and wait for its receipt: its reason (None: accepted)."""
        nonlocal seq
        seq += 1
        producer.send("s-follow", batch([event(seq)], "s-follow"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for msg in receipts.consume(100, 0.05):
                assert msg.error() is None, msg.error()
                for r in CODEC.decode(msg.value() or b"", expect=RECEIPT_BATCH)[1]["receipts"]:
                    if r["seq"] == seq:
                        return r["reason"]  # type: ignore[no-any-return]
        raise AssertionError(f"no receipt for seq {seq}")

    stop = threading.Event()
    thread = threading.Thread(target=publisher.run, args=(stop,), daemon=True)
    try:
        with validator(s):
            assert decide_one() is None  # the topic's registry: the licence is known and active
            thread.start()
            got = api.post(f"/registry/licences/{LICENCE}/suspend",
                           json={"reason": "KRAIL decision 9/2026: unpaid fee"},
                           headers={"X-DSOM-Principal": "regulator:board"})
            committed = time.monotonic()
            assert got.status_code == 200, got.text
            reasons = []
            while not reasons or reasons[-1] is None:
                reasons.append(decide_one())
                assert time.monotonic() - committed < 30, reasons
            delay = time.monotonic() - committed
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(10)
        publisher.close()
        receipts.close()
    print(f"\nregistry: from the suspension's commit to the first licence_suspended receipt: "
          f"{delay * 1000:.0f} ms ({len(reasons)} event(s) sent meanwhile)")
    assert reasons[-1] == "licence_suspended"
    assert delay <= 2.0
    audit = [e for e in svc.audit_entries(LICENCE) if e.action == "suspend"]
    assert len(audit) == 1 and audit[0].principal == "regulator:board"
    assert audit[0].reason == "KRAIL decision 9/2026: unpaid fee"
