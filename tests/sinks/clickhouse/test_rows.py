"""rows.py, batch.py and tables.py: pure, no ClickHouse and no Kafka."""

from __future__ import annotations

import pytest

from schemas import ARCHIVE_BATCH, RECEIPT_BATCH
from sinks.clickhouse.batch import TableBatch
from sinks.clickhouse.rows import MAX_TIME_US, MIN_TIME_US, Columns, add_archive_batch, add_receipt_batch
from sinks.clickhouse.tables import EVENTS, REJECTIONS
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


def test_archive_batch_to_event_rows() -> None:
    win = event(seq=2, kind="WIN", amount=30_000, tax_withheld_pit=5_400, tax_withheld_military=1_500,
                channel="ESTABLISHMENT", site_id=None, establishment_id="est-1", equipment_id="slot-9",
                licence_kind="SLOT_HALL", round_ref=None)
    record = decoded(archive_batch([event(), win], first_index=41, ingest_offset=12), ARCHIVE_BATCH)
    cols = Columns(EVENTS)
    assert add_archive_batch(cols, record, ARCHIVE, 4, 1234) == 2
    assert cols.rows == 2
    assert all(len(v) == 2 for v in cols.as_lists())
    bet_row, win_row = cols.as_rows()
    assert bet_row == {
        "receipt_id": "r-00000041", "operator_id": "op-a", "source_id": "s1", "seq": 1,
        "operator_ref": "tx-1", "kind": "BET", "licence_id": "LIC-OC-1", "licence_kind": "ONLINE_CASINO",
        "channel": "SITE", "establishment_id": "", "equipment_id": "", "site_id": "casino.example.ua",
        "app_id": "", "game_type": "slots", "round_ref": "r1", "bet_ref": "b1", "player_ref": "p_ABCDEFGH23",
        "amount": 10_000, "currency": "UAH", "occurred_at": NOW_US - 1_000_001, "received_at": NOW_US,
        "tax_withheld_pit": 0, "tax_withheld_military": 0, "chain_id": "dsom.ingest.op-a/0",
        "chain_index": 41, "hash": bet_row["hash"], "src_topic": ARCHIVE, "src_partition": 4,
        "src_offset": 1234,
    }
    assert isinstance(bet_row["hash"], bytes) and len(bet_row["hash"]) == 32
    assert (win_row["kind"], win_row["amount"], win_row["tax_withheld_pit"],
            win_row["tax_withheld_military"]) == ("WIN", 30_000, 5_400, 1_500)
    assert (win_row["establishment_id"], win_row["equipment_id"], win_row["site_id"],
            win_row["round_ref"], win_row["chain_index"]) == ("est-1", "slot-9", "", "", 42)


def test_column_order_is_the_tables() -> None:
    for table in (EVENTS, REJECTIONS):
        assert list(Columns(table).data) == list(table.column_names)
        assert len(set(table.column_names)) == len(table.column_names)
        ddl = table.ddl("dsom")
        positions = [ddl.index(f"`{name}` ") for name in table.column_names]
        assert positions == sorted(positions)


def test_skip_leaves_out_rows_already_stored() -> None:
    record = decoded(archive_batch([event(seq=i) for i in range(1, 6)], first_index=10), ARCHIVE_BATCH)
    cols = Columns(EVENTS)
    assert add_archive_batch(cols, record, ARCHIVE, 0, 0, skip={10, 12, 14}) == 2
    assert cols.data["chain_index"] == [11, 13]


def test_a_failing_record_leaves_no_partial_row() -> None:
    good = decoded(archive_batch([event()]), ARCHIVE_BATCH)
    bad = decoded(archive_batch([event(), event(seq=2)]), ARCHIVE_BATCH)
    del bad["events"][1]["event"]["currency"]
    cols = Columns(EVENTS)
    add_archive_batch(cols, good, ARCHIVE, 0, 0)
    with pytest.raises(KeyError):
        add_archive_batch(cols, bad, ARCHIVE, 0, 1)
    assert cols.rows == 1 and all(len(v) == 1 for v in cols.as_lists())


def test_receipt_batch_keeps_only_rejections() -> None:
    record = decoded(receipt_batch([
        receipt(1),
        receipt(2, status="ACCEPTED"),
        receipt(-3, reason="invalid_sequence", amount=-5),
        receipt(4, reason="future_time", occurred_at_us=2**62),
        receipt(5, reason="too_late", occurred_at_us=-(2**62)),
    ], ingest_offset=99), RECEIPT_BATCH)
    cols = Columns(REJECTIONS)
    assert add_receipt_batch(cols, record, RECEIPTS, 2, 40) == 4
    rows = cols.as_rows()
    assert [r["seq"] for r in rows] == [1, -3, 4, 5]
    assert rows[0] == {
        "operator_id": "op-a", "source_id": "s1", "seq": 1, "operator_ref": "tx-1", "receipt_id": "rc-1",
        "reason": "unknown_licence", "detail": "no such licence", "kind": "BET", "amount": 10_000,
        "occurred_at": NOW_US - 5, "processed_at": NOW_US + 11, "ingest_topic": "dsom.ingest.op-a",
        "ingest_partition": 1, "ingest_offset": 99, "src_topic": RECEIPTS, "src_partition": 2,
        "src_offset": 40,
    }
    assert rows[1]["amount"] == -5
    assert (rows[2]["occurred_at"], rows[3]["occurred_at"]) == (MAX_TIME_US, MIN_TIME_US)


def test_record_level_rejection_has_nulls() -> None:
    record = decoded(receipt_batch([receipt(None, reason="malformed", kind=None, amount=None,
                                            occurred_at_us=None)], source_id=None), RECEIPT_BATCH)
    cols = Columns(REJECTIONS)
    add_receipt_batch(cols, record, RECEIPTS, 0, 3, skip={"rc-other"})
    (row,) = cols.as_rows()
    assert (row["seq"], row["source_id"], row["operator_ref"], row["kind"], row["amount"],
            row["occurred_at"]) == (None, "", "", "", None, None)
    assert add_receipt_batch(cols, record, RECEIPTS, 0, 4, skip={"rc-None"}) == 0


def _batch(*offsets: tuple[str, int, int], rows: int = 0) -> TableBatch:
    b = TableBatch(EVENTS)
    for topic, partition, offset in offsets:
        b.add_record(topic, partition, offset, now=1.0)
    b.columns.rows = rows
    return b


def test_token_is_a_function_of_offsets_and_counts() -> None:
    a = _batch((ARCHIVE, 0, 5), (ARCHIVE, 1, 9), (ARCHIVE, 0, 6), rows=10)
    b = _batch((ARCHIVE, 1, 9), (ARCHIVE, 0, 5), (ARCHIVE, 0, 6), rows=10)
    assert a.token() == b.token()
    assert a.description() == "events|dsom.archive:0:5-6,dsom.archive:1:9-9|rows=10|skipped=0"
    assert a.token() != _batch((ARCHIVE, 0, 5), (ARCHIVE, 1, 9), rows=10).token()
    assert a.token() != _batch((ARCHIVE, 0, 5), (ARCHIVE, 1, 9), (ARCHIVE, 0, 6), rows=9).token()
    skipped = TableBatch(EVENTS)
    skipped.add_record(ARCHIVE, 0, 5, now=1.0, skipped_rows=3)
    assert skipped.token() != _batch((ARCHIVE, 0, 5)).token()
    assert a.commit_positions() == {(ARCHIVE, 0): 7, (ARCHIVE, 1): 10}
    assert len(a.token()) < 64


def test_batch_offsets_only_move_forward() -> None:
    b = _batch((ARCHIVE, 0, 5))
    with pytest.raises(ValueError, match="not after"):
        b.add_record(ARCHIVE, 0, 5, now=2.0)
    assert b.covers({(ARCHIVE, 0)}) and not b.covers({(ARCHIVE, 1)})
    assert b.age(3.5) == 2.5
    b.clear()
    assert (b.records, b.rows, b.ranges, b.started) == (0, 0, {}, None)


def test_ddl_choices() -> None:
    events, rejections = EVENTS.ddl("dsom"), REJECTIONS.ddl("dsom")
    for ddl in (events, rejections):
        assert "non_replicated_deduplication_window = 10000" in ddl
        assert "Decimal" not in ddl and "Float" not in ddl
        assert "CREATE TABLE IF NOT EXISTS `dsom`." in ddl
    assert "TTL" not in events  # the legal record is never expired by a background job
    assert "TTL toDateTime(processed_at) + INTERVAL 2 YEAR" in rejections
    assert "PARTITION BY toYYYYMM(occurred_at)" in events
