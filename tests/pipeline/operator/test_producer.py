from __future__ import annotations

import pytest

from pipeline.operator.producer import DeliveryError, OperatorProducer, SequenceCounter
from pipeline.settings import Settings
from schemas import EVENT_BATCH, default_codec
from tests.pipeline.operator.conftest import FakeProducer

EVENT = {"seq": 1, "operator_ref": "t1", "kind": "DEPOSIT", "licence_id": "LIC-OC-0001",
         "licence_kind": "ONLINE_CASINO", "channel": "SITE", "establishment_id": None,
         "equipment_id": None, "site_id": "a.example.ua", "app_id": None, "game_type": None,
         "round_ref": None, "bet_ref": None, "player_ref": "p_ABCDEFGHIJ", "amount": 10_000,
         "currency": "UAH", "occurred_at_us": 1, "tax_withheld_pit": None, "tax_withheld_military": None}


def test_send_encodes_a_batch_keyed_by_source(fake_kafka: type[FakeProducer]) -> None:
    producer = OperatorProducer(Settings(), "op-online-casino-1")
    producer.send("till-7", [EVENT, EVENT | {"seq": 2}], sent_at_us=5)
    producer.flush(1)
    fake = fake_kafka.instances[0]
    assert fake.conf["enable.idempotence"] is True and fake.conf["acks"] == "all"
    [msg] = fake.delivered
    assert msg.topic() == "dsom.ingest.op-online-casino-1" and msg.key() == b"till-7"
    name, batch = default_codec().decode(msg.value())
    assert name == EVENT_BATCH
    assert batch == {"operator_id": "op-online-casino-1", "source_id": "till-7", "sent_at_us": 5,
                     "events": [EVENT, EVENT | {"seq": 2}]}
    assert (producer.records_sent, producer.events_sent, producer.delivered) == (1, 2, 1)


def test_sandbox_goes_to_the_sandbox_topic(fake_kafka: type[FakeProducer]) -> None:
    producer = OperatorProducer(Settings(), "op-bookmaker-1", sandbox=True)
    producer.send_raw("s", b"x")
    producer.flush(1)
    assert fake_kafka.instances[0].delivered[0].topic() == "dsom.sandbox.op-bookmaker-1"


def test_a_full_queue_is_drained_not_fatal(fake_kafka: type[FakeProducer]) -> None:
    producer = OperatorProducer(Settings(), "op-bookmaker-1")
    fake = fake_kafka.instances[0]
    fake.buffer_full = 3
    producer.send_raw(b"s", b"x")
    assert fake.polls >= 4 and producer.records_sent == 1
    producer.flush(1)
    assert len(fake.delivered) == 1


def test_failed_deliveries_raise_on_flush(fake_kafka: type[FakeProducer]) -> None:
    producer = OperatorProducer(Settings(), "op-bookmaker-1")
    fake = fake_kafka.instances[0]
    fake.fail_next = 2
    for _ in range(3):
        producer.send_raw(b"s", b"x")
    with pytest.raises(DeliveryError, match="2 records to dsom.ingest.op-bookmaker-1 failed"):
        producer.flush(1)
    producer.flush(1)  # reported once; the next flush is clean
    fake.stuck = 1
    producer.send_raw(b"s", b"x")
    with pytest.raises(DeliveryError, match="not confirmed"):
        producer.flush(1)


def test_a_batch_carries_1_to_10000_events(fake_kafka: type[FakeProducer]) -> None:
    producer = OperatorProducer(Settings(), "op-bookmaker-1")
    with pytest.raises(ValueError):
        producer.send("s", [])
    with pytest.raises(ValueError):
        producer.send("s", [EVENT] * 10_001)


def test_context_manager_flushes(fake_kafka: type[FakeProducer]) -> None:
    with OperatorProducer(Settings(), "op-bookmaker-1") as producer:
        fake = fake_kafka.instances[0]
        fake.stuck = 1
        producer.send("s", [EVENT])
        assert not fake.delivered
        fake.stuck = 0
    assert len(fake.delivered) == 1


def test_sequence_counter_numbers_1_2_3_and_resumes() -> None:
    counter = SequenceCounter()
    assert [counter.next(), counter.next()] == [1, 2]
    assert list(counter.take(3)) == [3, 4, 5]
    events = counter.number([{"seq": None}, {}, {"seq": 99}])
    assert [e["seq"] for e in events] == [6, 7, 99]
    assert SequenceCounter(last=counter.last).next() == 8
    with pytest.raises(ValueError):
        SequenceCounter(-1)


def test_every_record_of_a_source_goes_to_its_home_partition(fake_kafka: type[FakeProducer]) -> None:
    from pipeline.core.partitioning import home_partition

    producer = OperatorProducer(Settings(), "op-online-casino-1")
    for i in range(30):
        producer.send(f"src-{i}", [EVENT])
    producer.flush(1)
    fake = fake_kafka.instances[0]
    assert fake.conf["partitioner"] == "murmur2_random"  # what Kafka's Java client does
    homes = {(m.key(), m.partition()) for m in fake.delivered}
    assert homes == {(f"src-{i}".encode(), home_partition(f"src-{i}".encode(), 3)) for i in range(30)}
    assert {p for _, p in homes} == {0, 1, 2}


def test_a_batch_above_the_record_limit_goes_as_several_records(fake_kafka: type[FakeProducer]) -> None:
    producer = OperatorProducer(Settings(validation={"max_record_bytes": 2_000}), "op-online-casino-1")
    events = [EVENT | {"seq": i} for i in range(1, 40)]
    producer.send("till-7", events)
    producer.flush(1)
    sent = fake_kafka.instances[0].delivered
    assert len(sent) > 1 and all(len(m.value()) <= 2_000 for m in sent)
    decoded = [default_codec().decode(m.value())[1]["events"] for m in sent]
    assert [e for batch in decoded for e in batch] == events  # every event once, in order
    assert (producer.records_sent, producer.events_sent) == (len(sent), 39)
    with pytest.raises(ValueError, match="alone encodes to"):
        producer.send("till-7", [EVENT | {"operator_ref": "x" * 2_000}])
