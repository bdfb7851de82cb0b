"""Tables, inserts, deduplication and queries on embedded chdb (a fresh folder per test)."""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.settings import REPO_ROOT, ClickHouseSettings
from schemas import ARCHIVE_BATCH, RECEIPT_BATCH
from sinks.clickhouse import queries
from sinks.clickhouse.batch import TableBatch
from sinks.clickhouse.client import ClickHouseUnavailableError, connect, redacted
from sinks.clickhouse.rows import MAX_TIME_US, add_archive_batch, add_receipt_batch
from sinks.clickhouse.tables import EVENTS, REJECTIONS, SchemaMismatchError, create_tables
from tests.sinks.clickhouse.conftest import DB
from tests.sinks.clickhouse.samples import (
    ARCHIVE,
    NOW_US,
    RECEIPTS,
    archive_batch,
    decoded,
    event,
    receipt,
    receipt_batch,
)

JAN_31_US = 1_801_439_999_999_999  # 2027-01-31 23:59:59.999999 UTC
BIG_KOPECKS = 2**53 + 1  # not representable as a float: proves money never passes through one


def insert(ch: Any, batch: TableBatch) -> None:
    t = batch.table
    ch.insert(t.name, batch.columns.as_lists(), column_names=t.column_names, database=DB,
              column_type_names=t.column_types, column_oriented=True,
              settings={"insert_deduplication_token": batch.token()})


def events_batch(n_records: int = 3, per_record: int = 4, partition: int = 0,
                 first_offset: int = 0, month_boundary: bool = False) -> TableBatch:
    batch = TableBatch(EVENTS)
    for r in range(n_records):
        evs = [event(seq=r * per_record + i + 1, amount=BIG_KOPECKS + i,
                     occurred_at_us=(JAN_31_US + i if month_boundary else NOW_US - 1_000_001 - i))
               for i in range(per_record)]
        record = decoded(archive_batch(evs, first_index=r * per_record + 1), ARCHIVE_BATCH)
        offset = first_offset + r
        add_archive_batch(batch.columns, record, ARCHIVE, partition, offset)
        batch.add_record(ARCHIVE, partition, offset, now=0.0)
    return batch


def count(ch: Any, table: str) -> int:
    return int(ch.command(f"SELECT count() FROM {DB}.{table}"))


def test_create_tables_is_idempotent_and_checks_columns(ch: Any) -> None:
    create_tables(ch, DB)
    assert queries.table_counts(ch, DB) == {"events": 0, "rejections": 0, "tax_events": 0, "alerts": 0,
                                          "registry_history": 0}
    ch.command("CREATE DATABASE other")
    ch.command("CREATE TABLE other.events (receipt_id String, amount Float64) ENGINE = MergeTree ORDER BY ()")
    with pytest.raises(SchemaMismatchError, match=r"amount is Float64 \(want Int64\)"):
        create_tables(ch, "other")


def test_same_batch_twice_with_same_token_lands_once(ch: Any) -> None:
    batch = events_batch()
    before = copy.deepcopy(batch.columns.as_lists())
    insert(ch, batch)
    assert batch.columns.as_lists() == before  # the insert does not alter the rows: a retry is identical
    insert(ch, batch)
    assert count(ch, "events") == 12
    other = events_batch(first_offset=3)  # other offsets: another token, lands
    insert(ch, other)
    assert count(ch, "events") == 24


def test_dedup_holds_when_an_insert_spans_two_monthly_partitions(ch: Any) -> None:
    batch = events_batch(n_records=2, per_record=3, month_boundary=True)
    insert(ch, batch)
    insert(ch, batch)
    parts = ch.query(f"SELECT _partition_id, count() FROM {DB}.events GROUP BY 1 ORDER BY 1").result_rows
    assert parts == [("202701", 2), ("202702", 4)]


def test_rejections_dedup(ch: Any) -> None:
    batch = TableBatch(REJECTIONS)
    record = decoded(receipt_batch([receipt(1), receipt(2, status="ACCEPTED"), receipt(3)]), RECEIPT_BATCH)
    add_receipt_batch(batch.columns, record, RECEIPTS, 1, 8)
    batch.add_record(RECEIPTS, 1, 8, now=0.0)
    insert(ch, batch)
    insert(ch, batch)
    assert count(ch, "rejections") == 2


def test_kopecks_and_microseconds_round_trip_exactly(ch: Any) -> None:
    batch = events_batch(n_records=1, per_record=3)
    insert(ch, batch)
    rows = ch.query(f"SELECT amount, toUnixTimestamp64Micro(occurred_at), "
                    f"toUnixTimestamp64Micro(received_at), toTypeName(amount) FROM {DB}.events ORDER BY seq"
                    ).result_rows
    assert rows == [(BIG_KOPECKS + i, NOW_US - 1_000_001 - i, NOW_US, "Int64") for i in range(3)]
    assert int(ch.command(f"SELECT sum(amount) FROM {DB}.events")) == 3 * BIG_KOPECKS + 3
    # Reading back as ints (no datetime conversion) gives the same exact values.
    got = ch.query(f"SELECT occurred_at FROM {DB}.events ORDER BY seq", query_formats={"DateTime64*": "int"})
    assert [r[0] for r in got.result_rows] == [NOW_US - 1_000_001 - i for i in range(3)]
    # As datetimes, chdb gives naive values (UTC) - never rely on their tzinfo.
    first = ch.query(f"SELECT occurred_at FROM {DB}.events ORDER BY seq LIMIT 1").result_rows[0][0]
    assert first.tzinfo is None and first.microsecond == (NOW_US - 1_000_001) % 1_000_000


def test_rejection_times_and_nulls_round_trip(ch: Any) -> None:
    batch = TableBatch(REJECTIONS)
    record = decoded(receipt_batch([
        receipt(None, reason="malformed", kind=None, amount=None, occurred_at_us=None),
        receipt(-3, reason="future_time", amount=-5, occurred_at_us=2**62),
    ]), RECEIPT_BATCH)
    add_receipt_batch(batch.columns, record, RECEIPTS, 0, 1)
    batch.add_record(RECEIPTS, 0, 1, now=0.0)
    insert(ch, batch)
    rows = ch.query(f"SELECT seq, amount, toUnixTimestamp64Micro(occurred_at), "
                    f"toUnixTimestamp64Micro(processed_at), occurred_at FROM {DB}.rejections "
                    "ORDER BY seq NULLS FIRST").result_rows
    assert rows[0][:4] == (None, None, None, NOW_US + 11)
    assert rows[1][:4] == (-3, -5, MAX_TIME_US, NOW_US + 11)
    assert rows[1][4].year == 2299  # clamped, still readable as a datetime


def test_queries(ch: Any) -> None:
    batch = TableBatch(EVENTS)
    evs = [event(seq=1, amount=10_000), event(seq=2, kind="WIN", amount=3_000, tax_withheld_pit=540,
                                                tax_withheld_military=150),
           event(seq=3, kind="REFUND", amount=1_000), event(seq=4, kind="DEPOSIT", amount=50_000)]
    add_archive_batch(batch.columns, decoded(archive_batch(evs), ARCHIVE_BATCH), ARCHIVE, 2, 17)
    batch.add_record(ARCHIVE, 2, 17, now=0.0)
    insert(ch, batch)
    rej = TableBatch(REJECTIONS)
    add_receipt_batch(rej.columns, decoded(receipt_batch([receipt(5), receipt(6)]), RECEIPT_BATCH),
                      RECEIPTS, 1, 3)
    rej.add_record(RECEIPTS, 1, 3, now=0.0)
    insert(ch, rej)

    assert queries.event_summary(ch, DB) == [("op-a", "BET", 1, 10_000), ("op-a", "DEPOSIT", 1, 50_000),
                                             ("op-a", "REFUND", 1, 1_000), ("op-a", "WIN", 1, 3_000)]
    assert queries.rejection_summary(ch, DB) == [("op-a", "unknown_licence", 2)]
    (ggr,) = queries.ggr_by_operator(ch, DB)
    assert ggr == {"operator_id": "op-a", "licence_kind": "ONLINE_CASINO", "stakes": 10_000, "refunds": 1_000,
                   "winnings": 3_000, "ggr": 6_000, "pit_withheld": 540, "military_withheld": 150}
    assert queries.ggr_by_operator(ch, DB, since_us=NOW_US) == []
    assert queries.table_counts(ch, DB) == {"events": 4, "rejections": 2, "tax_events": 0, "alerts": 0,
                                          "registry_history": 0}
    assert queries.max_src_offsets(ch, DB, EVENTS) == {(ARCHIVE, 2): 17}
    assert queries.max_src_offsets(ch, DB, REJECTIONS) == {(RECEIPTS, 1): 3}
    assert queries.stored_keys(ch, DB, EVENTS, (ARCHIVE, 2), 0, 17, limit=10) == {17: {1, 2, 3, 4}}
    assert queries.stored_keys(ch, DB, EVENTS, (ARCHIVE, 2), 0, 17, limit=3) is None
    assert queries.stored_keys(ch, DB, EVENTS, (ARCHIVE, 1), 0, 17, limit=10) == {}
    assert queries.stored_keys(ch, DB, REJECTIONS, (RECEIPTS, 1), 3, 3, limit=10) == {3: {"rc-5", "rc-6"}}


def test_a_second_process_gets_a_clear_error(ch: Any, ch_settings: ClickHouseSettings) -> None:
    code = textwrap.dedent(f"""
        from pipeline.settings import ClickHouseSettings
        from sinks.clickhouse.client import connect
        connect(ClickHouseSettings(dsn={ch_settings.dsn.get_secret_value()!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert "is owned by another process (the running pipeline? pid " in proc.stderr


def test_one_folder_per_process(ch: Any, tmp_path: Path) -> None:
    with pytest.raises(ClickHouseUnavailableError, match="one process can open only one chdb folder"):
        connect(ClickHouseSettings(dsn=SecretStr(f"chdb://{tmp_path / 'another'}")))


def test_redacted_hides_credentials() -> None:
    assert redacted("https://dsom:s3cret@ch.example:8443/db?x=1") == "https://ch.example:8443"
    assert redacted("chdb:///var/lib/dsom?x=1") == "chdb:///var/lib/dsom"


def test_chdb_allocator_gives_freed_pages_back_as_set_unless_told_otherwise(monkeypatch: Any) -> None:
    from sinks.clickhouse import client as client_module  # noqa: PLC0415 - the private helper

    monkeypatch.delitem(sys.modules, "chdb", raising=False)
    monkeypatch.delenv("JE_MALLOC_CONF", raising=False)
    client_module._tune_chdb_allocator(300)
    assert client_module.os.environ["JE_MALLOC_CONF"] == "dirty_decay_ms:300"
    monkeypatch.setenv("JE_MALLOC_CONF", "narenas:1")  # set by hand: left alone
    client_module._tune_chdb_allocator(300)
    assert client_module.os.environ["JE_MALLOC_CONF"] == "narenas:1"
    monkeypatch.delenv("JE_MALLOC_CONF")
    monkeypatch.setitem(sys.modules, "chdb", object())  # already loaded: too late to matter
    client_module._tune_chdb_allocator(300)
    assert "JE_MALLOC_CONF" not in client_module.os.environ
