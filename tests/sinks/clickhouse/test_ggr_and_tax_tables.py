"""GGR windows (the ggr_hourly rollup of events) and the tax-events table, on chdb, against
numbers worked out by hand; the rollups' exactly-once roll-up across retries and crashes."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from pipeline.core.tax import kyiv_midnight_us
from schemas import ARCHIVE_BATCH, default_codec
from sinks.clickhouse import queries
from sinks.clickhouse.batch import TableBatch
from sinks.clickhouse.rollups import GGR_HOURLY, TOKEN_COLUMN, rebuild_all, roll_up
from sinks.clickhouse.rows import Columns, add_archive_batch, add_tax_event
from sinks.clickhouse.tables import EVENTS, TAX_EVENTS, Table, create_tables
from tests.sinks.clickhouse.conftest import DB
from tests.sinks.clickhouse.samples import (
    ARCHIVE,
    NOV_END_US,
    NOV_START_US,
    NOW_US,
    TAX_EVENTS_TOPIC,
    archive_batch,
    decoded,
    event,
    payout,
    payout_tax_batch,
    rollup_contents,
    statement,
    tax_discrepancy,
)

HOUR = 3_600_000_000
# 2026-11-10 00:00 Kyiv = 2026-11-09 22:00 UTC: a Kyiv-day boundary that is not a UTC one.
KYIV_DAY = kyiv_midnight_us(date(2026, 11, 10))
NOV_KYIV = kyiv_midnight_us(date(2026, 11, 1))  # 2026-10-31 22:00 UTC
DEC_KYIV = kyiv_midnight_us(date(2026, 12, 1))  # 2026-11-30 22:00 UTC: still November in UTC
CODEC = default_codec()
P1, P2, P3, P9 = "p_PLAYER0001", "p_PLAYER0002", "p_PLAYER0003", "p_PLAYER0009"

_next_index = iter(range(1, 1_000_000))


def insert_tokened(ch: Any, table: Table, cols: Columns, token: str, database: str = DB) -> None:
    """Insert as the sink does: the rows with their batch's token, deduplicated by it."""
    ch.insert(table.name, [*cols.as_lists(), [token] * cols.rows], database=database,
              column_names=(*table.column_names, TOKEN_COLUMN),
              column_type_names=(*table.column_types, "LowCardinality(String)"), column_oriented=True,
              settings={"insert_deduplication_token": token, "insert_deduplicate": 1})


def store_events(ch: Any, events: list[dict[str, Any]], operator_id: str = "op-a", database: str = DB,
                 offset: int = 1) -> None:
    """One archive record of ``events``, stored and rolled up under a token of its own."""
    first = next(_next_index)
    for _ in events[1:]:
        next(_next_index)
    cols = Columns(EVENTS)
    record = decoded(archive_batch(events, first_index=first, operator_id=operator_id), ARCHIVE_BATCH)
    add_archive_batch(cols, record, ARCHIVE, 0, offset)
    insert_tokened(ch, EVENTS, cols, f"test-{first}", database)
    roll_up(ch, database, "events", f"test-{first}")


def store_sample(ch: Any, database: str = DB) -> None:
    t1 = KYIV_DAY - HOUR // 2  # 21:30 UTC on Nov 9, 23:30 Kyiv on Nov 9
    t2 = KYIV_DAY + HOUR // 2  # 22:30 UTC on Nov 9, 00:30 Kyiv on Nov 10
    t3 = DEC_KYIV + HOUR // 2  # 22:30 UTC on Nov 30, 00:30 Kyiv on Dec 1
    store_events(ch, [
        event(seq=1, kind="BET", amount=10_000, occurred_at_us=t1, player_ref=P1),
        event(seq=2, kind="REFUND", amount=4_000, occurred_at_us=t1, player_ref=P1),
        event(seq=3, kind="BET", amount=7_000, occurred_at_us=t2, player_ref=P2, bet_ref="b2"),
        event(seq=4, kind="WIN", amount=25_000, occurred_at_us=t2, player_ref=P2, bet_ref="b2",
              tax_withheld_pit=4_500, tax_withheld_military=1_250),
        event(seq=5, kind="DEPOSIT", amount=99_999, occurred_at_us=t2, player_ref=P1, bet_ref=None),
        event(seq=6, kind="WITHDRAWAL", amount=55_555, occurred_at_us=t1, player_ref=P2, bet_ref=None),
        event(seq=7, kind="BET", amount=3_000, occurred_at_us=t2, player_ref=P1, game_type="roulette",
              bet_ref="b3"),
        event(seq=8, kind="BET", amount=2_000, occurred_at_us=t3, player_ref=P3, bet_ref="b4"),
    ], database=database)
    store_events(ch, [event(seq=1, kind="BET", amount=500, occurred_at_us=t1, player_ref=P9)],
                 operator_id="op-b", database=database)


Row = tuple[int, str, str, int, int, int, int, int, int, int]


def windows(ch: Any, granularity: str, database: str = DB, **kwargs: Any) -> list[Row]:
    """(start, operator, game, stakes, refunds, winnings, ggr, bets, payouts, players); all ints."""
    out = []
    for w in queries.ggr_windows(ch, database, granularity, **kwargs):
        assert w["licence_kind"] == "ONLINE_CASINO"
        assert all(type(w[k]) is int for k in w if k not in ("operator_id", "licence_kind", "game_type"))
        out.append((w["window_start_us"], w["operator_id"], w["game_type"], w["stakes"], w["refunds"],
                    w["winnings"], w["ggr"], w["bets"], w["payouts"], w["active_players"]))
    return out


def test_ggr_windows_per_granularity(ch: Any) -> None:
    store_sample(ch)
    h1, h2, h3 = KYIV_DAY - HOUR, KYIV_DAY, DEC_KYIV  # the UTC hours with events
    assert windows(ch, "hour") == [
        (h1, "op-a", "slots", 10_000, 4_000, 0, 6_000, 1, 0, 1),
        (h1, "op-b", "slots", 500, 0, 0, 500, 1, 0, 1),
        (h2, "op-a", "roulette", 3_000, 0, 0, 3_000, 1, 0, 1),
        (h2, "op-a", "slots", 7_000, 0, 25_000, -18_000, 1, 1, 1),
        (h3, "op-a", "slots", 2_000, 0, 0, 2_000, 1, 0, 1),
    ]
    nov9, nov30 = KYIV_DAY - 22 * HOUR, DEC_KYIV - 22 * HOUR  # UTC midnights
    assert windows(ch, "day") == [
        (nov9, "op-a", "roulette", 3_000, 0, 0, 3_000, 1, 0, 1),
        (nov9, "op-a", "slots", 17_000, 4_000, 25_000, -12_000, 2, 1, 2),
        (nov9, "op-b", "slots", 500, 0, 0, 500, 1, 0, 1),
        (nov30, "op-a", "slots", 2_000, 0, 0, 2_000, 1, 0, 1),
    ]
    # the same two hours fall on two Kyiv days
    assert windows(ch, "kyiv_day") == [
        (KYIV_DAY - 24 * HOUR, "op-a", "slots", 10_000, 4_000, 0, 6_000, 1, 0, 1),
        (KYIV_DAY - 24 * HOUR, "op-b", "slots", 500, 0, 0, 500, 1, 0, 1),
        (KYIV_DAY, "op-a", "roulette", 3_000, 0, 0, 3_000, 1, 0, 1),
        (KYIV_DAY, "op-a", "slots", 7_000, 0, 25_000, -18_000, 1, 1, 1),
        (DEC_KYIV, "op-a", "slots", 2_000, 0, 0, 2_000, 1, 0, 1),
    ]
    nov_utc = NOV_KYIV + 2 * HOUR  # 2026-11-01 00:00 UTC
    assert windows(ch, "month") == [
        (nov_utc, "op-a", "roulette", 3_000, 0, 0, 3_000, 1, 0, 1),
        (nov_utc, "op-a", "slots", 19_000, 4_000, 25_000, -10_000, 3, 1, 3),
        (nov_utc, "op-b", "slots", 500, 0, 0, 500, 1, 0, 1),
    ]
    # 22:30 UTC on Nov 30 is December in Kyiv
    assert windows(ch, "kyiv_month") == [
        (NOV_KYIV, "op-a", "roulette", 3_000, 0, 0, 3_000, 1, 0, 1),
        (NOV_KYIV, "op-a", "slots", 17_000, 4_000, 25_000, -12_000, 2, 1, 2),
        (NOV_KYIV, "op-b", "slots", 500, 0, 0, 500, 1, 0, 1),
        (DEC_KYIV, "op-a", "slots", 2_000, 0, 0, 2_000, 1, 0, 1),
    ]
    assert windows(ch, "day", operator_id="op-b") == [(nov9, "op-b", "slots", 500, 0, 0, 500, 1, 0, 1)]
    assert windows(ch, "kyiv_day", since_us=h2, until_us=h2 + HOUR) == [
        (KYIV_DAY, "op-a", "roulette", 3_000, 0, 0, 3_000, 1, 0, 1),
        (KYIV_DAY, "op-a", "slots", 7_000, 0, 25_000, -18_000, 1, 1, 1),
    ]
    with pytest.raises(ValueError, match="granularity must be one of"):
        queries.ggr_windows(ch, DB, "week")

    # a late event lands in its own hour; the others are untouched
    store_events(ch, [event(seq=9, kind="BET", amount=1_000, occurred_at_us=h1 + 5, player_ref=P3)])
    assert windows(ch, "hour")[0] == (h1, "op-a", "slots", 11_000, 4_000, 0, 7_000, 2, 0, 2)
    assert windows(ch, "hour")[3] == (h2, "op-a", "slots", 7_000, 0, 25_000, -18_000, 1, 1, 1)


def test_ggr_by_operator_period(ch: Any) -> None:
    store_sample(ch)

    def totals(granularity: str) -> list[tuple[int, ...]]:
        return [(r["window_start_us"], r["operator_id"], r["stakes"], r["refunds"], r["winnings"], r["ggr"],
                 r["bets"], r["payouts"], r["active_players"])
                for r in queries.ggr_by_operator_period(ch, DB, granularity)]

    # P1 bet on slots and on roulette: one active player, not two
    assert totals("kyiv_month") == [
        (NOV_KYIV, "op-a", 20_000, 4_000, 25_000, -9_000, 3, 1, 2),
        (NOV_KYIV, "op-b", 500, 0, 0, 500, 1, 0, 1),
        (DEC_KYIV, "op-a", 2_000, 0, 0, 2_000, 1, 0, 1),
    ]
    assert totals("month") == [
        (NOV_KYIV + 2 * HOUR, "op-a", 22_000, 4_000, 25_000, -7_000, 4, 1, 3),
        (NOV_KYIV + 2 * HOUR, "op-b", 500, 0, 0, 500, 1, 0, 1),
    ]
    assert totals("hour")[2] == (KYIV_DAY, "op-a", 10_000, 0, 25_000, -15_000, 2, 1, 2)
    assert totals("day")[0] == (KYIV_DAY - 22 * HOUR, "op-a", 20_000, 4_000, 25_000, -9_000, 3, 1, 2)
    assert totals("kyiv_day")[0] == (KYIV_DAY - 24 * HOUR, "op-a", 10_000, 4_000, 0, 6_000, 1, 0, 1)


def test_the_rollup_agrees_with_events(ch: Any) -> None:
    store_sample(ch)
    by_events = {r["operator_id"]: r["ggr"] for r in queries.ggr_by_operator(ch, DB)}
    by_view = {r["operator_id"]: r["ggr"] for r in queries.ggr_by_operator_period(ch, DB, "month")}
    assert by_events == by_view == {"op-a": -7_000, "op-b": 500}


def events_batch(offset: int, occurred: list[int]) -> TableBatch:
    batch = TableBatch(EVENTS)
    first = next(_next_index)
    for _ in occurred[1:]:
        next(_next_index)
    evs = [event(seq=first + i, amount=100, occurred_at_us=t) for i, t in enumerate(occurred)]
    add_archive_batch(batch.columns, decoded(archive_batch(evs, first_index=first), ARCHIVE_BATCH),
                      ARCHIVE, 0, offset)
    batch.add_record(ARCHIVE, 0, offset, now=0.0)
    return batch


def insert_with_token(ch: Any, batch: TableBatch, database: str = DB) -> None:
    insert_tokened(ch, EVENTS, batch.columns, batch.token(), database)


def hourly_bets(ch: Any, database: str = DB) -> list[tuple[int, int, int]]:
    return [(int(h), int(b), int(s)) for h, b, s in ch.query(
        f"SELECT toUnixTimestamp(hour), sum(bets), sum(stakes) FROM {database}.ggr_hourly "
        "GROUP BY hour ORDER BY hour").result_rows]


def test_a_retried_batch_is_stored_and_rolled_up_once(ch: Any) -> None:
    """The sink retries a batch whole: insert and roll-up again under the same tokens."""
    jan31 = 1_801_439_999_999_999  # the last microsecond of January 2027 (UTC)
    one_part = events_batch(0, [jan31 - 10, jan31 - 20])
    two_parts = events_batch(1, [jan31, jan31 + 1])  # two monthly partitions, two parts
    for batch in (one_part, one_part, two_parts, two_parts, one_part):
        insert_with_token(ch, batch)
        roll_up(ch, DB, "events", batch.token())
    assert int(ch.command(f"SELECT count() FROM {DB}.events")) == 4
    jan31_23h, feb1 = (jan31 + 1) // 1_000_000 - 3600, (jan31 + 1) // 1_000_000
    assert hourly_bets(ch) == [(jan31_23h, 3, 300), (feb1, 1, 100)]


def test_a_crash_before_or_during_the_roll_up_is_finished_exactly(ch: Any) -> None:
    """Stored but not rolled up (the process died in between), or rolled up into some rollups
    only: rolling up again under the batch's token adds exactly what is missing."""
    t = NOW_US - NOW_US % HOUR
    crashed = events_batch(0, [t + 1, t + 2, t + HOUR])
    insert_with_token(ch, crashed)  # ... and the process dies: no roll-up at all
    partial = events_batch(1, [t + 3])
    insert_with_token(ch, partial)
    ch.command(GGR_HOURLY.insert(DB, f"{TOKEN_COLUMN} = '{partial.token()}'"),  # one rollup only
               settings={"insert_deduplication_token": f"{partial.token()}-ggr_hourly"})
    assert hourly_bets(ch) == [(t // 1_000_000, 1, 100)]
    for batch in (crashed, partial, crashed):  # recovery (twice for one of them)
        roll_up(ch, DB, "events", batch.token())
    assert hourly_bets(ch) == [(t // 1_000_000, 3, 300), (t // 1_000_000 + 3600, 1, 100)]
    # every rollup now holds what a rebuild from the stored events gives
    rolled = rollup_contents(ch)
    rebuild_all(ch, DB)
    assert rollup_contents(ch) == rolled


def test_distinct_batches_with_equal_aggregates_both_count(ch: Any) -> None:
    """Deduplication keys on the batch's token, not on the rollup's rows."""
    t = NOW_US - NOW_US % HOUR + 7
    for offset in (0, 1):
        batch = events_batch(offset, [t])  # one BET of 100 by the same player in the same hour
        insert_with_token(ch, batch)
        roll_up(ch, DB, "events", batch.token())
    store_events(ch, [event(seq=1, amount=100, occurred_at_us=t)])
    store_events(ch, [event(seq=1, amount=100, occurred_at_us=t)])
    assert hourly_bets(ch) == [((t - 7) // 1_000_000, 4, 400)]


def test_create_tables_upgrades_an_older_database(ch: Any) -> None:
    """Re-running create_tables is harmless; a database made before the rollups gets them
    filled from its stored rows; one whose rollups were kept by materialized views keeps their
    data and loses the views; older tables get the newer columns."""
    store_sample(ch)  # in a current database, for reference
    want = windows(ch, "kyiv_month")
    assert len(want) == 4
    # before the rollups: events only (without the token column), with rows
    ch.command("CREATE DATABASE before_rollups")
    ch.command(dataclasses.replace(EVENTS, tokened=False).ddl("before_rollups"))
    cols = Columns(EVENTS)
    for row in ch.query(f"SELECT * EXCEPT ({TOKEN_COLUMN}) FROM {DB}.events").named_results():
        for name in EVENTS.column_names:
            cols.data[name].append(row[name])
        cols.rows += 1
    ch.insert(EVENTS.name, cols.as_lists(), column_names=EVENTS.column_names, database="before_rollups",
              column_type_names=EVENTS.column_types, column_oriented=True)
    create_tables(ch, "before_rollups")
    assert windows(ch, "kyiv_month", database="before_rollups") == want
    create_tables(ch, "before_rollups")  # again: no second fill
    assert windows(ch, "kyiv_month", database="before_rollups") == want
    store_events(ch, [event(seq=20, amount=1, occurred_at_us=NOV_KYIV)], database="before_rollups")
    assert windows(ch, "kyiv_month", database="before_rollups")[1][3] == want[1][3] + 1

    # the first version: ggr_hourly kept by a view, no dedup window, tax events without player_ref
    ch.command("CREATE DATABASE first_version")
    old_tax = dataclasses.replace(TAX_EVENTS, tokened=False,
                                  columns=tuple(c for c in TAX_EVENTS.columns if c.name != "player_ref"),
                                  elements=tuple(e for e in TAX_EVENTS.elements if "lookup_" not in e))
    ch.command(old_tax.ddl("first_version"))
    ch.command(dataclasses.replace(EVENTS, tokened=False).ddl("first_version"))
    ch.command(GGR_HOURLY.table_ddl("first_version").replace(
        " SETTINGS non_replicated_deduplication_window = 10000", ""))
    ch.command("CREATE MATERIALIZED VIEW first_version.ggr_hourly_mv TO first_version.ggr_hourly AS "
               + GGR_HOURLY.select.format(db="first_version", where="1"))
    ch.command("CREATE VIEW first_version.payout_taxes AS SELECT receipt_id FROM first_version.tax_events")
    ch.command("INSERT INTO first_version.tax_events (record_type, row_key, operator_id, period, revision) "
               "VALUES ('statement', '2026-11|1', 'op-a', '2026-11', 1)")
    ch.insert(EVENTS.name, cols.as_lists(), column_names=EVENTS.column_names, database="first_version",
              column_type_names=EVENTS.column_types, column_oriented=True)  # the view rolls them up
    create_tables(ch, "first_version")
    assert windows(ch, "kyiv_month", database="first_version") == want  # kept, not filled twice
    assert int(ch.command("SELECT count() FROM system.tables WHERE database = 'first_version' "
                          "AND name = 'ggr_hourly_mv'")) == 0
    assert "non_replicated_deduplication_window = 10000" in ch.command(
        "SHOW CREATE TABLE first_version.ggr_hourly")
    assert ch.query("SELECT revision, player_ref FROM first_version.tax_events").result_rows == [(1, "")]
    payout_taxes = ch.query("SELECT count(), max(player_ref) FROM first_version.payout_taxes")
    assert payout_taxes.result_rows == [(0, "")]  # the view was replaced: it has player_ref
    batch = events_batch(0, [NOV_KYIV])
    for _ in range(2):
        insert_with_token(ch, batch, database="first_version")
        roll_up(ch, "first_version", "events", batch.token())
    assert windows(ch, "kyiv_month", database="first_version")[1][3] == want[1][3] + 100  # once


def test_tax_events_tables(ch: Any) -> None:
    cols = Columns(TAX_EVENTS)
    records = [
        payout_tax_batch([payout("r1", 10_000, 1_800, player_ref="p_PLAYER0001"),
                          payout("r2", 20_000, 0, discrepancy=True, player_ref="p_PLAYER0002")]),
        tax_discrepancy("r2", 20_000, 0),
        payout_tax_batch([payout("r3", 40_000, 7_200)], operator_id="op-b"),
        statement(1, 100), statement(3, 300, status="CLOSED"), statement(2, 200),
        statement(1, -50, operator_id="op-b"),
        statement(1, 700, period="2026-10"),
    ]
    for offset, value in enumerate(records):
        schema, record = CODEC.decode(value)
        add_tax_event(cols, schema, record, TAX_EVENTS_TOPIC, 0, offset)
    assert cols.rows == 9
    insert_tokened(ch, TAX_EVENTS, cols, "test-tax")

    assert queries.tax_summary(ch, DB) == [
        {"operator_id": "op-a", "payouts": 2, "winnings": 30_000, "pit_due": 5_400, "military_due": 1_500,
         "pit_withheld": 1_800, "military_withheld": 1_500, "discrepancies": 1},
        {"operator_id": "op-b", "payouts": 1, "winnings": 40_000, "pit_due": 7_200, "military_due": 2_000,
         "pit_withheld": 7_200, "military_withheld": 2_000, "discrepancies": 0}]
    latest = queries.latest_statements(ch, DB)
    assert [(s["operator_id"], s["period"], s["revision"], s["status"], s["ggr"], s["ggr_tax_due"])
            for s in latest] == [("op-a", "2026-10", 1, "OPEN", 700, 70),
                                 ("op-a", "2026-11", 3, "CLOSED", 300, 30),
                                 ("op-b", "2026-11", 1, "OPEN", -50, 0)]
    assert latest[1] == {
        "operator_id": "op-a", "period": "2026-11", "period_start_us": NOV_START_US,
        "period_end_us": NOV_END_US, "revision": 3, "status": "CLOSED", "stakes": 1_300, "refunds": 0,
        "winnings": 1_000, "ggr": 300, "bets": 3, "payouts": 1, "ggr_tax_rate_ppm": 100_000,
        "ggr_tax_due": 30, "pit_due": 180, "military_due": 50, "pit_withheld": 180, "military_withheld": 50,
        "discrepancies": 0, "issued_at_us": NOW_US + 3}
    assert ch.query(f"SELECT receipt_id, player_ref, discrepancy, toUnixTimestamp64Micro(occurred_at) "
                    f"FROM {DB}.payout_taxes ORDER BY receipt_id").result_rows == [
        ("r1", P1, 0, NOW_US), ("r2", P2, 1, NOW_US), ("r3", P1, 0, NOW_US)]
    assert ch.query(f"SELECT receipt_id, pit_due, pit_withheld FROM {DB}.tax_discrepancies").result_rows == [
        ("r2", 3_600, 0)]


def test_tax_rows_skip_and_keys() -> None:
    """Row keys for the sink's resume: receipt_id, and <period>|<revision> for a statement."""
    cols = Columns(TAX_EVENTS)
    schema, record = CODEC.decode(payout_tax_batch([payout("r1", 100, 18), payout("r2", 200, 36)]))
    assert add_tax_event(cols, schema, record, TAX_EVENTS_TOPIC, 2, 9, skip={"r1"}) == 1
    schema, record = CODEC.decode(statement(4, 10))
    assert add_tax_event(cols, schema, record, TAX_EVENTS_TOPIC, 2, 10) == 1
    rows = cols.as_rows()
    assert [(r["record_type"], r["row_key"], r["src_partition"], r["src_offset"]) for r in rows] == [
        ("payout", "r2", 2, 9), ("statement", "2026-11|4", 2, 10)]
    assert rows[1]["player_ref"] == "" and rows[1]["occurred_at"] == NOV_START_US
    assert all(len(v) == 2 for v in cols.data.values())
    with pytest.raises(Exception, match="not a tax-events schema"):
        add_tax_event(cols, ARCHIVE_BATCH, {}, TAX_EVENTS_TOPIC, 0, 0)
    assert cols.rows == 2 and all(len(v) == 2 for v in cols.data.values())


def test_events_get_inserted_at_also_on_an_older_table(ch: Any) -> None:
    """ClickHouse stamps every event row with its insert time; a table made before the column
    existed gets it (old rows show the column's default for them, the epoch at the ALTER)."""
    ch.command("CREATE DATABASE older")
    ch.command(dataclasses.replace(EVENTS, filled=()).ddl("older"))

    def has_column() -> bool:
        return bool(int(ch.command("SELECT count() FROM system.columns WHERE database = 'older' "
                                   "AND table = 'events' AND name = 'inserted_at'")))

    assert not has_column()
    create_tables(ch, "older")
    assert has_column()
    before = int(ch.command("SELECT toUnixTimestamp64Micro(now64(6))"))
    store_events(ch, [event(seq=1)], database="older")
    after = int(ch.command("SELECT toUnixTimestamp64Micro(now64(6))"))
    stamped = int(ch.command("SELECT toUnixTimestamp64Micro(inserted_at) FROM older.events"))
    assert before <= stamped <= after
