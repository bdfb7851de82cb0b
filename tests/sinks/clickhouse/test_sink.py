"""The sink's batching, commit order and exactly-once logic, on real chdb with an in-memory broker."""

from __future__ import annotations

import copy
import io
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import fastavro
import orjson
import pytest
from confluent_kafka import KafkaError, Message, TopicPartition
from prometheus_client import REGISTRY

from pipeline.settings import ClickHouseSettings, Settings
from registry.core.history import Version
from registry.core.snapshot import topic_key, topic_value
from schemas import ARCHIVE_BATCH
from sinks.clickhouse import queries
from sinks.clickhouse import resume as resume_module
from sinks.clickhouse import writer as writer_module
from sinks.clickhouse.batch import TableBatch
from sinks.clickhouse.resume import Resume
from sinks.clickhouse.rollups import rebuild_all
from sinks.clickhouse.rows import add_archive_batch
from sinks.clickhouse.sink import ClickHouseSink
from sinks.clickhouse.tables import EVENTS
from tests.sinks.clickhouse.conftest import DB
from tests.sinks.clickhouse.fakes import Crash, FakeBroker
from tests.sinks.clickhouse.samples import (
    ALERTS_TOPIC,
    ARCHIVE,
    RECEIPTS,
    TAX_EVENTS_TOPIC,
    alert,
    archive_batch,
    as_version_1,
    decoded,
    event,
    payout,
    payout_tax_batch,
    receipt,
    receipt_batch,
    rollup_contents,
    statement,
    tax_discrepancy,
)

PER_RECORD = 3


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    b = FakeBroker()
    monkeypatch.setattr(writer_module, "RETRY_FIRST_S", 0.01)
    monkeypatch.setattr(resume_module, "RETRY_FIRST_S", 0.01)
    return b


def settings(ch_settings: ClickHouseSettings, **changes: Any) -> Settings:
    return Settings(clickhouse=ch_settings.model_copy(update=changes), metrics_port=0)


def fill(broker: FakeBroker, records: int = 5, partitions: int = 2) -> None:
    """``records`` archive records of PER_RECORD events per partition, and receipts with 2 rejections."""
    for p in range(partitions):
        for r in range(records):
            first = r * PER_RECORD + 1
            evs = [event(seq=first + i, amount=100 * (p + 1) + i) for i in range(PER_RECORD)]
            broker.append(ARCHIVE, p, archive_batch(evs, first_index=first, source_id=f"s{p}"))
    broker.append(RECEIPTS, 0, receipt_batch([receipt(1), receipt(2, status="ACCEPTED")]))
    broker.append(RECEIPTS, 0, receipt_batch([receipt(3, status="ACCEPTED")]))
    broker.append(RECEIPTS, 1, receipt_batch([receipt(4, reason="too_late")]))


def caught_up(broker: FakeBroker) -> bool:
    return all(broker.committed.get(tp) == broker.end(tp) for tp in broker.logs)


def run_until(sink: ClickHouseSink, done: Callable[[], bool], timeout: float = 30.0) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            sink.run(stop)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.01)
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    if errors:
        raise errors[0]
    assert done(), "timed out"


def count(ch: Any, table: str, where: str = "1") -> int:
    return int(ch.command(f"SELECT count() FROM {DB}.{table} WHERE {where}"))


def duplicates(ch: Any) -> int:
    return int(ch.command(f"SELECT count() - uniqExact(src_partition, chain_index) FROM {DB}.events"))


def sample(name: str, table: str) -> float:
    return REGISTRY.get_sample_value(name, {"table": table}) or 0.0


class RecordingClient:
    """Wraps the chdb client: records inserts, and fails the next ones as told.

    ``failures`` holds "before" (fail without inserting) or "after" (insert, then fail: the
    ambiguous case of a lost response) for the coming insert attempts.
    """

    def __init__(self, inner: Any, broker: FakeBroker, failures: list[str] | None = None) -> None:
        self.inner = inner
        self.broker = broker
        self.failures = failures or []
        self.calls: list[dict[str, Any]] = []

    def insert(self, table: str, data: list[list[Any]], **kwargs: Any) -> Any:
        offsets = data[EVENTS.column_names.index("src_offset")] if table == "events" else []
        return self._record(table, copy.deepcopy(data), len(data[0]), list(offsets), kwargs["settings"],
                            lambda: self.inner.insert(table, data, **kwargs))

    def command(self, sql: str, **kwargs: Any) -> Any:
        """Inserts of undecoded archive records (sinks/clickhouse/avro.py) come this way; roll-ups
        (from events, or folded rows from a file: stream_rollups.py) pass through."""
        match = re.match(r"INSERT INTO `?\w+`?\.`?(\w+)`? .* FROM file\('([^']+)', 'Avro'\)", sql)
        if match is None:
            return self.inner.command(sql, **kwargs)
        table, path = match.groups()
        with open(path, "rb") as f:
            container = f.read()
        records = list(fastavro.reader(io.BytesIO(container)))
        return self._record(table, container, sum(len(r["batch"]["events"]) for r in records),
                            [r["src_offset"] for r in records for _ in r["batch"]["events"]],
                            kwargs["settings"], lambda: self.inner.command(sql, **kwargs))

    def _record(self, table: str, data: Any, rows: int, src_offsets: list[int], settings: dict[str, Any],
                run: Callable[[], Any]) -> Any:
        self.calls.append({"table": table, "data": data, "rows": rows, "src_offsets": src_offsets,
                           "committed": dict(self.broker.committed),
                           "token": settings["insert_deduplication_token"]})
        mode = self.failures.pop(0) if self.failures else None
        if mode == "before":
            raise ConnectionError("ClickHouse is down")
        result = run()
        if mode == "after":
            raise TimeoutError("response lost")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def sinks() -> Iterator[list[ClickHouseSink]]:
    made: list[ClickHouseSink] = []
    yield made
    for s in made:
        s.close()


@pytest.mark.parametrize("raw_avro_events", [True, False])
def test_copies_archive_and_rejections(ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker,
                                       sinks: list[ClickHouseSink], raw_avro_events: bool) -> None:
    fill(broker)
    sink = ClickHouseSink(settings(ch_settings, raw_avro_events=raw_avro_events), client=ch,
                          clients=broker.clients)
    sinks.append(sink)
    run_until(sink, lambda: caught_up(broker))
    assert count(ch, "events") == 2 * 5 * PER_RECORD and duplicates(ch) == 0
    assert count(ch, "rejections") == 2
    assert sink.rows_inserted == {"events": 30, "rejections": 2, "tax_events": 0, "alerts": 0,
                                  "registry_history": 0}
    assert sink.records_read == 13 and sink.records_undecodable == 0
    assert broker.committed == {(ARCHIVE, 0): 5, (ARCHIVE, 1): 5, (RECEIPTS, 0): 2, (RECEIPTS, 1): 1}
    assert sample("dsom_clickhouse_rows", "events") == 30


def test_archive_records_of_version_1_are_copied_too(ch: Any, ch_settings: ClickHouseSettings,
                                                     broker: FakeBroker, sinks: list[ClickHouseSink]) -> None:
    """Records archived before ArchiveBatch version 2 (link rule 2), among current ones: ClickHouse
    is given the current version only, so those go the Python way."""
    fill(broker)
    log = broker.logs[(ARCHIVE, 0)]
    log[2] = as_version_1(log[2])
    sink = ClickHouseSink(settings(ch_settings, raw_avro_events=True), client=ch, clients=broker.clients)
    sinks.append(sink)
    run_until(sink, lambda: caught_up(broker))
    assert count(ch, "events") == 2 * 5 * PER_RECORD and duplicates(ch) == 0
    assert sink.records_undecodable == 0


def test_consumer_settings(ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker,
                           sinks: list[ClickHouseSink]) -> None:
    sink = ClickHouseSink(settings(ch_settings), client=ch, clients=broker.clients)
    sinks.append(sink)
    conf = sink.consumer().conf  # type: ignore[attr-defined]
    assert conf["group.id"] == "dsom-sink-clickhouse"
    assert conf["isolation.level"] == "read_committed"
    assert conf["enable.auto.commit"] is False


def test_commits_only_after_insert_and_cuts_on_record_boundaries(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink]) -> None:
    fill(broker, records=10, partitions=1)
    client = RecordingClient(ch, broker)
    sink = ClickHouseSink(settings(ch_settings, batch_max_rows=7, batch_max_wait_s=0.5),
                          client=cast(Any, client), clients=broker.clients)
    sinks.append(sink)
    run_until(sink, lambda: caught_up(broker))
    events = [c for c in client.calls if c["table"] == "events"]
    # 7 rows -> 3 records (9 rows) per batch: whole records, never split
    assert [c["rows"] for c in events] == [9, 9, 9, 3]
    assert len(broker.commits) >= 4
    for call, commit in zip(events, broker.commits, strict=False):
        stored = max(call["src_offsets"])
        assert call["committed"].get((ARCHIVE, 0), 0) <= stored < commit[(ARCHIVE, 0)]
    assert count(ch, "events") == 30 and duplicates(ch) == 0


@pytest.mark.parametrize("raw_avro_events", [True, False])
def test_crash_between_insert_and_commit_inserts_nothing_twice(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink],
        raw_avro_events: bool) -> None:
    fill(broker, records=4)

    def crash() -> None:
        raise Crash

    broker.fail_commit = crash
    first = ClickHouseSink(settings(ch_settings, batch_max_rows=5, raw_avro_events=raw_avro_events),
                           client=ch, clients=broker.clients)
    sinks.append(first)
    with pytest.raises(Crash):
        first.run(threading.Event())
    stored = count(ch, "events")
    assert stored > 0 and broker.committed == {}

    broker.fail_commit = None
    second = ClickHouseSink(settings(ch_settings), client=ch, clients=broker.clients)
    sinks.append(second)
    run_until(second, lambda: caught_up(broker))
    assert count(ch, "events") == 2 * 4 * PER_RECORD and duplicates(ch) == 0
    assert second.rows_skipped == stored
    assert second.rows_inserted["events"] == 2 * 4 * PER_RECORD - stored
    assert_rolled_up_once(ch)


def assert_rolled_up_once(ch: Any) -> None:
    """Every rollup holds exactly what a rebuild from the stored rows gives."""
    rolled = rollup_contents(ch, DB)
    assert rolled["ggr_hourly"] and rolled["source_seq"]
    rebuild_all(ch, DB)
    assert rollup_contents(ch, DB) == rolled


@pytest.mark.parametrize("raw_avro_events", [True, False])
def test_crash_between_insert_and_roll_up_is_rolled_up_on_restart(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink],
        monkeypatch: pytest.MonkeyPatch, raw_avro_events: bool) -> None:
    """The process dies after a batch is stored and before (or while) it is rolled up: the next
    start finds the batch's rows beyond the committed offset and rolls it up by its token.
    Raw archive records are rolled up in the stream (stream_rollups.py): that process dies
    midway, after two of the batch's six roll-up inserts."""
    fill(broker, records=4)
    real_roll_up = writer_module.roll_up
    real_insert_rolled = writer_module.ClickHouseWriter._insert_rolled
    calls = 0

    def dies_on_the_third_batch(*args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Crash
        return real_roll_up(*args, **kwargs)

    def dies_midway_on_the_third_batch(self: Any, rolled: dict[str, bytes], token: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            real_insert_rolled(self, dict(list(rolled.items())[:2]), token)
            raise Crash
        real_insert_rolled(self, rolled, token)

    if raw_avro_events:
        monkeypatch.setattr(writer_module.ClickHouseWriter, "_insert_rolled", dies_midway_on_the_third_batch)
    else:
        monkeypatch.setattr(writer_module, "roll_up", dies_on_the_third_batch)
    broker.fail_commit = None
    first = ClickHouseSink(settings(ch_settings, batch_max_rows=5, raw_avro_events=raw_avro_events),
                           client=ch, clients=broker.clients)
    sinks.append(first)
    with pytest.raises(Crash):
        first.run(threading.Event())
    stored = count(ch, "events")
    rolled = int(ch.command(f"SELECT sum(events) FROM {DB}.source_seq"))
    assert rolled < stored  # the crashed batch is stored but not (wholly) rolled up
    if raw_avro_events:  # two rollups of six did get the crashed batch
        assert int(ch.command(f"SELECT sum(events) FROM {DB}.ingest_minutely")) == stored

    monkeypatch.setattr(writer_module, "roll_up", real_roll_up)
    monkeypatch.setattr(writer_module.ClickHouseWriter, "_insert_rolled", real_insert_rolled)
    second = ClickHouseSink(settings(ch_settings), client=ch, clients=broker.clients)
    sinks.append(second)
    run_until(second, lambda: caught_up(broker))
    assert count(ch, "events") == 2 * 4 * PER_RECORD and duplicates(ch) == 0
    assert int(ch.command(f"SELECT sum(events) FROM {DB}.source_seq")) == 2 * 4 * PER_RECORD
    assert_rolled_up_once(ch)


def test_a_partly_landed_insert_is_completed_row_by_row(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink]) -> None:
    """A crash between the parts of one insert (two monthly partitions) leaves some rows of a
    record stored and others not; resuming after the highest stored offset would lose them."""
    fill(broker, records=3, partitions=1)
    partial = TableBatch(EVENTS)
    for offset in (0, 2):  # every other row of records 0 and 2; record 1 not at all
        record = decoded(broker.logs[(ARCHIVE, 0)][offset], ARCHIVE_BATCH)
        keep = {a["chain_index"] for a in record["events"][::2]}
        add_archive_batch(partial.columns, record, ARCHIVE, 0, offset,
                          skip={a["chain_index"] for a in record["events"]} - keep)
        partial.add_record(ARCHIVE, 0, offset, now=0.0)
    ch.insert("events", partial.columns.as_lists(), column_names=EVENTS.column_names, database=DB,
              column_oriented=True)
    assert count(ch, "events") == 4

    sink = ClickHouseSink(settings(ch_settings), client=ch, clients=broker.clients)
    sinks.append(sink)
    run_until(sink, lambda: caught_up(broker))
    assert count(ch, "events") == 3 * PER_RECORD and duplicates(ch) == 0
    assert sink.rows_skipped == 4


def test_failed_inserts_retry_the_same_rows_and_token(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink]) -> None:
    fill(broker, records=2, partitions=1)
    client = RecordingClient(ch, broker, failures=["before", "after"])
    errors_before = sample("dsom_sink_errors_total", "events")
    sink = ClickHouseSink(settings(ch_settings), client=cast(Any, client), clients=broker.clients)
    sinks.append(sink)
    run_until(sink, lambda: caught_up(broker))
    events = [c for c in client.calls if c["table"] == "events"]
    assert len(events) == 3
    assert events[0]["data"] == events[1]["data"] == events[2]["data"]
    assert events[0]["token"] == events[1]["token"] == events[2]["token"]
    assert count(ch, "events") == 2 * PER_RECORD and duplicates(ch) == 0  # the landed "failure" counted once
    # ... and so did the materialized view, which runs even on the insert events dropped
    assert int(ch.command(f"SELECT sum(bets) FROM {DB}.ggr_hourly")) == 2 * PER_RECORD
    assert sample("dsom_sink_errors_total", "events") - errors_before == 2
    assert sink.rows_inserted["events"] == 2 * PER_RECORD


def test_nothing_more_is_consumed_while_an_insert_fails(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink]) -> None:
    fill(broker, records=2, partitions=1)
    client = RecordingClient(ch, broker, failures=["before"] * 4)
    sink = ClickHouseSink(settings(ch_settings), client=cast(Any, client), clients=broker.clients)
    sinks.append(sink)
    consumed: list[int] = []
    original = client._record

    def record(*args: Any, **kwargs: Any) -> Any:  # every insert attempt, whichever way it goes
        assert sink._consumer is not None
        consumed.append(sink._consumer.consumed)  # type: ignore[attr-defined]
        broker.append(ARCHIVE, 0, archive_batch([event(seq=99)], first_index=99))  # more keeps arriving
        return original(*args, **kwargs)

    client._record = record  # type: ignore[method-assign]
    run_until(sink, lambda: len(consumed) >= 5)
    assert consumed[:5] == [consumed[0]] * 5


def test_stop_while_clickhouse_fails_commits_nothing(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink]) -> None:
    fill(broker, records=2, partitions=1)
    client = RecordingClient(ch, broker, failures=["before"] * 1000)
    sink = ClickHouseSink(settings(ch_settings), client=cast(Any, client), clients=broker.clients)
    sinks.append(sink)
    run_until(sink, lambda: len(client.calls) >= 3)
    assert broker.committed == {} and count(ch, "events") == 0


def test_undecodable_record_is_logged_skipped_and_committed(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink],
        caplog: pytest.LogCaptureFixture) -> None:
    broker.append(ARCHIVE, 0, archive_batch([event()]))
    broker.append(ARCHIVE, 0, b"\xc3\x01garbage")
    broker.append(ARCHIVE, 0, receipt_batch([receipt(1)]))  # a known schema, but not this topic's
    broker.append(ARCHIVE, 0, archive_batch([event(seq=2)], first_index=2))
    sink = ClickHouseSink(settings(ch_settings), client=ch, clients=broker.clients)
    sinks.append(sink)
    run_until(sink, lambda: caught_up(broker))
    assert sink.records_undecodable == 2 and count(ch, "events") == 2
    assert "undecodable record dsom.archive[0]@1 skipped" in caplog.text
    assert "undecodable record dsom.archive[0]@2 skipped" in caplog.text


def test_sink_opens_its_own_client(ch_settings: ClickHouseSettings, broker: FakeBroker) -> None:
    fill(broker, records=1, partitions=1)
    sink = ClickHouseSink(settings(ch_settings), clients=broker.clients)
    try:
        run_until(sink, lambda: caught_up(broker))
        assert count(sink.client, "events") == PER_RECORD
    finally:
        sink.close()


def test_revoke_flushes_and_lost_drops(ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker,
                                       sinks: list[ClickHouseSink]) -> None:
    fill(broker, records=2, partitions=2)
    sink = ClickHouseSink(settings(ch_settings, batch_max_wait_s=60), client=ch, clients=broker.clients)
    sinks.append(sink)
    consumer: Any = sink.consumer()

    def add(p: int, offset: int) -> None:
        sink._add(Message(topic=ARCHIVE, partition=p, offset=offset, value=broker.logs[(ARCHIVE, p)][offset]))

    add(0, 0)
    add(1, 0)
    sink.revoked(consumer, [TopicPartition(ARCHIVE, 0)])  # stored and committed before letting go
    assert count(ch, "events") == 2 * PER_RECORD
    assert broker.committed == {(ARCHIVE, 0): 1, (ARCHIVE, 1): 1}
    add(0, 1)
    sink.lost(consumer, [TopicPartition(ARCHIVE, 0)])  # someone else's now: neither stored nor committed
    assert count(ch, "events") == 2 * PER_RECORD and broker.committed == {(ARCHIVE, 0): 1, (ARCHIVE, 1): 1}
    assert all(b.records == 0 for b in sink._batches.values())


def test_a_batch_of_undecoded_records_is_decoded_when_rows_must_be_left_out(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink]) -> None:
    fill(broker, records=2, partitions=2)
    sink = ClickHouseSink(settings(ch_settings, batch_max_wait_s=60), client=ch, clients=broker.clients)
    sinks.append(sink)
    # partition 1, record 0 was stored before a crash, except its first row
    record = decoded(broker.logs[(ARCHIVE, 1)][0], ARCHIVE_BATCH)
    sink.resumer.pending[(ARCHIVE, 1)] = Resume(0, {0: {a["chain_index"] for a in record["events"][1:]}})
    for p, offset in ((0, 0), (1, 0), (0, 1), (1, 1)):
        sink._add(Message(topic=ARCHIVE, partition=p, offset=offset, value=broker.logs[(ARCHIVE, p)][offset]))
    batch = sink._batches["events"]
    assert not batch.raw and batch.rows == 3 * PER_RECORD + 1
    sink._flush(cast(Any, sink.consumer()))
    assert count(ch, "events") == 3 * PER_RECORD + 1 and duplicates(ch) == 0
    assert count(ch, "events", "src_partition = 1 AND src_offset = 0") == 1


def test_too_many_stored_rows_to_read_back_resumes_after_the_highest(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink]) -> None:
    fill(broker, records=4, partitions=1)
    stored = TableBatch(EVENTS)
    for offset in (0, 1):
        add_archive_batch(stored.columns, decoded(broker.logs[(ARCHIVE, 0)][offset], ARCHIVE_BATCH), ARCHIVE,
                          0, offset)
    ch.insert("events", stored.columns.as_lists(), column_names=EVENTS.column_names, database=DB,
              column_oriented=True)
    sink = ClickHouseSink(settings(ch_settings), client=ch, clients=broker.clients)
    sinks.append(sink)
    sink.resumer.limit = 2  # committed offsets lost, and more stored than worth reading back
    run_until(sink, lambda: caught_up(broker))
    assert count(ch, "events") == 4 * PER_RECORD and duplicates(ch) == 0
    assert sink.rows_inserted["events"] == 2 * PER_RECORD and sink.rows_skipped == 0


def fill_tax(broker: FakeBroker) -> None:
    """Tax-events records: payouts, a discrepancy and statement revisions 1, 3, 2, on two partitions."""
    for value in (payout_tax_batch([payout("r1", 10_000, 1_800), payout("r2", 20_000, 0, discrepancy=True)]),
                  tax_discrepancy("r2", 20_000, 0),
                  statement(1, 100), statement(3, 300, status="CLOSED"), statement(2, 200)):
        broker.append(TAX_EVENTS_TOPIC, 0, value)
    broker.append(TAX_EVENTS_TOPIC, 1, payout_tax_batch([payout("r3", 40_000, 7_200)], operator_id="op-b"))
    broker.append(TAX_EVENTS_TOPIC, 1, payout_tax_batch([payout("r4", 1_000, 180), payout("r5", 2_000, 360)],
                                                        operator_id="op-b"))


def tax_duplicates(ch: Any) -> int:
    return int(ch.command(
        f"SELECT count() - uniqExact(src_partition, record_type, row_key) FROM {DB}.tax_events"))


def check_tax_tables(ch: Any) -> None:
    summary = queries.tax_summary(ch, DB)
    assert [(r["operator_id"], r["payouts"], r["winnings"], r["pit_due"], r["pit_withheld"],
             r["discrepancies"]) for r in summary] == [("op-a", 2, 30_000, 5_400, 1_800, 1),
                                                       ("op-b", 3, 43_000, 7_740, 7_740, 0)]
    assert [(s["operator_id"], s["period"], s["revision"], s["status"], s["ggr"])
            for s in queries.latest_statements(ch, DB)] == [("op-a", "2026-11", 3, "CLOSED", 300)]
    assert count(ch, "tax_events") == 9 and tax_duplicates(ch) == 0


def test_copies_tax_events(ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker,
                           sinks: list[ClickHouseSink]) -> None:
    fill(broker, records=1, partitions=1)
    fill_tax(broker)
    broker.append(TAX_EVENTS_TOPIC, 1, archive_batch([event()]))  # a known schema, but not a tax event
    sink = ClickHouseSink(settings(ch_settings), client=ch, clients=broker.clients)
    sinks.append(sink)
    run_until(sink, lambda: caught_up(broker))
    check_tax_tables(ch)
    assert sink.rows_inserted == {"events": PER_RECORD, "rejections": 2, "tax_events": 9, "alerts": 0,
                                  "registry_history": 0}
    assert sink.records_undecodable == 1
    assert broker.committed[(TAX_EVENTS_TOPIC, 0)] == 5 and broker.committed[(TAX_EVENTS_TOPIC, 1)] == 3
    assert sample("dsom_clickhouse_rows", "tax_events") >= 9


def test_copies_the_registry_topic_as_timelines(ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker,
                                               sinks: list[ClickHouseSink]) -> None:
    """Each registry record becomes its entity's timeline; the newest record is what is in force."""
    s = settings(ch_settings)
    topic = s.topics.registry
    data = {"kind": "licence", "operator_id": "op-a", "licence_id": "L-1", "licence_kind": "ONLINE_CASINO",
            "valid_from_us": 0, "valid_to_us": None}
    granted = Version(1, "licence", "L-1", "op-a", 0, None, 10, data)
    suspended = Version(3, "licence", "L-1", "op-a", 5_000_000, None, 20,
                        {**data, "status": "suspended", "status_reason": "unpaid fee"})
    person = Version(2, "representative", "rep-1", "op-a", 0, None, 10, {"name": "A Person"})
    broker.append(topic, 0, topic_value([granted]), key=topic_key("licence", "L-1"))
    broker.append(topic, 0, topic_value([person]), key=topic_key("representative", "rep-1"))  # not copied
    broker.append(topic, 0, topic_value([granted, suspended]), key=topic_key("licence", "L-1"))
    sink = ClickHouseSink(s, client=ch, clients=broker.clients)
    sinks.append(sink)
    run_until(sink, lambda: caught_up(broker))
    assert sink.rows_inserted["registry_history"] == 2 and broker.committed[(topic, 0)] == 3
    in_force = ch.query(f"SELECT entity_id, toUnixTimestamp64Micro(valid_from), status, seq "
                        f"FROM {DB}.registry_in_force ORDER BY valid_from").result_rows
    assert in_force == [("L-1", 0, "active", 1), ("L-1", 5_000_000, "suspended", 3)]


def test_a_new_operators_receipts_topic_is_awaited_until_it_exists(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink]) -> None:
    """The periodic metadata refresh is a minute: the sink asks for a new operator's receipts itself."""
    s = settings(ch_settings)
    receipts = s.topics.receipts("op-new")
    operator = Version(1, "operator", "op-new", "op-new", 0, None, 10, {"name": "New"})
    broker.append(s.topics.registry, 0, topic_value([operator]), key=topic_key("operator", "op-new"))
    sink = ClickHouseSink(s, client=ch, clients=broker.clients)
    sinks.append(sink)
    run_until(sink, lambda: caught_up(broker) and receipts in sink.awaited_topics)
    with broker.lock:  # the validator creates it, empty
        broker.logs[(receipts, 0)], broker.keys[(receipts, 0)] = [], []
    run_until(sink, lambda: receipts not in sink.awaited_topics, timeout=10)


def test_tax_events_crash_between_insert_and_commit_inserts_nothing_twice(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink]) -> None:
    fill_tax(broker)

    def crash() -> None:
        raise Crash

    broker.fail_commit = crash
    first = ClickHouseSink(settings(ch_settings, batch_max_rows=2), client=ch, clients=broker.clients)
    sinks.append(first)
    with pytest.raises(Crash):
        first.run(threading.Event())
    stored = count(ch, "tax_events")
    assert 0 < stored < 9 and broker.committed == {}

    broker.fail_commit = None
    second = ClickHouseSink(settings(ch_settings), client=ch, clients=broker.clients)
    sinks.append(second)
    run_until(second, lambda: caught_up(broker))
    check_tax_tables(ch)
    assert second.rows_skipped == stored and second.rows_inserted["tax_events"] == 9 - stored


def test_tax_events_subscribed_by_pattern(
        ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker, sinks: list[ClickHouseSink],
        caplog: pytest.LogCaptureFixture) -> None:
    """By pattern, so the topic is picked up once the tax agent creates it; a missing topic is
    no reason to stop."""
    sink = ClickHouseSink(settings(ch_settings), client=ch, clients=broker.clients)
    sinks.append(sink)
    consumer: Any = sink.consumer()
    run_until(sink, lambda: consumer.assigned)
    tax = [p for p in consumer.patterns if "tax" in p]
    assert tax == [r"^dsom\.tax-events$"]
    assert re.match(tax[0], TAX_EVENTS_TOPIC)
    assert not any(re.match(tax[0], t) for t in ("dsomXtax-events", "dsom.tax-events.v2", "dsom.tax-state"))
    with caplog.at_level(logging.WARNING):
        sink._consumer_error(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, "Subscribed topic not available"))
    assert "Subscribed topic not available" in caplog.text


def test_copies_alerts_and_answers_the_inboxes(ch: Any, ch_settings: ClickHouseSettings, broker: FakeBroker,
                                               sinks: list[ClickHouseSink]) -> None:
    t = 1_700_000_000_000_000
    broker.append(ALERTS_TOPIC, 0, alert("a1", "OPENED", t))
    broker.append(ALERTS_TOPIC, 0, alert("a1", "UPDATED", t + 60_000_000))
    broker.append(ALERTS_TOPIC, 0, alert("a1", "RESOLVED", t + 120_000_000))
    broker.append(ALERTS_TOPIC, 1, alert("a2", "OPENED", t + 1, rule="rg_score", operator_id="op-b",
                                          subject="op-b|p_1"))
    broker.append(ALERTS_TOPIC, 1, alert("a3", "OPENED", t + 2, rule="rg_score", operator_id="op-b",
                                          subject="op-b|p_2"))
    sink = ClickHouseSink(settings(ch_settings), client=ch, clients=broker.clients)
    sinks.append(sink)
    run_until(sink, lambda: caught_up(broker))
    assert sink.rows_inserted["alerts"] == 5
    latest = queries.latest_alerts(ch, DB)
    assert [(a["alert_id"], a["state"]) for a in latest] == [
        ("a1", "RESOLVED"), ("a3", "OPENED"), ("a2", "OPENED")]
    assert latest[0]["at_us"] == t + 120_000_000 and orjson.loads(latest[0]["measures"]) == {"z": -4.5}
    assert [a["alert_id"] for a in queries.latest_alerts(ch, DB, operator_id="op-b")] == ["a3", "a2"]
    assert [a["alert_id"] for a in queries.latest_alerts(ch, DB, without_rules=("rg_score",))] == ["a1"]
    assert [a["state"] for a in queries.latest_alerts(ch, DB, alert_id="a1")] == ["RESOLVED"]
    assert queries.alert_counts(ch, DB, ("rg_score",)) == [
        {"operator_id": "op-b", "rule": "rg_score", "alerts": 2, "still_open": 2}]
