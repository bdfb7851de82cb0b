"""Hostile and careless operators on the real broker: nothing stalls, nothing counts twice."""

from __future__ import annotations

import time
import zlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions

from pipeline.archive import verify_archive
from pipeline.core.partitioning import home_partition
from pipeline.kafka.config import client_config
from pipeline.operator.producer import OperatorProducer
from pipeline.settings import Settings
from tests.integration.conftest import as_operator, read_all
from tests.integration.hostile import (
    A,
    B,
    RawProducer,
    Receipt,
    batch,
    event,
    receipts,
    seed,
    validator,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_one_source_sent_to_two_partitions_is_never_counted_twice(settings: Settings) -> None:
    seed(settings)
    n = settings.topics.ingest_partitions
    src = next(s for s in (f"src-{i}" for i in range(100))
               if zlib.crc32(s.encode()) % n != home_partition(s.encode(), n))
    java = RawProducer(settings, A)  # murmur2, as Kafka's Java client and franz-go partition
    crc = RawProducer(settings, A, partitioner="consistent_random")  # librdkafka's own default
    bets = batch([event(i, "BET") for i in range(1, 6)], src)
    home, _ = java.send(src, bets)
    assert home == home_partition(src.encode(), n)
    strays = [crc.send(src, bets),  # a retry through another client library
              crc.send(src, batch([event(11, "WIN", bet_ref="b1")], src))]
    assert all(p != home for p, _ in strays)
    java.send(src, batch([event(5 + i, "WIN", bet_ref=f"b{i}") for i in range(1, 6)], src))

    with validator(settings):
        wait_for("receipts of the first records",
                 lambda: len([r for r in receipts(settings) if r.source == src]) >= 12)
        # Partitions added to the live topic: a source's home stays where its state is.
        topic = settings.topics.ingest(A)
        broker = AdminClient(client_config(settings.kafka_as("broker")))
        broker.create_partitions([NewPartitions(topic, n + 2)])[topic].result(30)
        src2 = next(s for s in (f"late-{i}" for i in range(100))
                    if home_partition(s.encode(), n + 2) >= n)
        time.sleep(6)  # the validator's pattern subscription sees the new partitions
        java_home = home_partition(src2.encode(), n + 2)  # the Java client's choice now
        java = RawProducer(settings, A)  # a client started after the partitions were added
        strays.append(java.send(src2, batch([event(1)], src2), partition=java_home))
        with OperatorProducer(as_operator(settings, A), A) as own:  # names the home explicitly
            late = [event(1), event(2)]
            own.send(src2, late)
            own.send(src2, late)  # a retry, byte for byte: DUPLICATEs, counted nowhere
        wait_for("receipts of the records on the added partitions",
                 lambda: len([r for r in receipts(settings) if r.source == src2]) >= 5)
        time.sleep(2)

    got = receipts(settings)
    record_level = Counter((r.partition, r.offset, r.reason) for r in got if r.seq is None)
    assert record_level == Counter((p, o, "wrong_partition") for p, o in strays)
    events = Counter((r.source, r.seq, r.status, r.reason) for r in got if r.seq is not None)
    assert events == Counter({(src, s, "ACCEPTED", None): 1 for s in range(1, 11)}
                             | {(src2, s, status, None): 1 for s in (1, 2)
                                for status in ("ACCEPTED", "DUPLICATE")})
    report = verify_archive(settings)  # every chain from genesis
    assert not report.findings, report.findings  # the chains verify
    assert report.event_ids == Counter({(A, src, s): 1 for s in range(1, 11)}
                                       | {(A, src2, s): 1 for s in (1, 2)})


def _largest(make: Callable[[int], dict[str, Any]], source: str, limit: int) -> bytes:
    """The most events ``make(i)`` whose record stays within ``limit`` bytes."""
    per = len(batch([make(1), make(2)], source)) - len(batch([make(1)], source))
    count = min(10_000, limit // per)
    while len(value := batch([make(i) for i in range(1, count + 1)], source)) > limit:
        count -= 1 + (len(value) - limit) // per
    return value


def test_records_at_the_limits_are_decided_and_larger_ones_rejected_without_stalling(
        settings: Settings) -> None:
    seed(settings)
    limit = settings.validation.max_record_bytes
    makers: dict[str, Callable[[int], dict[str, Any]]] = {
        # outputs of about 1.6 MB (archive), 1.6 MB (receipts) and 3.6 MB (bets changelog): each
        # stalled every operator on this worker before outputs were sized for the limits
        "deposits": lambda i: event(i, operator_ref="", site_id="s"),
        "unknown_refunds": lambda i: event(i, "REFUND", operator_ref="", bet_ref="\U000e0001" * 32),
        "control_bets": lambda i: event(i, "BET", operator_ref="", bet_ref="\x01" * 120 + f"{i:08d}"),
    }
    a = RawProducer(settings, A, **{"message.max.bytes": 4_000_000})
    offsets = {}
    for name, make in makers.items():
        value = _largest(make, name, limit)
        assert len(value) <= limit  # at the byte limit, or at 10,000 events
        offsets[name] = a.send(name, value)
    too_big = batch([event(1, operator_ref="x" * 1_200_000)], "huge")
    offsets["too_big"] = a.send("huge", too_big)
    OperatorProducer(as_operator(settings, B), B).send("b-1", [event(1, operator=B)])

    with validator(settings):
        wait_for("a receipt for operator B's record, behind the large ones",
                 lambda: any(r.source == "b-1" and r.status == "ACCEPTED" for r in receipts(settings)),
                 timeout=120)
        wait_for("receipts of every large record",
                 lambda: {(r.partition, r.offset) for r in receipts(settings)} >= set(offsets.values()),
                 timeout=120)

    got = receipts(settings)

    def of(name: str) -> list[Receipt]:  # B's receipts topic has offsets of its own
        return [r for r in got if (r.partition, r.offset) == offsets[name] and r.source in (name, "huge")]

    too_big_receipts = of("too_big")
    assert [(r.seq, r.reason) for r in too_big_receipts] == [(None, "record_too_large")]
    deposits = of("deposits")
    assert len(deposits) > 5_000 and {r.status for r in deposits} == {"ACCEPTED"}
    refunds = of("unknown_refunds")
    assert len(refunds) > 4_000 and {r.reason for r in refunds} == {"unknown_bet"}
    assert max(len((r.detail or "").encode()) for r in refunds) <= 256
    bets = of("control_bets")
    assert len(bets) > 4_000 and {r.status for r in bets} == {"ACCEPTED"}
    report = verify_archive(settings)
    assert not report.findings, report.findings  # the chains verify
    assert sum(report.event_ids.values()) == len(deposits) + len(bets) + 1


def test_a_record_kafka_refuses_the_outputs_of_is_set_aside_and_the_partition_moves_on(
        settings: Settings) -> None:
    seed(settings)
    # The receipts topic of a deployment that predates the output limits: 2 kB messages at most.
    topics = settings.topics
    admin = AdminClient(client_config(settings.kafka_as("broker")))
    resource = ConfigResource("TOPIC", topics.receipts(A), incremental_configs=[
        ConfigEntry("max.message.bytes", "2000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(30)
    source = "src-small"
    with OperatorProducer(as_operator(settings, A), A) as producer:
        producer.send(source, [event(i) for i in range(1, 101)])  # its receipts: about 9 kB
    with validator(settings):
        wait_for("the set-aside receipt",
                 lambda: any(r.reason == "unprocessable" for r in receipts(settings)))
        with OperatorProducer(as_operator(settings, A), A) as producer:
            producer.send(source, [event(101)])
        wait_for("the next record's receipt", lambda: any(r.seq == 101 for r in receipts(settings)))
    got = receipts(settings)
    assert [(r.seq, r.reason) for r in got] == [(None, "unprocessable"), (101, None)]
    letters = read_all(settings, "^" + topics.dead_letter.replace(".", r"\.") + "$")
    assert len(letters) == 1 and b"too large" in (letters[0].value() or b"").lower()
    report = verify_archive(settings)
    assert not report.findings, report.findings  # the chains verify
    assert report.event_ids == Counter({(A, source, 101): 1})  # nothing of the set-aside record


def test_a_record_whose_processing_fails_is_set_aside_with_a_receipt(settings: Settings,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.agents.validator import ValidatorAgent  # noqa: PLC0415

    seed(settings)
    agent = ValidatorAgent(settings)
    load = agent._load_processor  # the engine is made when the agent starts (it follows the registry)

    def loaded():  # type: ignore[no-untyped-def]
        processor = load()
        process = processor.process

        def failing(state, offset, key, value, now_us):  # type: ignore[no-untyped-def]
            if b"poison" in value:
                raise ValueError("a decoder bug")
            return process(state, offset, key, value, now_us)

        monkeypatch.setattr(processor, "process", failing)
        return processor

    monkeypatch.setattr(agent, "_load_processor", loaded)
    with OperatorProducer(as_operator(settings, A), A) as producer:
        producer.send("src-1", [event(1)])
        producer.send("src-1", [event(2, operator_ref="poison")])
        producer.send("src-1", [event(3)])
    with validator(settings, agent):
        wait_for("every receipt", lambda: len(receipts(settings)) >= 3)
    got = [(r.seq, r.status, r.reason) for r in receipts(settings)]
    assert got == [(1, "ACCEPTED", None), (None, "REJECTED", "unprocessable"), (3, "ACCEPTED", None)]
    letters = read_all(settings, "^" + settings.topics.dead_letter.replace(".", r"\.") + "$")
    assert len(letters) == 1 and b"a decoder bug" in (letters[0].value() or b"")
    report = verify_archive(settings)
    assert not report.findings, report.findings  # the chains verify
    assert report.event_ids == Counter({(A, "src-1", 1): 1, (A, "src-1", 3): 1})
