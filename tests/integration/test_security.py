"""mTLS and ACLs on a real broker of its own: who may connect, write and read what; revocation."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from pipeline.agents.validator import ValidatorAgent
from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
from pipeline.kafka.config import client_config
from pipeline.operator.fleet import demo_registry
from pipeline.operator.producer import OperatorProducer
from pipeline.security.bootstrap import grant_services, init_pki
from pipeline.security.keys import AccessKey, AccessKeys
from pipeline.security.pki import CertificateAuthority
from pipeline.settings import REPO_ROOT, KafkaSettings, Settings
from registry.access_keys import access_keys

pytestmark = pytest.mark.integration
# Its own broker, 200 above the suite's (TEST_PORT), so two checkouts can run the suite at once.
PORT = int(os.environ.get("DSOM_KAFKA_PORT", "19192")) + 200
A, B = "op-online-casino-1", "op-bookmaker-1"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A broker that requires client certificates and authorizes by ACL (started and stopped here)."""
    run = tmp_path_factory.mktemp("tls")
    settings = Settings(kafka={"bootstrap_servers": f"127.0.0.1:{PORT}"}, pki_dir=run / "pki",
                        registry_path=run / "registry.json", metrics_port=0, dashboard_port=0,
                        registry={"dsn": f"sqlite:///{run / 'registry.sqlite'}"})
    init_pki(settings)
    env = {**os.environ, "DSOM_RUN_DIR": str(run), "DSOM_KAFKA_PORT": str(PORT),
           "DSOM_KAFKA_CONTROLLER_PORT": str(PORT + 1), "DSOM_KAFKA_PKI_DIR": str(settings.pki_dir)}
    kafka = [sys.executable, str(REPO_ROOT / "infra" / "kafka_local.py")]
    subprocess.run([*kafka, "start"], env=env, check=True)
    try:
        grant_services(settings)
        admin = settings.model_copy(update={"kafka": settings.kafka_as("admin")})
        registry = demo_registry(1)
        registry.save(settings.registry_path)
        ensure_topics(admin, system_topics(admin) + operator_topics(admin, [A, B]))
        yield settings
    finally:
        subprocess.run([*kafka, "stop"], env=env, check=True)


def keys(s: Settings) -> AccessKeys:
    return access_keys(s, s.kafka_as("admin"))


def as_key(s: Settings, key: AccessKey) -> KafkaSettings:
    return s.kafka_with(key.cert, key.key)


def produce_error(kafka: KafkaSettings, topic: str, producer: Producer | None = None) -> Any:
    errors: list[Any] = []
    p = producer or Producer(client_config(kafka, **{"message.timeout.ms": 8000}))
    p.produce(topic, b"x", on_delivery=lambda err, msg: errors.append(err))
    p.flush(15)
    assert errors, "no delivery report"
    return errors[0]


def read_error(kafka: KafkaSettings, topic: str, group: str) -> Any:
    c = Consumer(client_config(kafka, **{"group.id": group, "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and msg.error() is not None:
                return msg.error().code()
        return None
    finally:
        c.close()


def test_no_certificate_or_a_foreign_ca_cannot_connect(tls: Settings, tmp_path: Path) -> None:
    no_cert = tls.kafka_as("x").model_copy(update={"ssl_certificate_location": None,
                                                   "ssl_key_location": None})
    foreign = CertificateAuthority(tmp_path / "evil")
    foreign.ensure("someone else's CA")
    forged = foreign.issue("broker", tmp_path / "evil" / "broker")  # even claiming the super user
    forged_kafka = tls.kafka_as("x").model_copy(update={"ssl_certificate_location": forged.cert,
                                                        "ssl_key_location": forged.key})
    plaintext = KafkaSettings(bootstrap_servers=tls.kafka.bootstrap_servers)
    for kafka in (no_cert, forged_kafka, plaintext):
        with pytest.raises(Exception):  # noqa: B017 - librdkafka reports it as a metadata timeout
            AdminClient(client_config(kafka)).list_topics(timeout=5)


def test_operators_are_confined_to_their_own_topics(tls: Settings) -> None:
    key_a, key_b = keys(tls).issue(A), keys(tls).issue(B)
    a, b = as_key(tls, key_a), as_key(tls, key_b)
    t = tls.topics
    assert produce_error(a, t.ingest(A)) is None
    assert produce_error(b, t.ingest(B)) is None
    assert produce_error(a, t.ingest(B)).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce_error(a, t.archive).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    group = f"{t.prefix}.operator.{A}"
    assert read_error(a, t.receipts(B), group) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert read_error(a, t.archive, group) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert read_error(a, t.tax_events, group) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert read_error(a, t.receipts(A), group) is None  # its own: allowed (and empty or not)


def test_an_operator_cannot_join_the_groups_of_an_operator_whose_id_it_prefixes(tls: Settings) -> None:
    short, long = "op-x-1", "op-x-10"
    admin = tls.model_copy(update={"kafka": tls.kafka_as("admin")})
    ensure_topics(admin, operator_topics(admin, [short, long]))
    kafka = as_key(tls, keys(tls).issue(short))
    t = tls.topics
    for group in (f"{t.prefix}.operator.{long}", f"{t.prefix}.operator.{long}.reader",
                  f"{t.prefix}.operator.{short}0"):
        assert read_error(kafka, t.receipts(short), group) == KafkaError.GROUP_AUTHORIZATION_FAILED, group
    for group in (f"{t.prefix}.operator.{short}", f"{t.prefix}.operator.{short}.reader"):
        assert read_error(kafka, t.receipts(short), group) is None, group


def test_the_tax_service_cannot_write(tls: Settings) -> None:
    tax = tls.kafka_as("tax-service")
    for topic in (tls.topics.tax_events, tls.topics.archive, tls.topics.ingest(A)):
        assert produce_error(tax, topic).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_a_revoked_key_stops_working_on_an_open_connection(tls: Settings) -> None:
    register = keys(tls)
    old, new = register.issue(A), register.issue(A)  # rotation: two keys active at once
    producer = Producer(client_config(as_key(tls, old), **{"message.timeout.ms": 8000}))
    assert produce_error(as_key(tls, old), tls.topics.ingest(A), producer) is None
    revoked_at = time.monotonic()
    register.revoke(old.key_id)
    err = produce_error(as_key(tls, old), tls.topics.ingest(A), producer)
    took = time.monotonic() - revoked_at
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    print(f"revoked key refused {took * 1000:.0f} ms after revocation")
    fresh = produce_error(as_key(tls, old), tls.topics.ingest(A))  # and on a new connection
    assert fresh is not None and fresh.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce_error(as_key(tls, new), tls.topics.ingest(A)) is None  # the other key still works
    assert [k.state for k in register.all() if k.key_id in (old.key_id, new.key_id)] == ["revoked", "active"]


def test_the_pipeline_works_over_mtls(tls: Settings) -> None:
    key = keys(tls).issue(A)
    pipeline = tls.model_copy(update={"kafka": tls.kafka_as("pipeline")})
    now = time.time_ns() // 1000
    event = {"seq": 1, "operator_ref": "t1", "kind": "DEPOSIT", "licence_id": "LIC-OC-0001",
             "licence_kind": "ONLINE_CASINO", "channel": "SITE", "establishment_id": None,
             "equipment_id": None, "site_id": "a.example.ua", "app_id": None, "game_type": None,
             "round_ref": None, "bet_ref": None, "player_ref": "p_TLSPLAYER1", "amount": 10_000,
             "currency": "UAH", "occurred_at_us": now, "tax_withheld_pit": None,
             "tax_withheld_military": None}
    operator = tls.model_copy(update={"kafka": as_key(tls, key)})
    producer = OperatorProducer(operator, A)
    producer.send("src-1", [event])
    producer.flush(30)
    stop = threading.Event()
    agent = threading.Thread(target=ValidatorAgent(pipeline).run, args=(stop,))
    agent.start()
    try:
        c = Consumer(client_config(operator.kafka, **{"group.id": f"{tls.topics.prefix}.operator.{A}",
                                                      "auto.offset.reset": "earliest",
                                                      "isolation.level": "read_committed"}))
        c.subscribe([tls.topics.receipts(A)])
        msg = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and msg.error() is None:
                break
        c.close()
    finally:
        stop.set()
        agent.join(30)
    assert msg is not None and msg.error() is None, "the operator got no receipt over mTLS"
