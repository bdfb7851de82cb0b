"""Turn archived (accepted, unique) events into tax-events: payout taxes, discrepancies, statements.

Pure apart from the state it is handed, like the validator's processor: the tax agent writes
what this returns, with the consumed archive offsets, in one Kafka transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.core.model import EventKind
from pipeline.core.state import ChangelogEntry, state_key_prefix
from pipeline.core.statements import Statement, StatementBook
from pipeline.core.tax import PayoutTax, TaxRates, payout_tax
from pipeline.settings import SECOND_US, TaxSettings


class TaxState:
    """Statements of the operators whose archive records land in one archive partition."""

    def __init__(self, topic: str, partition: int, settings: TaxSettings) -> None:
        self.prefix = state_key_prefix(topic, partition)
        self.book = StatementBook(settings.period, int(settings.statement_interval_s * SECOND_US),
                                  int(settings.close_grace_s * SECOND_US))

    def entry(self, st: Statement) -> ChangelogEntry:
        return self.prefix + f"stmt|{st.operator_id}|{st.period}".encode(), st.dumps()

    def apply(self, key: bytes, value: bytes | None) -> None:
        if value is not None and key[len(self.prefix):].startswith(b"stmt|"):
            self.book.put(Statement.loads(value))


@dataclass
class TaxOutcome:
    payouts: dict[str, Any] | None = None  # PayoutTaxBatch record
    discrepancies: list[dict[str, Any]] = field(default_factory=list)  # TaxDiscrepancy records
    changelog: list[ChangelogEntry] = field(default_factory=list)


class TaxProcessor:
    def __init__(self, rates: TaxRates, settings: TaxSettings) -> None:
        self._rates = rates
        self._tolerance = settings.tolerance_kopecks

    def process(self, state: TaxState, batch: dict[str, Any]) -> TaxOutcome:
        """Account one ArchiveBatch: every event once, since the archive holds each event once."""
        out = TaxOutcome()
        operator = batch["operator_id"]
        touched: dict[tuple[str, str], Statement] = {}
        payouts: list[dict[str, Any]] = []
        for archived in batch["events"]:
            ev = archived["event"]
            tax: PayoutTax | None = None
            if ev["kind"] == EventKind.WIN:
                tax = payout_tax(archived["receipt_id"], ev, self._rates, self._tolerance)
                payouts.append(_payout_record(tax, ev))
                if tax.discrepancy:
                    out.discrepancies.append(_discrepancy_record(tax, operator, ev, self._tolerance))
            st = state.book.add(operator, ev, tax)
            touched[(st.operator_id, st.period)] = st
        if payouts:
            out.payouts = {"operator_id": operator, "chain_id": batch["chain_id"],
                           "ingest_offset": batch["ingest_offset"], "payouts": payouts}
        out.changelog = [state.entry(st) for st in touched.values() if st.dirty]
        return out

    def due(self, state: TaxState, now_us: int) -> tuple[list[dict[str, Any]], list[ChangelogEntry]]:
        """Statements to issue now (GgrStatement records) and the state changes that records."""
        issued = state.book.due(now_us)
        return [st.to_record(self._rates) for st in issued], [state.entry(st) for st in issued]


def _payout_record(tax: PayoutTax, ev: dict[str, Any]) -> dict[str, Any]:
    return {
        "receipt_id": tax.receipt_id, "licence_id": ev["licence_id"], "licence_kind": ev["licence_kind"],
        "player_ref": ev["player_ref"], "occurred_at_us": tax.occurred_at_us, "amount": tax.amount,
        "pit_rate_ppm": tax.pit_rate_ppm, "military_rate_ppm": tax.military_rate_ppm,
        "pit_due": tax.pit_due, "military_due": tax.military_due, "pit_withheld": tax.pit_withheld,
        "military_withheld": tax.military_withheld, "discrepancy": tax.discrepancy,
    }


def _discrepancy_record(tax: PayoutTax, operator: str, ev: dict[str, Any], tolerance: int) -> dict[str, Any]:
    return {
        "receipt_id": tax.receipt_id, "operator_id": operator, "licence_id": ev["licence_id"],
        "occurred_at_us": tax.occurred_at_us, "amount": tax.amount, "pit_due": tax.pit_due,
        "pit_withheld": tax.pit_withheld, "military_due": tax.military_due,
        "military_withheld": tax.military_withheld, "tolerance": tolerance,
    }
