"""Every report's numbers on embedded chdb, against a small data set worked out by hand.

The data set (times UTC, on 2026-11-09 unless said; Kyiv is UTC+2 then, so 22:00 UTC is
midnight in Kyiv). The period of most tests is 21:00-24:00 and "now" is 24:00 (= Nov 10 00:00).

Registry: op-a ONLINE_CASINO (LIC-A, sites casino-a.ua), op-b SLOT_HALL (LIC-B, establishment
hall-1, machines m-1 m-2), op-c BOOKMAKING (LIC-C: licensed, sends nothing). op-x is not in it.

Events (received 1 s after they occurred unless said), kopecks:

=====  =========  ========  =====  ======  ========  ====================  ==========
op     source/seq kind      amount occurred player   game, asset           note
=====  =========  ========  =====  ======  ========  ====================  ==========
op-a   s-a1/1     BET        5_000  21:10   P1       slots casino-a.ua
op-a   s-a1/2     BET       23_000  21:20   P2       slots casino-a.ua
op-a   s-a1/3     WIN       12_000  21:25   P1       slots casino-a.ua
op-a   s-a1/5     REFUND     5_000  22:10   P2       slots casino-a.ua     seq 4 missing
op-a   s-a1/7     BET       40_000  22:20   P1       roulette rogue-a.ua   seq 6 rejected
op-a   s-a2/1     BET       20_000  21:30   P1       slots casino-a.ua     received 23:30 (2 h)
op-a   s-a2/2     BET        5_000  Nov 6   P4       slots rogue-a.ua      received 23:55 (80 h)
op-a   s-a3/1     BET      100_000  16:00   P1       slots casino-a.ua     before the period
op-b   s-b1/1     BET          500  21:05   P5       slots hall-1 m-1
op-b   s-b1/2     BET        1_500  21:15   P5       slots hall-1 m-1
op-b   s-b1/3     WIN        3_000  21:16   P5       slots hall-1 m-1
op-b   s-b1/4     BET       20_000  22:05   P6       slots hall-1 m-2
op-b   s-b1/5     BET      280_000  22:30   P6       slots hall-1 m-9      m-9 unregistered
op-b   s-b1/6     WIN      100_000  22:31   P6       slots hall-1 m-9
op-b   s-b1/7     BET    1_600_000  22:40   P7       slots hall-1 m-2
op-b   s-b2/1-30  DEPOSIT   10_000  23:57   P5       (no asset)            30 deposits, 1 s apart
op-x   s-x1/1     BET       60_000  22:15   P8       poker poker-x.ua
op-x   s-x1/2     WIN       10_000  22:45   P8       poker poker-x.ua
=====  =========  ========  =====  ======  ========  ====================  ==========

Rejections (processed at): op-a s-a1/6 licence_kind_mismatch 22:15, op-a s-a1/8 absurd_amount
22:50, op-a s-a1/5 conflicting_duplicate 23:10 (seq 5 re-sent with other content: it was
accepted, so it fills no gap), op-a s-a3/2 licence_inactive 16:00 (before the period), op-b (no
seq) non_positive_amount 22:00, op-c s-c1/1,2 unknown_licence 21:40 and 21:41, op-x s-x1/3
channel_not_allowed 22:20.

Tax events: payouts for op-a's WIN (12_000, all withheld), op-b's two WINs (3_000 all withheld;
100_000 with 15_000 PIT withheld of 18_000 due: a discrepancy) and an op-a payout of 50_000 at
16:00; statements of Kyiv November: op-a revisions 1 (GGR 1_000) and 2 (GGR 1_500), op-b 700,
op-c 200, and op-a's October statement (outside November).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dashboards import reports
from dashboards.params import ReportParams
from dashboards.reports import BY_NAME, GRANULARITIES, REPORTS, Report
from dashboards.run import READ_ONLY, run_report
from pipeline.core.tax import kyiv_midnight_us
from pipeline.registry import Licence, Operator, Registry
from pipeline.settings import ClickHouseSettings
from registry.core.history import Version
from registry.core.snapshot import records_of, topic_key, topic_value
from sinks.clickhouse.client import connect
from sinks.clickhouse.registry_tables import insert_registry_records
from sinks.clickhouse.rollups import rebuild_all
from sinks.clickhouse.tables import EVENTS, REJECTIONS, TAX_EVENTS, Table, create_tables

DB = "reports_test"
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 3600 * SECOND


def at(hour: int, minute: int = 0, second: int = 0, day: int = 9) -> int:
    """UTC µs of ``hour:minute:second`` on 2026-11-``day``."""
    return int(datetime(2026, 11, day, hour, minute, second, tzinfo=UTC).timestamp()) * SECOND


def dt(us: int) -> datetime:
    """A UTC µs time as chdb hands DateTime64 back: naive UTC."""
    return datetime(1970, 1, 1) + timedelta(microseconds=us)


H21, H22, H23 = at(21), at(22), at(23)
NOW = at(0, day=10)  # 2026-11-10 00:00 UTC = 02:00 Kyiv
NOV9_KYIV = kyiv_midnight_us(date(2026, 11, 9))  # 2026-11-08 22:00 UTC
NOV10_KYIV = kyiv_midnight_us(date(2026, 11, 10))  # 2026-11-09 22:00 UTC = H22
NOV_KYIV = kyiv_midnight_us(date(2026, 11, 1))  # 2026-10-31 22:00 UTC
DEC_KYIV = kyiv_midnight_us(date(2026, 12, 1))  # 2026-11-30 22:00 UTC
OCT_KYIV = kyiv_midnight_us(date(2026, 10, 1))  # 2026-09-30 21:00 UTC (summer time)
assert NOV10_KYIV == H22

REGISTRY = Registry(operators=(
    Operator(operator_id="op-a", name="Alpha", licences=(Licence(licence_id="LIC-A", kind="ONLINE_CASINO"),),
             sites=("casino-a.ua",)),
    Operator(operator_id="op-b", name="Beta", licences=(Licence(licence_id="LIC-B", kind="SLOT_HALL"),),
             establishments=("hall-1",), equipment=("m-1", "m-2")),
    Operator(operator_id="op-c", name="Gamma", licences=(Licence(licence_id="LIC-C", kind="BOOKMAKING"),),
             sites=("bet-c.ua",)),
))


def _default(type_name: str) -> Any:
    if type_name.startswith("Nullable("):
        return None
    if type_name.startswith("FixedString("):
        return bytes(int(type_name[len("FixedString("):-1]))
    if "String" in type_name:
        return ""
    return 0  # numbers, and DateTime64 as µs


def insert(client: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (column name -> value, times in UTC µs); unnamed columns get their type's default."""
    unknown = {k for r in rows for k in r} - set(table.column_names)
    assert not unknown, unknown
    data = [[r.get(c.name, _default(c.type)) for c in table.columns] for r in rows]
    client.insert(table.name, data, column_names=table.column_names, database=DB,
                  column_type_names=table.column_types)


_receipts = iter(range(1, 1_000))


def ev(op: str, source: str, seq: int, kind: str, amount: int, occurred: int, player: str = "",
       received: int | None = None, game: str = "slots", **assets: str) -> dict[str, Any]:
    kinds = {"op-a": ("LIC-A", "ONLINE_CASINO", "SITE"), "op-b": ("LIC-B", "SLOT_HALL", "ESTABLISHMENT"),
             "op-x": ("LIC-X", "ONLINE_POKER", "SITE")}
    licence_id, licence_kind, channel = kinds[op]
    n = next(_receipts)
    return dict(receipt_id=f"r-{n:04d}", operator_id=op, source_id=source, seq=seq, operator_ref=f"tx-{n}",
                kind=kind, licence_id=licence_id, licence_kind=licence_kind, channel=channel,
                game_type=game, player_ref=player, amount=amount, currency="UAH", occurred_at=occurred,
                received_at=occurred + SECOND if received is None else received, chain_id=f"{op}/0",
                chain_index=n, **assets)


def rej(op: str, source: str, seq: int | None, reason: str, processed: int) -> dict[str, Any]:
    n = next(_receipts)
    return dict(operator_id=op, source_id=source, seq=seq, receipt_id=f"rc-{n:04d}", reason=reason,
                kind="BET", amount=1_000, occurred_at=processed - SECOND, processed_at=processed)


def payout(op: str, receipt_id: str, amount: int, pit_withheld: int, occurred: int) -> dict[str, Any]:
    """18 % PIT and 5 % levy due; the levy is always withheld in full."""
    kind = {"op-a": "ONLINE_CASINO", "op-b": "SLOT_HALL"}[op]
    pit_due, military_due = amount * 18 // 100, amount * 5 // 100
    return dict(record_type="payout", row_key=receipt_id, operator_id=op, receipt_id=receipt_id,
                licence_kind=kind, occurred_at=occurred, amount=amount, pit_rate_ppm=180_000,
                military_rate_ppm=50_000, pit_due=pit_due, military_due=military_due,
                pit_withheld=pit_withheld, military_withheld=military_due,
                discrepancy=int(pit_withheld != pit_due))


def statement(op: str, period: str, start: int, revision: int, ggr: int) -> dict[str, Any]:
    end = {NOV_KYIV: DEC_KYIV, OCT_KYIV: NOV_KYIV}[start]  # a Kyiv month
    return dict(record_type="statement", row_key=f"{period}|{revision}", operator_id=op, occurred_at=start,
                period=period, period_end=end, revision=revision, status="OPEN", ggr=ggr,
                ggr_tax_rate_ppm=100_000, ggr_tax_due=ggr // 10, issued_at=NOW)


CASINO, ROGUE = {"site_id": "casino-a.ua"}, {"site_id": "rogue-a.ua"}
POKER = {"site_id": "poker-x.ua"}


def machine(m: str) -> dict[str, str]:
    return {"establishment_id": "hall-1", "equipment_id": m}


def load(client: Any) -> None:
    events = [
        ev("op-a", "s-a1", 1, "BET", 5_000, at(21, 10), "P1", **CASINO),
        ev("op-a", "s-a1", 2, "BET", 23_000, at(21, 20), "P2", **CASINO),
        ev("op-a", "s-a1", 3, "WIN", 12_000, at(21, 25), "P1", **CASINO),
        ev("op-a", "s-a1", 5, "REFUND", 5_000, at(22, 10), "P2", **CASINO),
        ev("op-a", "s-a1", 7, "BET", 40_000, at(22, 20), "P1", game="roulette", **ROGUE),
        ev("op-a", "s-a2", 1, "BET", 20_000, at(21, 30), "P1", received=at(23, 30), **CASINO),
        ev("op-a", "s-a2", 2, "BET", 5_000, at(23, 55) - 80 * HOUR, "P4", received=at(23, 55), **ROGUE),
        ev("op-a", "s-a3", 1, "BET", 100_000, at(16), "P1", **CASINO),
        ev("op-b", "s-b1", 1, "BET", 500, at(21, 5), "P5", **machine("m-1")),
        ev("op-b", "s-b1", 2, "BET", 1_500, at(21, 15), "P5", **machine("m-1")),
        ev("op-b", "s-b1", 3, "WIN", 3_000, at(21, 16), "P5", **machine("m-1")),
        ev("op-b", "s-b1", 4, "BET", 20_000, at(22, 5), "P6", **machine("m-2")),
        ev("op-b", "s-b1", 5, "BET", 280_000, at(22, 30), "P6", **machine("m-9")),
        ev("op-b", "s-b1", 6, "WIN", 100_000, at(22, 31), "P6", **machine("m-9")),
        ev("op-b", "s-b1", 7, "BET", 1_600_000, at(22, 40), "P7", **machine("m-2")),
        *[ev("op-b", "s-b2", i, "DEPOSIT", 10_000, at(23, 57, i - 1), "P5", game="") for i in range(1, 31)],
        ev("op-x", "s-x1", 1, "BET", 60_000, at(22, 15), "P8", game="poker", **POKER),
        ev("op-x", "s-x1", 2, "WIN", 10_000, at(22, 45), "P8", game="poker", **POKER),
    ]
    insert(client, EVENTS, events)
    insert(client, REJECTIONS, [
        rej("op-a", "s-a1", 6, "licence_kind_mismatch", at(22, 15)),
        rej("op-a", "s-a1", 8, "absurd_amount", at(22, 50)),
        rej("op-a", "s-a1", 5, "conflicting_duplicate", at(23, 10)),
        rej("op-a", "s-a3", 2, "licence_inactive", at(16)),
        rej("op-b", "s-b1", None, "non_positive_amount", at(22)),
        rej("op-c", "s-c1", 1, "unknown_licence", at(21, 40)),
        rej("op-c", "s-c1", 2, "unknown_licence", at(21, 41)),
        rej("op-x", "s-x1", 3, "channel_not_allowed", at(22, 20)),
    ])
    win_a, win_b1, win_b2 = (e["receipt_id"] for e in events
                             if e["kind"] == "WIN" and e["operator_id"] != "op-x")
    insert(client, TAX_EVENTS, [
        payout("op-a", win_a, 12_000, 2_160, at(21, 25)),
        payout("op-b", win_b1, 3_000, 540, at(21, 16)),
        payout("op-b", win_b2, 100_000, 15_000, at(22, 31)),  # 18_000 due: a discrepancy of 3_000
        payout("op-a", "r-early", 50_000, 9_000, at(16)),
        statement("op-a", "2026-11", NOV_KYIV, 1, 1_000),
        statement("op-a", "2026-11", NOV_KYIV, 2, 1_500),
        statement("op-b", "2026-11", NOV_KYIV, 1, 700),
        statement("op-c", "2026-11", NOV_KYIV, 1, 200),
        statement("op-a", "2026-10", OCT_KYIV, 1, 9_000),
    ])
    insert_registry_records(client, DB, records_of(REGISTRY))


@pytest.fixture(scope="module")
def ch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A chdb client on this module's own folder (closed at the end: one chdb folder per process at a
    time), with the data set loaded once into database ``reports_test``."""
    folder: Path = tmp_path_factory.mktemp("reports") / "chdb"
    client = connect(ClickHouseSettings(dsn=SecretStr(f"chdb://{folder}"), database=DB))
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
        create_tables(client, DB)
        load(client)
        rebuild_all(client, DB)  # the rows went in directly, not through the sink's roll-up
        load_asof(client)  # before any test: a read-only query leaves this chdb session read-only
        yield client
    finally:
        client.close()


def params(**changes: Any) -> ReportParams:
    base: dict[str, Any] = dict(since_us=H21, until_us=NOW, now_us=NOW)
    base.update(changes)
    return ReportParams(**base)


def run(ch: Any, name: str, *columns: str, **changes: Any) -> list[tuple[Any, ...]]:
    """The report's rows as tuples of ``columns`` (all of them by default)."""
    report = BY_NAME[name]
    result = run_report(ch, DB, report, params(**changes))
    names = columns or report.column_names
    return [tuple(row[c] for c in names) for row in result.rows]


# -- operational --


def test_ingestion_status(ch: Any) -> None:
    assert run(ch, "ingestion_status") == [
        # op-a: s-a1 1,2,3,5,7 + s-a2 1,2 (received 23:30 and 23:55) = 7 accepted; s-a3/1 (16:00) is
        # before the period. Rejected 3 (22:15, 22:50, 23:10; the 16:00 one is out): 100 * 3 / 10 = 30 %.
        # The last arrival 23:55 is 300 s before now; 1 event in the last 5 minutes: 1 / 300 = 0.0/s.
        ("op-a", 7, 3, 30.0, 0.0, dt(at(23, 55)), 300),
        # op-b: 7 (s-b1) + 30 deposits (s-b2) = 37; 1 rejected: 100 * 1 / 38 = 2.632 %. The deposits
        # arrive 23:57:01-23:57:30, in the last 5 minutes: 30 / 300 = 0.1/s; 24:00 - 23:57:30 = 150 s.
        ("op-b", 37, 1, 2.632, 0.1, dt(at(23, 57, 30)), 150),
        # op-c: licensed, nothing accepted, 2 rejected (100 %), never heard from.
        ("op-c", 0, 2, 100.0, 0.0, None, None),
        # op-x (not in the registry): 2 accepted, 1 rejected (100 / 3 = 33.333 %); last 22:45:01,
        # 24:00 - 22:45:01 = 4_499 s.
        ("op-x", 2, 1, 33.333, 0.0, dt(at(22, 45, 1)), 4_499),
    ]
    # licence_kind goes through the registry: only op-b holds a SLOT_HALL licence
    assert run(ch, "ingestion_status", "operator_id", "accepted", "rejected",
               licence_kind="SLOT_HALL") == [("op-b", 37, 1)]
    assert run(ch, "ingestion_status", "operator_id", "accepted", operator="op-x") == [("op-x", 2)]
    # the whole day from midnight: s-a3/1 (16:00) and the 16:00 rejection count now for op-a
    assert run(ch, "ingestion_status", "operator_id", "accepted", "rejected", since_us=at(0),
               operator="op-a") == [("op-a", 8, 4)]


def test_data_quality(ch: Any) -> None:
    assert run(ch, "data_quality") == [
        # s-a1: seqs 1..7 = 7 numbers, 5 accepted, 6 rejected (8 rejected is past the range; 5's
        # conflicting re-send fills nothing) -> 1 missing
        ("op-a", "sequence_gap", "gap", 1, "1 source(s) with gaps"),
        # s-a2/1 received 2 h late and s-a2/2 80 h late: 2 late events, the worst 80 h
        ("op-a", "late_data", "late", 2, "up to 80 h late"),
        # rejections in the period, by reason (licence_inactive at 16:00 is before it)
        # conflicting re-sends per operator are one of the reasons
        ("op-a", "absurd_amount", "rejection", 1, "last 2026-11-09 22:50:00.000000"),
        ("op-a", "conflicting_duplicate", "rejection", 1, "last 2026-11-09 23:10:00.000000"),
        ("op-a", "licence_kind_mismatch", "rejection", 1, "last 2026-11-09 22:15:00.000000"),
        ("op-b", "non_positive_amount", "rejection", 1, "last 2026-11-09 22:00:00.000000"),
        ("op-c", "unknown_licence", "rejection", 2, "last 2026-11-09 21:41:00.000000"),
        ("op-x", "channel_not_allowed", "rejection", 1, "last 2026-11-09 22:20:00.000000"),
    ]
    assert run(ch, "data_quality", "issue", "count", operator="op-a", since_us=at(0)) == [
        ("sequence_gap", 1), ("late_data", 2),
        ("absurd_amount", 1), ("conflicting_duplicate", 1), ("licence_inactive", 1),
        ("licence_kind_mismatch", 1)]
    assert run(ch, "data_quality", "operator_id", "issue", licence_kind="BOOKMAKING") == [
        ("op-c", "unknown_licence")]
    # the late events arrived at 23:30 and 23:55: a period ending at 23:00 has no late data
    assert [r[1] for r in run(ch, "data_quality", until_us=H23, operator="op-a")] == [
        "sequence_gap", "absurd_amount", "licence_kind_mismatch"]


def test_system_status(ch: Any) -> None:
    rows = run(ch, "system_status", "bucket_us", "accepted", "delay_p50_us", "delay_p99_us")
    assert rows == [
        # received 21:xx: op-a 21:10, 21:20, 21:25 + op-b 21:05, 21:15, 21:16; all 1 s after occurring
        (H21, 6, SECOND, SECOND),
        # 22:xx: op-a 22:10, 22:20 + op-b 22:05, 22:30, 22:31, 22:40 + op-x 22:15, 22:45
        (H22, 8, SECOND, SECOND),
        # 23:xx: op-a's two late events + op-b's 30 deposits; most 1 s late, p99 near the 80 h one
        (H23, 32, SECOND, rows[2][3]),
    ]  # 6 + 8 + 32 = 46 = 7 + 37 + 2 accepted (s-a3/1 at 16:00 is before the period)
    assert 2 * HOUR < rows[2][3] <= 80 * HOUR  # t-digest: approximate
    assert all(isinstance(v, int) for r in run(ch, "system_status") for v in r[3:])
    # Kyiv days: 21:xx UTC is Nov 9 in Kyiv, 22:00 UTC on is Nov 10; one UTC day holds all
    assert run(ch, "system_status", "bucket_us", "accepted", granularity="kyiv_day") == [
        (NOV9_KYIV, 6), (NOV10_KYIV, 8 + 32)]
    assert run(ch, "system_status", "bucket_us", "accepted", granularity="day") == [(at(0), 46)]
    # per minute for op-b: one event in each of 7 minutes (1 / 60 s), then 30 deposits in 23:57: 30 / 60 s
    assert run(ch, "system_status", "bucket_us", "accepted", "rate_per_s", granularity="minute",
               operator="op-b") == [
        (at(21, 5), 1, 0.017), (at(21, 15), 1, 0.017), (at(21, 16), 1, 0.017), (at(22, 5), 1, 0.017),
        (at(22, 30), 1, 0.017), (at(22, 31), 1, 0.017), (at(22, 40), 1, 0.017), (at(23, 57), 30, 0.5)]
    assert run(ch, "system_status", "bucket_us", "accepted", licence_kind="ONLINE_CASINO") == [
        (H21, 3), (H22, 2), (H23, 2)]
    # The rate is over the part of the bucket inside the period (and before now): the day bucket
    # holds 21:00-24:00, so 46 events / 10,800 s = 0.00426/s; op-b's 23:00 hour 30 / 3,600 s.
    assert run(ch, "system_status", "rate_per_s", granularity="day") == [(0.004,)]
    assert run(ch, "system_status", "bucket_us", "accepted", "rate_per_s", operator="op-b")[-1] == (
        H23, 30, 0.008)


def test_ingestion_counts_read_hours_and_edge_minutes_exactly(ch: Any) -> None:
    """Whole hours come from the hourly rollup, the edges from the per-minute one: any period
    gives the same count as summing the per-minute rows (system status by the minute)."""
    for since, until in [(at(21, 10), at(23, 58)), (at(21, 16), at(21, 17)), (at(21), at(22, 31)),
                         (at(22, 5), NOW), (at(20, 59), at(22, 40, 1))]:
        by_operator = {op: n for op, n in run(ch, "ingestion_status", "operator_id", "accepted",
                                              since_us=since, until_us=until) if n}
        minutes = sum(n for n, in run(ch, "system_status", "accepted", granularity="minute",
                                      since_us=since, until_us=until))
        assert sum(by_operator.values()) == minutes > 0, (since, until)


# -- regulatory --


def test_licence_compliance(ch: Any) -> None:
    assert run(ch, "licence_compliance") == [
        # 1 licence_kind_mismatch in the period (the 16:00 licence_inactive is before it); active
        ("op-a", "LIC-A", "ONLINE_CASINO", "active", 7, dt(at(23, 55)), 300, 1, "unlicensed activity"),
        # licensed, sends nothing: silent (before its 2 unknown_licence attempts)
        ("op-c", "LIC-C", "BOOKMAKING", "active", 0, None, None, 2, "silent"),
        # sends without being in the registry: 1 channel_not_allowed, and its 2 accepted events
        # (BET 22:15, WIN 22:45) came with no licence in force
        ("op-x", "", "", "", 2, dt(at(22, 45, 1)), 4_499, 3, "not in registry"),
        ("op-b", "LIC-B", "SLOT_HALL", "active", 37, dt(at(23, 57, 30)), 150, 0, "ok"),
    ]
    # op-a's last event was 300 s ago: silent when 200 s are enough, op-b (150 s) still ok
    assert run(ch, "licence_compliance", "operator_id", "status", silent_after_s=200) == [
        ("op-a", "silent"), ("op-c", "silent"), ("op-x", "not in registry"), ("op-b", "ok")]
    assert run(ch, "licence_compliance", "operator_id", "status", licence_kind="BOOKMAKING") == [
        ("op-c", "silent")]
    assert run(ch, "licence_compliance", "operator_id", "status", operator="op-x") == [
        ("op-x", "not in registry")]
    # before 22:15 op-a had no rejection yet: ok
    assert run(ch, "licence_compliance", "operator_id", "unlicensed_attempts", "status", until_us=at(22, 15),
               operator="op-a") == [("op-a", 0, "ok")]


def test_unregistered_assets(ch: Any) -> None:
    assert run(ch, "unregistered_assets") == [
        # s-a1/7 (BET 40_000 at 22:20); s-a2/2 on the same site occurred on Nov 6, before the period
        ("op-a", "site", "rogue-a.ua", 1, 40_000, dt(at(22, 20)), dt(at(22, 20))),
        # s-b1/5 BET 280_000 at 22:30 and s-b1/6 WIN at 22:31; hall-1, m-1 and m-2 are registered
        ("op-b", "equipment", "m-9", 2, 280_000, dt(at(22, 30)), dt(at(22, 31))),
        # op-x has no registry entry: its site is unregistered; BET 60_000, WIN
        ("op-x", "site", "poker-x.ua", 2, 60_000, dt(at(22, 15)), dt(at(22, 45))),
    ]
    # from the start of time: rogue-a.ua also has s-a2/2 (5_000, occurred 80 h before 23:55)
    assert run(ch, "unregistered_assets", since_us=0)[0] == (
        "op-a", "site", "rogue-a.ua", 2, 40_000 + 5_000, dt(at(23, 55) - 80 * HOUR), dt(at(22, 20)))
    assert run(ch, "unregistered_assets", "asset_id", game_type="roulette") == [("rogue-a.ua",)]
    assert run(ch, "unregistered_assets", "asset_id", licence_kind="SLOT_HALL") == [("m-9",)]
    assert run(ch, "unregistered_assets", "asset_id", operator="op-x") == [("poker-x.ua",)]
    # daily rollup: a period in other days sees nothing
    assert run(ch, "unregistered_assets", since_us=at(0, day=10), until_us=at(0, day=11)) == []
    # ... and a period inside one day takes that whole day (the rollup has no finer grain): the
    # activity at 22:15-22:45 is in a period ending at 23:00 and must not be lost
    assert run(ch, "unregistered_assets", "asset_id", "events", until_us=H23) == [
        ("rogue-a.ua", 1), ("m-9", 2), ("poker-x.ua", 2)]
    assert run(ch, "unregistered_assets", "asset_id", since_us=at(22, 30), until_us=at(22, 31)) == [
        ("rogue-a.ua",), ("m-9",), ("poker-x.ua",)]


def test_compliance_alerts(ch: Any) -> None:
    assert run(ch, "compliance_alerts") == [
        ("high", "silent_operator", "op-c", -1, "licence LIC-C: no events for ever"),
        ("high", "unlicensed_activity", "op-a", 1,
         "1 rejected as outside the licence, 0 accepted while no licence of their kind was in force"),
        ("high", "unlicensed_activity", "op-c", 2,
         "2 rejected as outside the licence, 0 accepted while no licence of their kind was in force"),
        ("high", "unlicensed_activity", "op-x", 3,
         "1 rejected as outside the licence, 2 accepted while no licence of their kind was in force"),
        ("high", "unregistered_asset", "op-a", 1, "rogue-a.ua"),
        ("high", "unregistered_asset", "op-b", 1, "m-9"),
        ("high", "unregistered_asset", "op-x", 1, "poker-x.ua"),
        # 3 / (3 + 7) = 30 %; 2 / (2 + 0); 1 / (1 + 2) = 33.33 %; op-b 1 / 38 = 2.6 % is under 5 %
        ("medium", "high_rejection_rate", "op-a", 3, "30 % of events rejected"),
        ("medium", "high_rejection_rate", "op-c", 2, "100 % of events rejected"),
        ("medium", "high_rejection_rate", "op-x", 1, "33.33 % of events rejected"),
        # PIT due 18 % of 100_000 = 18_000, withheld 15_000
        ("medium", "tax_discrepancy", "op-b", 1, "withheld off by 3000 kopecks in all"),
        ("low", "sequence_gaps", "op-a", 1, "1 source(s) missing sequence numbers"),
        ("low", "very_late_data", "op-a", 80, "hours late: beyond the 72 h operators have after an outage"),
    ]
    assert run(ch, "compliance_alerts", "alert", "value", operator="op-b") == [
        ("unregistered_asset", 1), ("tax_discrepancy", 1)]
    # op-a's last event was 300 s ago: a silent operator when 200 s are enough
    assert run(ch, "compliance_alerts", "alert", "operator_id", "value", "detail", silent_after_s=200,
               licence_kind="ONLINE_CASINO")[0] == (
        "silent_operator", "op-a", 300, "licence LIC-A: no events for 300 s")
    # before 22:00 op-a had no very late data yet (it arrived at 23:55), nor op-b the discrepancy
    # (22:31; tax figures come by the hour, so a period ending at 22:30 would still hold it)
    alerts = {(r[0], r[1]) for r in run(ch, "compliance_alerts", "alert", "operator_id", until_us=at(22))}
    assert ("very_late_data", "op-a") not in alerts and ("tax_discrepancy", "op-b") not in alerts
    assert ("sequence_gaps", "op-a") in alerts  # gaps are as of now, whatever the period


# -- analytical --


def test_player_activity(ch: Any) -> None:
    rows = {r[0]: r for r in run(ch, "player_activity")}
    assert list(rows) == ["ONLINE_CASINO", "ONLINE_POKER", "SLOT_HALL"]  # BOOKMAKING: no bets
    # op-a BETs occurred in the period: 5_000 (P1), 23_000 (P2), 20_000 (P1), 40_000 (P1, 22:xx):
    # 2 players across both hours (P1 bet in both: counted once), 4 bets, 4 / 2 = 2.0 per player,
    # stakes 88_000, 88_000 / 4 = 22_000 on average; bands: 5_000 < 10_000 -> band 2, the rest band 3.
    # s-a3/1 (16:00) and s-a2/2 (Nov 6) occurred before the period.
    casino = rows["ONLINE_CASINO"]
    assert casino[:6] == ("ONLINE_CASINO", 2, 4, 2.0, 88_000, 22_000)
    assert casino[9:] == (0, 1, 3, 0, 0)
    assert 5_000 <= casino[6] <= casino[7] <= casino[8] <= 40_000  # t-digest quantiles: approximate
    # op-x: one BET of 60_000 by P8: every quantile is that stake
    assert rows["ONLINE_POKER"] == ("ONLINE_POKER", 1, 1, 1.0, 60_000, 60_000, 60_000, 60_000, 60_000,
                                    0, 0, 1, 0, 0)
    # op-b: 500, 1_500 (P5), 20_000, 280_000 (P6), 1_600_000 (P7): 3 players, 5 bets, 5 / 3 = 1.67,
    # stakes 1_902_000, 1_902_000 / 5 = 380_400; one stake in each band; the median stake is 20_000
    slots = rows["SLOT_HALL"]
    assert slots[:7] == ("SLOT_HALL", 3, 5, 1.67, 1_902_000, 380_400, 20_000)
    assert slots[9:] == (1, 1, 1, 1, 1)
    assert slots[8] == 1_600_000
    assert run(ch, "player_activity", game_type="roulette") == [
        ("ONLINE_CASINO", 1, 1, 1.0, 40_000, 40_000, 40_000, 40_000, 40_000, 0, 0, 1, 0, 0)]
    assert run(ch, "player_activity", "licence_kind", "active_players", "bets", operator="op-b") == [
        ("SLOT_HALL", 3, 5)]
    # the hour 22:xx only: op-a's one roulette bet by P1
    assert run(ch, "player_activity", "active_players", "bets", "stakes", since_us=H22,
               licence_kind="ONLINE_CASINO") == [(1, 1, 40_000)]


def test_market_dynamics(ch: Any) -> None:
    hour = [
        # 21:xx: op-a stakes 5_000 + 23_000 + 20_000 = 48_000, GGR 48_000 - win 12_000 = 36_000;
        # op-b 500 + 1_500 = 2_000, GGR 2_000 - win 3_000 = -1_000. Shares 48/50 = 96 %, 4 %:
        # HHI 96^2 + 4^2 = 9_216 + 16 = 9_232
        (H21, "op-a", 48_000, 36_000, 96.0, 9_232.0),
        (H21, "op-b", 2_000, -1_000, 4.0, 9_232.0),
        # 22:xx: op-a 40_000 (GGR - refund 5_000 = 35_000); op-b 20_000 + 280_000 + 1_600_000 =
        # 1_900_000 (- win 100_000); op-x 60_000 (- win 10_000). Of 2_000_000: 2 %, 95 %, 3 %:
        # HHI 4 + 9_025 + 9 = 9_038
        (H22, "op-a", 40_000, 35_000, 2.0, 9_038.0),
        (H22, "op-b", 1_900_000, 1_800_000, 95.0, 9_038.0),
        (H22, "op-x", 60_000, 50_000, 3.0, 9_038.0),
    ]
    assert run(ch, "market_dynamics") == hour
    # the same two hours are two Kyiv days (22:00 UTC is midnight in Kyiv)
    assert run(ch, "market_dynamics", granularity="kyiv_day") == [
        (NOV9_KYIV if b == H21 else NOV10_KYIV, *rest) for b, *rest in hour]
    # one UTC day: 48_000 + 40_000 = 88_000 of 2_050_000 and so on; HHI rounds to 8_635
    # (4.2927^2 + 92.7805^2 + 2.9268^2 = 18.43 + 8_608.22 + 8.57)
    assert run(ch, "market_dynamics", granularity="day") == [
        (at(0), "op-a", 88_000, 71_000, 4.29, 8_635.0),
        (at(0), "op-b", 1_902_000, 1_799_000, 92.78, 8_635.0),
        (at(0), "op-x", 60_000, 50_000, 2.93, 8_635.0),
    ]
    # alone in its licence kind, op-b has the whole market
    assert run(ch, "market_dynamics", licence_kind="SLOT_HALL") == [
        (H21, "op-b", 2_000, -1_000, 100.0, 10_000.0), (H22, "op-b", 1_900_000, 1_800_000, 100.0, 10_000.0)]
    # from 22:00 only
    assert [r[:3] for r in run(ch, "market_dynamics", since_us=H22)] == [r[:3] for r in hour[2:]]


def test_return_to_player(ch: Any) -> None:
    assert run(ch, "return_to_player") == [
        ("game", "op-a", "ONLINE_CASINO", "roulette", "", 1, 40_000, 0, 0, 0.0, None, None),
        # stakes 5_000 + 23_000 + 20_000, refund 5_000, win 12_000: 100 * 12_000 / 43_000 = 27.91 %
        ("game", "op-a", "ONLINE_CASINO", "slots", "", 3, 48_000, 5_000, 12_000, 27.91, None, None),
        # 100 * (3_000 + 100_000) / 1_902_000 = 5.42 %
        ("game", "op-b", "SLOT_HALL", "slots", "", 5, 1_902_000, 0, 103_000, 5.42, None, None),
        # 100 * 10_000 / 60_000 = 16.67 %
        ("game", "op-x", "ONLINE_POKER", "poker", "", 1, 60_000, 0, 10_000, 16.67, None, None),
        # m-1: 500 + 1_500 staked, 3_000 won: 150 %, against the 94.50 % it is certified at
        ("machine", "op-b", "SLOT_HALL", "slots", "m-1", 2, 2_000, 0, 3_000, 150.0, 94.5, 55.5),
        # m-2: 20_000 + 1_600_000, nothing won
        ("machine", "op-b", "SLOT_HALL", "slots", "m-2", 2, 1_620_000, 0, 0, 0.0, 94.5, -94.5),
        # m-9: 100 * 100_000 / 280_000 = 35.71 %; not registered, so no certificate
        ("machine", "op-b", "SLOT_HALL", "slots", "m-9", 1, 280_000, 0, 100_000, 35.71, None, None),
    ]
    assert run(ch, "return_to_player", "level", "operator_id", "rtp_pct", game_type="poker") == [
        ("game", "op-x", 16.67)]
    assert run(ch, "return_to_player", "level", "game_type", "rtp_pct", operator="op-a") == [
        ("game", "roulette", 0.0), ("game", "slots", 27.91)]
    # a period within the day: the machines' daily figures, whatever the hour it ends
    assert run(ch, "return_to_player", "equipment_id", "bets", until_us=at(21, 30), operator="op-b") == [
        ("", 2), ("m-1", 2), ("m-2", 2), ("m-9", 1)]  # the game row has the 21:xx hour only: 500, 1_500
    # 22:xx only: slots has a refund but no stake left in the hour, so no RTP (not a division by 0)
    assert run(ch, "return_to_player", "game_type", "stakes", "refunds", "rtp_pct", since_us=H22,
               operator="op-a") == [("roulette", 40_000, 0, 0.0), ("slots", 0, 5_000, None)]


# -- financial --


def test_ggr(ch: Any) -> None:
    hour = [
        # stakes 5_000 + 23_000 + 20_000 - win 12_000
        (H21, "op-a", "ONLINE_CASINO", 48_000, 0, 12_000, 36_000, 3, 1),
        # stakes 500 + 1_500 - win 3_000
        (H21, "op-b", "SLOT_HALL", 2_000, 0, 3_000, -1_000, 2, 1),
        # stake 40_000 - refund 5_000
        (H22, "op-a", "ONLINE_CASINO", 40_000, 5_000, 0, 35_000, 1, 0),
        # stakes 20_000 + 280_000 + 1_600_000 - win 100_000
        (H22, "op-b", "SLOT_HALL", 1_900_000, 0, 100_000, 1_800_000, 3, 1),
        (H22, "op-x", "ONLINE_POKER", 60_000, 0, 10_000, 50_000, 1, 1),
    ]  # the 30 deposits are wallet flows: no part of it
    assert run(ch, "ggr") == hour
    assert run(ch, "ggr", granularity="kyiv_day") == [
        (NOV9_KYIV if b == H21 else NOV10_KYIV, *rest) for b, *rest in hour]
    assert run(ch, "ggr", granularity="day") == [
        # 88_000 - 5_000 - 12_000 = 71_000
        (at(0), "op-a", "ONLINE_CASINO", 88_000, 5_000, 12_000, 71_000, 4, 1),
        # 1_902_000 - 103_000 = 1_799_000
        (at(0), "op-b", "SLOT_HALL", 1_902_000, 0, 103_000, 1_799_000, 5, 2),
        (at(0), "op-x", "ONLINE_POKER", 60_000, 0, 10_000, 50_000, 1, 1),
    ]
    # since the start of time: op-a's 100_000 at 16:00 and 5_000 on Nov 6 count too, all in Kyiv November
    assert run(ch, "ggr", since_us=0, granularity="kyiv_month", operator="op-a") == [
        (NOV_KYIV, "op-a", "ONLINE_CASINO", 193_000, 5_000, 12_000, 176_000, 6, 1)]
    assert run(ch, "ggr", since_us=0, granularity="month", operator="op-a")[0][0] == at(0, day=1)
    assert run(ch, "ggr", "operator_id", "ggr", licence_kind="ONLINE_POKER") == [("op-x", 50_000)]
    assert run(ch, "ggr", "operator_id", "stakes", "ggr", game_type="roulette") == [("op-a", 40_000, 40_000)]


def test_taxes(ch: Any) -> None:
    nov = (dt(NOV_KYIV), dt(DEC_KYIV))  # the statements' own period: Kyiv November
    assert run(ch, "taxes") == [
        # the payout of 12_000 at 21:25: 18 % = 2_160 PIT and 5 % = 600 levy, both withheld; the
        # November statements overlap these 3 hours, so they show, with their own period (issue 19:
        # "last 7 days" used to show GGR 0 as if there were none)
        ("op-a", 1, 12_000, 2_160, 2_160, 600, 600, 0, 0, 1_500, 150, 1, *nov),
        # 3_000 + 100_000: PIT 540 + 18_000 due, 540 + 15_000 withheld; levy 150 + 5_000
        ("op-b", 2, 103_000, 18_540, 15_540, 5_150, 5_150, -3_000, 1, 700, 70, 1, *nov),
        ("op-c", 0, 0, 0, 0, 0, 0, 0, 0, 200, 20, 1, *nov),
    ]
    # a period no statement overlaps (December): no GGR, and no statement period to state
    assert run(ch, "taxes", "operator_id", "ggr", "statements", "statements_from",
               since_us=DEC_KYIV, until_us=DEC_KYIV + 86_400 * SECOND) == []
    november = dict(since_us=NOV_KYIV, until_us=DEC_KYIV)
    assert run(ch, "taxes", **november) == [
        # + the 50_000 payout at 16:00 (9_000 + 2_500); revision 2 of November only (GGR 1_500, tax
        # 10 % = 150); October's statement ends where the period starts
        ("op-a", 2, 62_000, 11_160, 11_160, 3_100, 3_100, 0, 0, 1_500, 150, 1, *nov),
        ("op-b", 2, 103_000, 18_540, 15_540, 5_150, 5_150, -3_000, 1, 700, 70, 1, *nov),
        # a statement but no payouts
        ("op-c", 0, 0, 0, 0, 0, 0, 0, 0, 200, 20, 1, *nov),
    ]
    assert run(ch, "taxes", "operator_id", "payouts", "ggr", licence_kind="SLOT_HALL", **november) == [
        ("op-b", 2, 700)]
    assert run(ch, "taxes", "operator_id", "ggr", operator="op-c", **november) == [("op-c", 200)]
    # from October: both months' statements of op-a, each at its latest revision
    assert run(ch, "taxes", "operator_id", "ggr", "ggr_tax_due", "statements", "statements_from",
               "statements_until", operator="op-a", since_us=OCT_KYIV, until_us=DEC_KYIV) == [
        ("op-a", 9_000 + 1_500, 900 + 150, 2, dt(OCT_KYIV), dt(DEC_KYIV))]


# -- running --


# The two reports as they read before the daily rollups (commit c6341b1): every hour of the period
# from the hourly rollups, per operator and event kind (system status), per operator, kind and game.
_R = reports
OLD_SQL = {
    "system_status": _R.SYSTEM_STATUS.sql.split("      FROM (SELECT minute AS t", 1)[0] + f"""\
      FROM (SELECT minute AS t, events, delay_q, store_q FROM {_R.DB}.ingest_minutely
            WHERE {{granularity:String}} = 'minute' AND {_R._period('minute')} AND {_R.OP} AND {_R.LK_OP}
            UNION ALL
            SELECT hour, events, delay_q, store_q FROM {_R.DB}.ingest_hourly
            WHERE {{granularity:String}} != 'minute' AND {_R._period('hour')} AND {_R.OP} AND {_R.LK_OP})
      GROUP BY bucket_us)
ORDER BY bucket_us""",
    "player_activity": _R.PLAYER_ACTIVITY.sql.split("FROM (SELECT licence_kind, uniqExactMerge", 1)[0] + f"""\
FROM (SELECT licence_kind, uniqExactMerge(players) AS players, sum(bets) AS bets, sum(stakes) AS stakes
      FROM {_R.DB}.ggr_hourly WHERE {_R._GGR_PERIOD} GROUP BY licence_kind) AS g
LEFT JOIN (SELECT licence_kind, {_R.QMERGE}(stake_q) AS q, sum(band_1) AS b1, sum(band_2) AS b2,
                  sum(band_3) AS b3, sum(band_4) AS b4, sum(band_5) AS b5
           FROM {_R.DB}.stakes_hourly WHERE {_R._GGR_PERIOD} GROUP BY licence_kind) AS s
  ON s.licence_kind = g.licence_kind
ORDER BY licence_kind""",
}


def hourly_only(report: Report) -> Report:
    """``report`` as it read before the daily rollups."""
    return dataclasses.replace(report, sql=OLD_SQL[report.name])


def without_store(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows less the time to queryable (``store_*``): a rollup's is measured when it is rolled up
    (now64()), and the daily and hourly rollups are rolled up milliseconds apart here."""
    return [{k: v for k, v in row.items() if not k.startswith("store_")} for row in rows]


@pytest.mark.parametrize("name", ["system_status", "player_activity"])
def test_whole_days_from_the_daily_rollups_equal_the_hours(ch: Any, name: str) -> None:
    """The same rows, quantiles included (exact on so few values), for periods of whole days, of a
    partial day, of whole UTC but not Kyiv days, and with each filter (which reads hours only)."""
    report = BY_NAME[name]
    day = 24 * HOUR
    periods = [(0, NOW + day), (NOV10_KYIV, NOW + day), (NOV9_KYIV + 5 * HOUR, NOW + day),
               (at(0), at(0, day=10)), (NOV9_KYIV, NOV10_KYIV)]
    cases = [(since, until, granularity, {}) for since, until in periods
             for granularity in (("day", "month", "kyiv_day") if report.time_series else ("hour",))]
    filters = (("operator", "op-b"), ("game_type", "slots"), ("licence_kind", "SLOT_HALL"))
    cases += [(0, NOW + day, "day", {f: v}) for f, v in filters if f in report.filters]
    compared = 0
    for since, until, granularity, f in cases:
        p = params(since_us=since, until_us=until, granularity=granularity, **f)
        rows, old = (without_store(run_report(ch, DB, r, p).rows) for r in (report, hourly_only(report)))
        assert rows == old, (since, until, granularity, f)
        compared += len(rows) > 0
    assert compared == len(cases)
    # and the daily rollups were read: the first period is whole days only
    daily = {"system_status": "ingest_by_operator", "player_activity": "players_daily"}[name]
    assert int(ch.command(f"SELECT count() FROM {DB}.{daily}")) > 0


def test_every_report_has_its_test() -> None:
    assert [r.name for r in REPORTS if f"test_{r.name}" not in globals()] == []


def test_every_report_runs_at_every_granularity_with_its_documented_columns(ch: Any) -> None:
    for report in REPORTS:
        for granularity in GRANULARITIES if report.time_series else ("hour",):
            rows = run_report(ch, DB, report, params(granularity=granularity, since_us=0)).rows
            assert rows, (report.name, granularity)
            assert tuple(rows[0]) == report.column_names


def test_every_filter_a_report_takes_is_used(ch: Any) -> None:
    """A filter value nothing matches leaves no rows: every filter a report lists does apply."""
    for report in REPORTS:
        for name in report.filters:
            rows = run_report(ch, DB, report, params(since_us=0, **{name: "nothing-such"})).rows
            assert rows == [], (report.name, name, rows)


def test_reports_run_read_only(ch: Any) -> None:
    before = int(ch.command(f"SELECT count() FROM {DB}.rejections"))
    writer = Report(name="writer", group="operational", title="", description="",
                    sql="INSERT INTO {db:Identifier}.rejections (operator_id, reason) VALUES ('op-z', 'x')",
                    columns=(), chart=None)
    with pytest.raises(Exception, match="(?i)readonly|read-only|cannot"):
        run_report(ch, DB, writer, params())
    with pytest.raises(Exception, match="(?i)readonly|read-only|cannot"):
        ch.command(f"TRUNCATE TABLE {DB}.rejections", settings=READ_ONLY)
    assert int(ch.command(f"SELECT count() FROM {DB}.rejections")) == before == 8


# -- as of the event's time --
#
# A second database on the same chdb: op-s (SLOT_HALL, LIC-S from Nov 1) runs hall-s with machines
# m-r (certified 94.50 % from Nov 1, re-certified 96.00 % from Nov 10 00:00) and m-new (registered
# from Nov 9 22:00 only). The regulator suspended LIC-S from Nov 9 22:00, recorded at 23:00 (after
# the fact: the events of 22:xx were accepted before the registry knew). Nov 9: BET 10_000 and
# WIN 5_000 on m-r at 21:10, BET 10_000 on m-new at 21:30, BET 20_000 on m-r at 22:20; a bet
# rejected licence_suspended at 22:40. Nov 10: BET 10_000 and WIN 9_000 on m-r at 01:00.

ASOF_DB = "reports_asof"
NOV1 = at(0, day=1)


def _version(seq: int, kind: str, entity_id: str, valid_from: int, recorded: int, valid_to: int | None = None,
             **data: Any) -> Version:
    return Version(seq, kind, entity_id, "op-s", valid_from, valid_to, recorded,
                   {"kind": kind, "operator_id": "op-s", **data})


def _asof_registry() -> list[tuple[bytes, bytes]]:
    lic = dict(licence_id="LIC-S", licence_kind="SLOT_HALL", valid_from_us=NOV1, valid_to_us=None)
    m_r = dict(equipment_id="m-r", establishment_id="hall-s")
    histories = [
        [_version(1, "operator", "op-s", NOV1, NOV1, legal_name="Sigma")],
        [_version(2, "licence", "LIC-S", NOV1, NOV1, **lic),
         _version(7, "licence", "LIC-S", H22, at(23), status="suspended", status_reason="unpaid fee", **lic)],
        [_version(3, "establishment", "hall-s", NOV1, NOV1, licence_id="LIC-S")],
        [_version(4, "equipment", "m-r", NOV1, NOV1, certified_rtp_bp=9450, **m_r),
         _version(6, "equipment", "m-r", NOW, NOW, certified_rtp_bp=9600, **m_r)],
        [_version(5, "equipment", "m-new", H22, H22, equipment_id="m-new", establishment_id="hall-s",
                  certified_rtp_bp=9000)],
    ]
    # the topic as the sink reads it: m-r's first record (one version), then its newest (both)
    return ([(topic_key("equipment", "m-r"), topic_value(histories[3][:1]))]
            + [(topic_key(h[0].kind, h[0].entity_id), topic_value(h)) for h in histories])


def _slot(seq: int, kind: str, amount: int, occurred: int, machine_id: str) -> dict[str, Any]:
    n = next(_receipts)
    return dict(receipt_id=f"s-{n:04d}", operator_id="op-s", source_id="s-s1", seq=seq, kind=kind,
                licence_id="LIC-S", licence_kind="SLOT_HALL", channel="ESTABLISHMENT", game_type="slots",
                player_ref="P9", amount=amount, currency="UAH", occurred_at=occurred,
                received_at=occurred + SECOND, chain_id="op-s/0", chain_index=n, establishment_id="hall-s",
                equipment_id=machine_id)


def load_asof(ch: Any) -> None:
    ch.command(f"CREATE DATABASE IF NOT EXISTS {ASOF_DB}")
    create_tables(ch, ASOF_DB)
    rows = [_slot(1, "BET", 10_000, at(21, 10), "m-r"), _slot(2, "WIN", 5_000, at(21, 10), "m-r"),
            _slot(3, "BET", 10_000, at(21, 30), "m-new"), _slot(4, "BET", 20_000, at(22, 20), "m-r"),
            _slot(6, "BET", 10_000, at(1, day=10), "m-r"), _slot(7, "WIN", 9_000, at(1, day=10), "m-r")]
    data = [[r.get(c.name, _default(c.type)) for c in EVENTS.columns] for r in rows]
    ch.insert(EVENTS.name, data, column_names=EVENTS.column_names, database=ASOF_DB,
              column_type_names=EVENTS.column_types)
    rejected = rej("op-s", "s-s1", 5, "licence_suspended", at(22, 40))
    ch.insert(REJECTIONS.name, [[rejected.get(c.name, _default(c.type)) for c in REJECTIONS.columns]],
              column_names=REJECTIONS.column_names, database=ASOF_DB,
              column_type_names=REJECTIONS.column_types)
    assert insert_registry_records(ch, ASOF_DB, _asof_registry()) == 6
    rebuild_all(ch, ASOF_DB)


@pytest.fixture
def asof(ch: Any) -> Any:
    return ch


def run_asof(ch: Any, name: str, *columns: str, **changes: Any) -> list[tuple[Any, ...]]:
    report = BY_NAME[name]
    result = run_report(ch, ASOF_DB, report, params(**changes))
    return [tuple(row[c] for c in columns or report.column_names) for row in result.rows]


def test_an_event_before_a_suspension_counts_as_licensed_one_after_does_not(asof: Any) -> None:
    cols = ("licence_id", "licence_status", "accepted", "unlicensed_attempts", "status")
    # 21:xx: the licence was active then, although it is suspended now
    assert run_asof(asof, "licence_compliance", *cols, until_us=H22, silent_after_s=10**9) == [
        ("LIC-S", "active", 3, 0, "ok")]
    # 22:xx on: the BET of 22:20 (accepted before the registry knew) and the rejected one of 22:40
    assert run_asof(asof, "licence_compliance", *cols, since_us=H22, until_us=H23) == [
        ("LIC-S", "suspended", 1, 2, "unlicensed activity")]
    # a suspended licence's silence is no finding; its unlicensed activity is
    alerts = run_asof(asof, "compliance_alerts", "alert", "value", "detail")
    assert [a for a in alerts if a[0] == "silent_operator"] == []
    assert ("unlicensed_activity", 2, "1 rejected as outside the licence, 1 accepted while no licence of "
            "their kind was in force") in alerts


def test_return_to_player_shows_the_certified_rtp_in_force(asof: Any) -> None:
    two_days = dict(since_us=H21, until_us=at(0, day=11))
    assert run_asof(asof, "return_to_player", "equipment_id", "bets", "rtp_pct", "certified_rtp_pct",
                    "rtp_minus_certified", **two_days) == [
        # all of op-s's slots: 14_000 won of 50_000 staked; a game has no certificate
        ("", 4, 28.0, None, None),
        # m-new's bet (21:30) came before it was registered (22:00): no certificate in force
        ("m-new", 1, 0.0, None, None),
        # m-r on Nov 9: 5_000 won of 30_000 (16.67 %) under the 94.50 % certificate in force then
        ("m-r", 2, 16.67, 94.5, -77.83),
        # ... and on Nov 10: 9_000 of 10_000 under the 96.00 % one
        ("m-r", 1, 90.0, 96.0, -6.0),
    ]


def test_unregistered_assets_as_of_the_event(asof: Any) -> None:
    # m-new was registered from 22:00: its 21:30 bet was on an unregistered machine
    assert run_asof(asof, "unregistered_assets", "asset_type", "asset_id", "events") == [
        ("equipment", "m-new", 1)]
    # the next day everything op-s used was registered
    assert run_asof(asof, "unregistered_assets", since_us=at(0, day=10), until_us=at(0, day=11)) == []


def test_every_detail_a_report_writes_is_said_in_the_readers_language(ch: Any) -> None:
    # The reports' SQL writes ``detail`` in English; the pages say it by web.labels.DETAILS's
    # patterns (JavaScript regular expressions). A new sentence without a pattern would reach
    # a Ukrainian reader in English, so every detail of this data set must match one.
    import re

    from web.labels import DETAILS

    patterns = [re.compile(p.replace("(?<", "(?P<")) for p, _, _ in DETAILS]
    seen = {r["detail"] for report in REPORTS if "detail" in report.column_names
            for params_ in (params(), params(since_us=0), params(silent_after_s=200))
            for r in run_report(ch, DB, report, params_).rows
            if r.get("alert") != "unregistered_asset"}  # that detail lists asset IDs, said as they are
    assert len(seen) >= 8, seen  # the data set writes most kinds of finding
    unsaid = sorted(d for d in seen if d and not any(p.match(d) for p in patterns))
    assert unsaid == []
