"""How fast each report answers over a large table: ``make report-bench`` (REPORT_BENCH_EVENTS=100000000).

Fills a fresh chdb folder with synthetic events made by ClickHouse itself (``numbers()``), so the
rollups are built chunk by chunk exactly as the sink rolls up its batches, plus the payout-tax rows
and rejections the reports read, and a registry; then runs each report several times over the
whole period and over the last day, and prints the median and worst latency.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from dashboards.params import DAY_US, SECOND_US, ReportParams
from dashboards.reports import REPORTS
from dashboards.run import run_report
from pipeline.core.model import LicenceKind
from pipeline.registry import Licence, Operator, Registry
from pipeline.settings import ClickHouseSettings
from registry.core.snapshot import records_of
from sinks.clickhouse.client import connect
from sinks.clickhouse.registry_tables import insert_registry_records
from sinks.clickhouse.rollups import TOKEN_COLUMN, roll_up
from sinks.clickhouse.tables import EVENTS, create_tables

RUN = Path(__file__).resolve().parent.parent / ".run" / "report-bench"
DB = "dsom"
OPERATORS = 50
# 100 million events over 7 days is about 165 events/s on average; at the design rate of 10k to
# 100k events/s they would take hours, so a week is the generous case for the per-minute rollup.
DAYS = 7
CHUNK = 5_000_000
KINDS = [str(k) for k in LicenceKind]

# One synthetic event per number n: operator, kind, player, game, asset and time all follow
# from n (and a hash of it), so the data is reproducible and spread like a real market.
EVENTS_SELECT = """
INSERT INTO {db}.events ({columns})
SELECT
    concat('r', toString(n)) AS receipt_id,
    concat('op-', leftPad(toString(op), 3, '0')) AS operator_id,
    concat('src-', toString(op), '-', toString(n % 4)) AS source_id,
    intDiv(n, 200) + 1 AS seq,
    concat('tx', toString(n)) AS operator_ref,
    multiIf(h % 100 < 55, 'BET', h % 100 < 80, 'WIN', h % 100 < 82, 'REFUND',
            h % 100 < 92, 'DEPOSIT', 'WITHDRAWAL') AS kind,
    concat('LIC-', toString(op)) AS licence_id,
    {kinds}[op % 5 + 1] AS licence_kind,
    if(op % 5 IN (0, 3), 'ESTABLISHMENT', 'SITE') AS channel,
    if(channel = 'ESTABLISHMENT', concat('op', toString(op), '-hall-', toString(h % 7)), '')
        AS establishment_id,
    if(channel = 'ESTABLISHMENT' AND kind IN ('BET', 'WIN', 'REFUND'),
       concat('op', toString(op), '-m-', toString(intDiv(h, 7) % 400)), '') AS equipment_id,
    if(channel = 'SITE', concat('op', toString(op), '.example.ua'), '') AS site_id,
    '' AS app_id,
    if(kind IN ('BET', 'WIN', 'REFUND'), ['slots', 'roulette', 'blackjack', 'sports', 'live', 'esports',
        'poker_cash', 'poker_tournament', 'keno', 'baccarat'][h % 10 + 1], '') AS game_type,
    '' AS round_ref,
    -- a bet and its settlement share a reference (the cabinets' drill-down looks bets up by it)
    if(kind IN ('BET', 'WIN', 'REFUND'), concat('b', toString(intDiv(n, 2))), '') AS bet_ref,
    concat('p_', toString(h % 200000)) AS player_ref,
    toInt64(500 + (h % 50000) * (1 + (h % 7 = 0) * 20)) AS amount,
    'UAH' AS currency,
    fromUnixTimestamp64Micro(toInt64({start_us} + n * {step_us})) AS occurred_at,
    fromUnixTimestamp64Micro(toInt64({start_us} + n * {step_us}
        + if(h % 1000 = 0, 7200000000, 500000 + h % 2000000))) AS received_at,
    if(kind = 'WIN', intDiv(amount * 18 + 50, 100), 0) AS tax_withheld_pit,
    if(kind = 'WIN', intDiv(amount * 5 + 50, 100), 0) AS tax_withheld_military,
    concat('chain-', toString(op)) AS chain_id, n AS chain_index,
    toFixedString(substring(reinterpretAsString(cityHash64(n)), 1, 8), 32) AS hash,
    'bench.archive' AS src_topic, toUInt16(n % 6) AS src_partition, intDiv(n, 500) AS src_offset,
    '{token}' AS ingest_token
FROM (SELECT number AS n, cityHash64(number) AS h, h % {operators} AS op
      FROM numbers({first}, {count}))
"""

# Named, so columns ClickHouse fills itself (inserted_at) keep their defaults.
_EVENT_COLUMNS = ", ".join((*EVENTS.column_names, TOKEN_COLUMN))

PAYOUTS_SELECT = """
INSERT INTO {db}.tax_events (record_type, row_key, operator_id, receipt_id, licence_id, licence_kind,
    player_ref, occurred_at, amount, pit_rate_ppm, military_rate_ppm, pit_due, military_due, pit_withheld,
    military_withheld, discrepancy, src_topic, src_partition, src_offset, ingest_token)
SELECT 'payout', receipt_id, operator_id, receipt_id, licence_id, licence_kind, player_ref, occurred_at,
       amount, 180000, 50000, tax_withheld_pit, tax_withheld_military,
       tax_withheld_pit - (cityHash64(receipt_id) % 5000 = 0), tax_withheld_military,
       cityHash64(receipt_id) % 5000 = 0, 'bench.tax-events', 0, chain_index, '{token}'
FROM {db}.events WHERE kind = 'WIN' AND chain_index >= {first} AND chain_index < {last}
"""

REJECTIONS_SELECT = """
INSERT INTO {db}.rejections (operator_id, source_id, seq, operator_ref, receipt_id, reason, detail, kind,
    amount, occurred_at, processed_at, ingest_topic, ingest_partition, ingest_offset, src_topic,
    src_partition, src_offset)
SELECT concat('op-', leftPad(toString(number % {operators}), 3, '0')), '', NULL, '',
       concat('x', toString(number)),
       ['unknown_licence', 'future_time', 'absurd_amount', 'missing_field', 'unknown_bet'][number % 5 + 1],
       '', 'BET', 100, NULL,
       fromUnixTimestamp64Micro(toInt64({start_us} + number * {step_us})),
       'bench.ingest', 0, number, 'bench.receipts', 0, number
FROM numbers({count})
"""


def _registry() -> Registry:
    ops = []
    for op in range(OPERATORS):
        kind = LicenceKind(KINDS[op % 5])
        ops.append(Operator(
            operator_id=f"op-{op:03d}", name=f"Bench operator {op}",
            licences=(Licence(licence_id=f"LIC-{op}", kind=kind),),
            establishments=tuple(f"op{op}-hall-{h}" for h in range(7)),
            equipment=tuple(f"op{op}-m-{m}" for m in range(395)),  # 5 machines per operator unregistered
            sites=(f"op{op}.example.ua",),
        ))
    return Registry(operators=tuple(ops))


def fill(client: Any, events: int, start_us: int, span_us: int) -> None:
    create_tables(client, DB)
    insert_registry_records(client, DB, records_of(_registry()))
    started = time.monotonic()
    for first in range(0, events, CHUNK):
        count = min(CHUNK, events - first)
        # n * step, not n * span / total: the product of the latter overflows 64 bits at 100 M events
        # Each chunk is a batch as the sink stores one: rows tagged with a token, then rolled up.
        token = f"bench-{first}"
        client.command(EVENTS_SELECT.format(db=DB, kinds="['" + "','".join(KINDS) + "']", first=first,
                                            count=count, start_us=start_us, step_us=span_us // events,
                                            operators=OPERATORS, token=token, columns=_EVENT_COLUMNS))
        client.command(PAYOUTS_SELECT.format(db=DB, first=first, last=first + count, token=token))
        roll_up(client, DB, "events", token)
        roll_up(client, DB, "tax_events", token)
        done = first + count
        rate = done / max(time.monotonic() - started, 1e-9)
        print(f"  filled {done:>12,} of {events:,} events ({rate:,.0f}/s, "
              f"{(events - done) / rate:,.0f} s left)", flush=True)
    rejections = max(events // 200, 1)
    client.command(REJECTIONS_SELECT.format(db=DB, count=rejections, operators=OPERATORS,
                                            start_us=start_us, step_us=span_us // rejections))
    client.command(f"OPTIMIZE TABLE {DB}.ingest_minutely FINAL")  # as background merges would, in time


def measure(client: Any, now_us: int, start_us: int, repeats: int) -> list[dict[str, Any]]:
    results = []
    windows = {"whole period": (start_us, now_us + DAY_US), "last day": (now_us - DAY_US, now_us + DAY_US)}
    for report in REPORTS:
        row: dict[str, Any] = {"report": report.name, "group": report.group}
        for label, (since, until) in windows.items():
            params = ReportParams(since_us=since, until_us=until, now_us=now_us,
                                  granularity="day" if label == "whole period" else "hour")
            times, rows = [], 0
            for _ in range(repeats):
                t = time.perf_counter()
                rows = len(run_report(client, DB, report, params).rows)
                times.append(time.perf_counter() - t)
            row[label] = {"median_ms": round(statistics.median(times) * 1000, 1),
                          "max_ms": round(max(times) * 1000, 1), "rows": rows}
        results.append(row)
        whole, day = row["whole period"], row["last day"]
        print(f"  {report.group:<12} {report.name:<22} whole period {whole['median_ms']:>8.1f} ms "
              f"(max {whole['max_ms']:>8.1f}, {whole['rows']:>6} rows)   "
              f"last day {day['median_ms']:>7.1f} ms", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--days", type=int, default=DAYS, help="days the events are spread over")
    ap.add_argument("--reuse", action="store_true", help="measure the data of the last run again")
    args = ap.parse_args(argv)
    folder = RUN / "chdb"
    meta = RUN / "data.json"
    now_us = int(time.time()) * SECOND_US
    if not args.reuse:
        shutil.rmtree(RUN, ignore_errors=True)
    RUN.mkdir(parents=True, exist_ok=True)
    client = connect(ClickHouseSettings(dsn=SecretStr(f"chdb://{folder}"), database=DB))
    if args.reuse and meta.exists():
        info = json.loads(meta.read_text())
        now_us, events = info["now_us"], info["events"]
        print(f"== reusing {events:,} events in {folder} (rollups added since are built from them)")
        t = time.monotonic()
        create_tables(client, DB)
        print(f"   ready in {time.monotonic() - t:,.0f} s")
    else:
        events = args.events
        days = args.days
        print(f"== filling {folder} with {events:,} synthetic events over {days} days, {OPERATORS} operators "
              f"(ClickHouse generates them; each chunk is rolled up as a sink batch)")
        t = time.monotonic()
        fill(client, events, now_us - days * DAY_US, days * DAY_US)
        print(f"   filled in {time.monotonic() - t:,.0f} s")
        meta.write_text(json.dumps({"now_us": now_us, "events": events, "days": days}))
    days = json.loads(meta.read_text())["days"]
    start_us = now_us - days * DAY_US
    sizes = {str(name): int(rows) for name, rows in client.query(
        f"SELECT table, sum(rows) FROM system.parts WHERE database = '{DB}' AND active GROUP BY table "
        "ORDER BY table").result_rows}
    print("== rows per table: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    print(f"== each report {args.repeats} times (median, worst): whole {days}-day period, and the last day")
    results = measure(client, now_us, start_us, args.repeats)
    out = RUN / "results.json"
    out.write_text(json.dumps({"events": events, "rows": sizes, "reports": results}, indent=2))
    slowest = max(results, key=lambda r: r["whole period"]["median_ms"])
    worst = slowest["whole period"]["median_ms"]
    print(f"== slowest: {slowest['report']} at {worst:,.0f} ms; figures in {out}")
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
