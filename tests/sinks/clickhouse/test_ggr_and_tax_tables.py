"""GGR windows (materialized view over events) and tax-events tables, on chdb, hand-computed."""

from __future__ import annotations

from datetime import date
from typing import Any

from pipeline.core.tax import kyiv_midnight_us
from schemas import GGR_STATEMENT, PAYOUT_TAX_BATCH, TAX_DISCREPANCY, default_codec
from sinks.clickhouse import queries
from sinks.clickhouse.rows import Columns, add_archive_batch, add_tax_event
from sinks.clickhouse.tables import EVENTS, TAX_EVENTS
from tests.sinks.clickhouse.conftest import DB
from tests.sinks.clickhouse.samples import ARCHIVE, archive_batch, event

HOUR = 3_600_000_000
# 2026-11-10 00:00 Kyiv = 2026-11-09 22:00 UTC: a Kyiv-day boundary that is not a UTC one.
KYIV_DAY = kyiv_midnight_us(date(2026, 11, 10))
CODEC = default_codec()


def store_events(ch: Any, events: list[dict[str, Any]]) -> None:
    cols = Columns(EVENTS)
    _, record = CODEC.decode(archive_batch(events))
    add_archive_batch(cols, record, ARCHIVE, 0, 1)
    ch.insert(EVENTS.name, cols.as_lists(), column_names=EVENTS.column_names, database=DB,
              column_oriented=True)


def test_ggr_windows_per_granularity(ch: Any) -> None:
    t1 = KYIV_DAY - HOUR // 2          # 21:30 UTC on Nov 9, 23:30 Kyiv on Nov 9
    t2 = KYIV_DAY + HOUR // 2          # 22:30 UTC on Nov 9, 00:30 Kyiv on Nov 10
    store_events(ch, [
        event(seq=1, kind="BET", amount=10_000, occurred_at_us=t1, player_ref="p_PLAYER0001"),
        event(seq=2, kind="REFUND", amount=4_000, occurred_at_us=t1, player_ref="p_PLAYER0001"),
        event(seq=3, kind="BET", amount=7_000, occurred_at_us=t2, player_ref="p_PLAYER0002", bet_ref="b2"),
        event(seq=4, kind="WIN", amount=25_000, occurred_at_us=t2, player_ref="p_PLAYER0002", bet_ref="b2",
              tax_withheld_pit=4_500, tax_withheld_military=1_250),
        event(seq=5, kind="DEPOSIT", amount=99_999, occurred_at_us=t2, bet_ref=None),  # not GGR
    ])

    def windows(granularity: str) -> list[tuple[int, int, int, int, int, int, int]]:
        return [(w["window_start_us"], w["stakes"], w["refunds"], w["winnings"], w["ggr"], w["bets"],
                 w["active_players"]) for w in queries.ggr_windows(ch, DB, granularity)]

    h1, h2 = KYIV_DAY - HOUR, KYIV_DAY  # the two UTC hours
    assert windows("hour") == [(h1, 10_000, 4_000, 0, 6_000, 1, 1), (h2, 7_000, 0, 25_000, -18_000, 1, 1)]
    utc_day = KYIV_DAY - 22 * HOUR  # 2026-11-09 00:00 UTC: both hours are in it
    assert windows("day") == [(utc_day, 17_000, 4_000, 25_000, -12_000, 2, 2)]
    assert windows("kyiv_day") == [(KYIV_DAY - 24 * HOUR, 10_000, 4_000, 0, 6_000, 1, 1),
                                   (KYIV_DAY, 7_000, 0, 25_000, -18_000, 1, 1)]
    assert windows("month") == [(kyiv_midnight_us(date(2026, 11, 1)) + 2 * HOUR,
                                 17_000, 4_000, 25_000, -12_000, 2, 2)]
    assert windows("kyiv_month") == [(kyiv_midnight_us(date(2026, 11, 1)), 17_000, 4_000, 25_000,
                                      -12_000, 2, 2)]
    # a late event lands in its own hour; the others are untouched
    store_events(ch, [event(seq=6, kind="BET", amount=1_000, occurred_at_us=t1, player_ref="p_PLAYER0003")])
    assert windows("hour")[0] == (h1, 11_000, 4_000, 0, 7_000, 2, 2)
    assert windows("hour")[1] == (h2, 7_000, 0, 25_000, -18_000, 1, 1)


def payout(receipt_id: str, amount: int, pit_withheld: int, discrepancy: bool = False) -> dict[str, Any]:
    return {"receipt_id": receipt_id, "licence_id": "LIC-OC-1", "licence_kind": "ONLINE_CASINO",
            "player_ref": "p_PLAYER0001", "occurred_at_us": KYIV_DAY, "amount": amount,
            "pit_rate_ppm": 180_000, "military_rate_ppm": 50_000, "pit_due": amount * 18 // 100,
            "military_due": amount * 5 // 100, "pit_withheld": pit_withheld,
            "military_withheld": amount * 5 // 100, "discrepancy": discrepancy}


def statement(revision: int, ggr: int) -> dict[str, Any]:
    return {"operator_id": "op-a", "period": "2026-11", "period_start_us": 1, "period_end_us": 2,
            "revision": revision, "status": "CLOSED" if revision == 3 else "OPEN", "stakes": ggr,
            "refunds": 0, "winnings": 0, "ggr": ggr, "bets": 1, "payouts": 0, "ggr_tax_rate_ppm": 100_000,
            "ggr_tax_due": ggr // 10, "pit_due": 0, "military_due": 0, "pit_withheld": 0,
            "military_withheld": 0, "discrepancies": 0, "issued_at_us": 5}


def test_tax_events_tables(ch: Any) -> None:
    cols = Columns(TAX_EVENTS)
    records = [
        (PAYOUT_TAX_BATCH, {"operator_id": "op-a", "chain_id": "c/0", "ingest_offset": 1,
                            "payouts": [payout("r1", 10_000, 1_800), payout("r2", 20_000, 0, True)]}),
        (TAX_DISCREPANCY, {"receipt_id": "r2", "operator_id": "op-a", "licence_id": "LIC-OC-1",
                           "occurred_at_us": KYIV_DAY, "amount": 20_000, "pit_due": 3_600, "pit_withheld": 0,
                           "military_due": 1_000, "military_withheld": 1_000, "tolerance": 1}),
        (GGR_STATEMENT, statement(1, 100)), (GGR_STATEMENT, statement(3, 300)),
        (GGR_STATEMENT, statement(2, 200)),
    ]
    for offset, (schema, record) in enumerate(records):
        name, decoded = CODEC.decode(CODEC.encode(schema, record))
        add_tax_event(cols, name, decoded, "dsom.tax-events", 0, offset)
    ch.insert(TAX_EVENTS.name, cols.as_lists(), column_names=TAX_EVENTS.column_names, database=DB,
              column_oriented=True)
    assert queries.tax_summary(ch, DB) == [{
        "operator_id": "op-a", "payouts": 2, "winnings": 30_000, "pit_due": 5_400, "military_due": 1_500,
        "pit_withheld": 1_800, "military_withheld": 1_500, "discrepancies": 1}]
    latest = queries.latest_statements(ch, DB)
    assert [(s["period"], s["revision"], s["status"], s["ggr"], s["ggr_tax_due"]) for s in latest] == [
        ("2026-11", 3, "CLOSED", 300, 30)]
    assert ch.query(f"SELECT count() FROM {DB}.payout_taxes").result_rows == [(2,)]
    assert ch.query(f"SELECT receipt_id FROM {DB}.tax_discrepancies").result_rows == [("r2",)]
