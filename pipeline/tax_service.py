"""The State Tax Service's side: read tax-events as the authority would and keep its ledger.

Every tax-event is keyed and self-identifying (payouts by receipt ID, statements by operator,
period and revision), so the ledger is idempotent: reading the topic twice, or a record
twice, gives the same totals.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from pipeline.kafka.reader import read_to_end, topic_partitions
from pipeline.settings import Settings
from schemas import GGR_STATEMENT, PAYOUT_TAX_BATCH, TAX_DISCREPANCY, default_codec


@dataclass
class TaxLedger:
    payouts: dict[str, dict[str, Any]] = field(default_factory=dict)  # receipt_id -> payout tax
    payout_operator: dict[str, str] = field(default_factory=dict)
    statements: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    discrepancies: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, schema: str, record: dict[str, Any]) -> None:
        if schema == PAYOUT_TAX_BATCH:
            for p in record["payouts"]:
                self.payouts[p["receipt_id"]] = p
                self.payout_operator[p["receipt_id"]] = record["operator_id"]
        elif schema == GGR_STATEMENT:
            key = (record["operator_id"], record["period"])
            current = self.statements.get(key)
            if current is None or record["revision"] > current["revision"]:
                self.statements[key] = record
        elif schema == TAX_DISCREPANCY:
            self.discrepancies[record["receipt_id"]] = record

    def per_operator(self) -> dict[str, dict[str, int]]:
        """Winnings tax totals per operator, from the individual payouts."""
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for rid, p in self.payouts.items():
            t = totals[self.payout_operator[rid]]
            t["payouts"] += 1
            t["winnings"] += p["amount"]
            for name in ("pit_due", "military_due", "pit_withheld", "military_withheld"):
                t[name] += p[name]
        for d in self.discrepancies.values():
            totals[d["operator_id"]]["discrepancies"] += 1
        return {op: dict(t) for op, t in totals.items()}


def read_ledger(settings: Settings) -> TaxLedger:
    codec = default_codec()
    ledger = TaxLedger()
    pattern = settings.topics.tax_events.replace(".", r"\.")
    group = settings.topics.tax_service_group
    tps = topic_partitions(settings.kafka, pattern, group=group)
    for msg in read_to_end(settings.kafka, tps, group=group):
        schema, record = codec.decode(msg.value() or b"")
        ledger.apply(schema, record)
    return ledger


def uah(kopecks: int) -> str:
    sign = "-" if kopecks < 0 else ""
    kopecks = abs(kopecks)
    return f"{sign}{kopecks // 100:,}.{kopecks % 100:02d}"


def print_ledger(ledger: TaxLedger) -> None:
    print("== State Tax Service view (from the tax-events topic; amounts in UAH)")
    print(f"{'operator':<22} {'period':<10} {'rev':>3} {'status':<6} {'GGR':>16} {'GGR tax due':>14} "
          f"{'PIT due':>13} {'levy due':>12} {'PIT withheld':>13} {'discrep.':>8}")
    for (op, period), st in sorted(ledger.statements.items()):
        print(f"{op:<22} {period:<10} {st['revision']:>3} {st['status']:<6} {uah(st['ggr']):>16} "
              f"{uah(st['ggr_tax_due']):>14} {uah(st['pit_due']):>13} {uah(st['military_due']):>12} "
              f"{uah(st['pit_withheld']):>13} {st['discrepancies']:>8}")
    totals = ledger.per_operator()
    print(f"payouts taxed: {len(ledger.payouts):,}; discrepancies raised: {len(ledger.discrepancies):,}; "
          f"operators: {len(totals)}")


def save_ledger(ledger: TaxLedger, path: Path) -> None:
    doc = {"statements": [st for _, st in sorted(ledger.statements.items())],
           "per_operator": ledger.per_operator(),
           "discrepancies": sorted(ledger.discrepancies)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
