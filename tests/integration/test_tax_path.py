"""GGR and tax end to end: a known stream with duplicates and a SIGKILL mid-way gives, on the
tax-events topic, totals equal to the ones computed here by hand from the accepted events."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import pytest

from pipeline.progress import Totals
from pipeline.settings import Settings
from pipeline.tax_service import TaxLedger, read_ledger
from sinks.clickhouse.client import connect
from sinks.clickhouse.queries import ggr_windows, latest_statements, tax_summary
from tests.integration.conftest import Worker
from tests.integration.test_ingest_path import Expected, fleet, produce_traffic, seed_registry

pytestmark = pytest.mark.integration


def half_up(amount: int, percent_x10: int) -> int:
    return (amount * percent_x10 + 500) // 1000  # percent_x10: 180 = 18.0 %, 50 = 5.0 %


def by_hand(expected: Expected) -> dict[str, dict[str, int]]:
    """Per operator: stakes, refunds, winnings, GGR, payouts and both winnings taxes due."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (op, _, _), ev in expected.bodies.items():
        t = out[op]
        if ev["kind"] == "BET":
            t["stakes"] += ev["amount"]
        elif ev["kind"] == "REFUND":
            t["refunds"] += ev["amount"]
        elif ev["kind"] == "WIN":
            t["winnings"] += ev["amount"]
            t["payouts"] += 1
            t["pit_due"] += half_up(ev["amount"], 180)
            t["military_due"] += half_up(ev["amount"], 50)  # all test events are after Dec 2024
    for t in out.values():
        t["ggr"] = t["stakes"] - t["refunds"] - t["winnings"]
    return {op: dict(t) for op, t in out.items()}


def from_ledger(ledger: TaxLedger) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (op, _), st in ledger.statements.items():
        for name in ("stakes", "refunds", "winnings", "ggr", "payouts", "pit_due", "military_due"):
            out[op][name] += st[name]
    return {op: dict(t) for op, t in out.items()}


def wait_for_statements(settings: Settings, want: dict[str, dict[str, Any]],
                        timeout: float = 120) -> TaxLedger:
    deadline = time.monotonic() + timeout
    ledger = read_ledger(settings)
    while from_ledger(ledger) != want and time.monotonic() < deadline:
        time.sleep(1)
        ledger = read_ledger(settings)
    return ledger


def test_ggr_and_tax_equal_the_hand_computed_totals(settings: Settings, worker: Worker) -> None:
    fast = settings.tax.model_copy(update={"statement_interval_s": 0.5})
    settings = settings.model_copy(update={"tax": fast})
    worker.settings = settings
    registry = seed_registry(settings)
    traffic = fleet(registry, seed=31)
    expected = produce_traffic(settings, traffic, batches=200)
    worker.start()
    worker.wait_until(lambda t: t.events_in >= len(expected.events) // 3, 120, "a third processed")
    worker.kill()
    produce_traffic(settings, traffic, batches=50, expected=expected)
    worker.start()
    want = by_hand(expected)
    assert all(t["payouts"] > 0 for t in want.values())
    ledger = wait_for_statements(settings, want)
    wait_for_sink(worker, sum(t["payouts"] for t in want.values()))
    assert worker.stop() == 0
    assert from_ledger(ledger) == want
    # Per-payout records agree with the statements, payout by payout, and reading twice changes nothing.
    wins = {op: t["payouts"] for op, t in want.items()}
    per_op = ledger.per_operator()
    assert {op: t["payouts"] for op, t in per_op.items()} == wins
    assert {op: t["pit_due"] for op, t in per_op.items()} == {op: t["pit_due"] for op, t in want.items()}
    again = read_ledger(settings)
    assert again.per_operator() == per_op and from_ledger(again) == want

    # ClickHouse: the GGR windows, the payout taxes and the latest statements agree too.
    client = connect(settings.clickhouse)
    db = settings.clickhouse.database
    try:
        windows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for w in ggr_windows(client, db, "kyiv_month"):
            for name in ("stakes", "refunds", "winnings", "ggr", "payouts"):
                windows[w["operator_id"]][name] += w[name]
        names = ("stakes", "refunds", "winnings", "ggr", "payouts")
        assert {op: dict(t) for op, t in windows.items()} == {
            op: {k: t[k] for k in names} for op, t in want.items()}
        taxes = {r["operator_id"]: (r["payouts"], r["pit_due"], r["military_due"])
                 for r in tax_summary(client, db)}
        assert taxes == {op: (t["payouts"], t["pit_due"], t["military_due"]) for op, t in want.items()}
        statements: dict[str, int] = defaultdict(int)
        for st in latest_statements(client, db):
            statements[st["operator_id"]] += st["ggr"]
        assert dict(statements) == {op: t["ggr"] for op, t in want.items()}
    finally:
        client.close()


def wait_for_sink(worker: Worker, payouts: int) -> None:
    """Until ClickHouse holds every payout's tax row and the tax rows stop changing."""
    seen: list[float] = []

    def settled(t: Totals) -> bool:
        seen.append(t.clickhouse_rows["tax_events"])
        return seen[-1] >= payouts and len(seen) >= 5 and seen[-1] == seen[-5]

    worker.wait_until(settled, 120, "ClickHouse to hold the tax-events")
