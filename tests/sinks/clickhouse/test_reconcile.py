"""verify-clickhouse's comparison on embedded chdb: rows as the sink stores them, then edited,
deleted and inserted behind its back, each found and located by operator, hour and receipt."""

from __future__ import annotations

from typing import Any

from pipeline.core.reconcile import HOUR_US, archive_bucket_rows, archive_totals, hour_text
from schemas import ARCHIVE_BATCH
from sinks.clickhouse.batch import TableBatch
from sinks.clickhouse.reconcile import reconcile
from sinks.clickhouse.rows import add_archive_batch
from sinks.clickhouse.tables import EVENTS
from tests.sinks.clickhouse.conftest import DB
from tests.sinks.clickhouse.samples import ARCHIVE, NOW_US, archive_batch, decoded, event
from tests.sinks.clickhouse.test_chdb import insert

FROM, TO = NOW_US - 10 * HOUR_US, NOW_US + HOUR_US


def _batches() -> list[dict[str, Any]]:
    out = []
    for r, op in enumerate(["op-a", "op-b", "op-a"]):
        evs = [event(seq=r * 4 + i + 1, amount=1000 * (i + 1), occurred_at_us=NOW_US - i * HOUR_US - 5)
               for i in range(4)]
        out.append(decoded(archive_batch(evs, first_index=r * 4 + 1, operator_id=op), ARCHIVE_BATCH))
    return out


def _check(ch: Any, batches: list[dict[str, Any]]) -> list[str]:
    result = reconcile(ch, DB, FROM, TO, archive_totals(batches, FROM, TO),
                       lambda buckets: archive_bucket_rows(batches, FROM, TO, buckets))
    return result.findings


def test_clickhouse_matches_the_archive_until_a_row_is_edited_deleted_or_inserted(ch: Any) -> None:
    batches = _batches()
    table = TableBatch(EVENTS)
    for offset, batch in enumerate(batches):
        add_archive_batch(table.columns, batch, ARCHIVE, 0, offset)
        table.add_record(ARCHIVE, 0, offset, now=0.0)
    insert(ch, table)
    totals = archive_totals(batches, FROM, TO)
    assert sum(t.rows for t in totals.values()) == 12 and len(totals) == 8  # 2 operators x 4 hours
    assert _check(ch, batches) == []

    edited = batches[0]["events"][1]["receipt_id"]
    deleted = batches[1]["events"][2]["receipt_id"]
    ch.command(f"ALTER TABLE {DB}.events UPDATE amount = amount + 100 WHERE receipt_id = '{edited}' "
               "SETTINGS mutations_sync = 1")
    ch.command(f"ALTER TABLE {DB}.events DELETE WHERE receipt_id = '{deleted}' SETTINGS mutations_sync = 1")
    forged = TableBatch(EVENTS)  # a deposit no operator sent, in the sink's own format
    deposit = archive_batch([event(seq=99, kind="DEPOSIT", amount=99_900_000)], first_index=100)
    add_archive_batch(forged.columns, decoded(deposit, ARCHIVE_BATCH), ARCHIVE, 0, 99)
    forged.add_record(ARCHIVE, 0, 99, now=0.0)
    insert(ch, forged)
    hour = lambda i: hour_text((NOW_US - i * HOUR_US - 5) // HOUR_US)  # noqa: E731
    assert sorted(_check(ch, batches)) == sorted([
        f"operator op-a, hour {hour(1)}: row {edited} was edited: amount '2000' in the archive, "
        f"'2100' in ClickHouse",
        f"operator op-b, hour {hour(2)}: row {deleted} of the archive is missing from ClickHouse (deleted)",
        f"operator op-a, hour {hour_text((NOW_US - 1_000_001) // HOUR_US)}: row r-00000100 is in ClickHouse "
        f"but not in the archive (inserted)",
    ])
