"""Turn archived (accepted, unique) events into tax-events: payout taxes, discrepancies, statements.

Pure apart from the state it is handed, like the validator's processor: the tax agent writes
what this returns, with the consumed archive offsets, in one Kafka transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.core.archive_tax import Discrepancy, archive_tax_reader, payout_record
from pipeline.core.engine import Engine
from pipeline.core.model import EventKind
from pipeline.core.state import ChangelogEntry, state_key_prefix
from pipeline.core.statements import Statement, StatementBook
from pipeline.core.tax import PayoutTax, TaxRates, payout_tax
from pipeline.settings import SECOND_US, TaxSettings
from schemas import ARCHIVE_BATCH, PAYOUT_TAX_BATCH, Codec, default_codec


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
    operator_id: str = ""
    chain_id: str = ""
    ingest_offset: int = 0
    events: int = 0
    payouts: bytes | None = None  # single-object PayoutTaxBatch of the batch's WINs
    payout_count: int = 0
    discrepancies: list[dict[str, Any]] = field(default_factory=list)  # TaxDiscrepancy records
    changelog: list[ChangelogEntry] = field(default_factory=list)


class TaxProcessor:
    def __init__(self, rates: TaxRates, settings: TaxSettings, codec: Codec | None = None,
                 engine: Engine = "native") -> None:
        self._rates = rates
        self._tolerance = settings.tolerance_kopecks
        self._codec = codec if codec is not None else default_codec()
        self._read = archive_tax_reader(rates, self._tolerance, self._codec, engine)

    def process_record(self, state: TaxState, value: bytes) -> TaxOutcome:
        """Account one single-object ArchiveBatch: a whole batch at once when one statement takes it."""
        at = self._read(value)
        st = state.book.covering(at.operator_id, at.first_us, at.last_us) if at.events else None
        if st is None and at.events:  # across a period boundary (or late data): event by event
            _, batch = self._codec.decode(value, expect=ARCHIVE_BATCH)
            return self.process(state, batch)
        out = TaxOutcome(at.operator_id, at.chain_id, at.ingest_offset, at.events, at.payouts,
                         at.payout_count)
        out.discrepancies = [_discrepancy_record(d, at.operator_id, self._tolerance)
                             for d in at.discrepancies]
        if st is not None:
            st.add_totals(at.totals)
            if st.dirty:
                out.changelog = [state.entry(st)]
        return out

    def process(self, state: TaxState, batch: dict[str, Any]) -> TaxOutcome:
        """Account one decoded ArchiveBatch, event by event: the reference for :meth:`process_record`.

        Every event counts once, since the archive holds each event once.
        """
        operator = batch["operator_id"]
        out = TaxOutcome(operator, batch["chain_id"], batch["ingest_offset"], len(batch["events"]))
        touched: dict[tuple[str, str], Statement] = {}
        payouts: list[dict[str, Any]] = []
        for archived in batch["events"]:
            ev = archived["event"]
            kind, amount, t = ev["kind"], ev["amount"], ev["occurred_at_us"]
            tax: PayoutTax | None = None
            if kind == EventKind.WIN:
                tax = payout_tax(archived["receipt_id"], amount, t, ev["tax_withheld_pit"],
                                 ev["tax_withheld_military"], self._rates, self._tolerance)
                payouts.append(payout_record(tax, ev["licence_id"], ev["licence_kind"], ev["player_ref"]))
                if tax.discrepancy:
                    out.discrepancies.append(_discrepancy_record(
                        (tax.receipt_id, ev["licence_id"], t, amount, tax.pit_due, tax.pit_withheld,
                         tax.military_due, tax.military_withheld), operator, self._tolerance))
            st = state.book.add(operator, kind, amount, t, tax)
            touched[(st.operator_id, st.period)] = st
        if payouts:
            out.payouts = self._codec.encode(PAYOUT_TAX_BATCH, {
                "operator_id": operator, "chain_id": batch["chain_id"],
                "ingest_offset": batch["ingest_offset"], "payouts": payouts})
            out.payout_count = len(payouts)
        out.changelog = [state.entry(st) for st in touched.values() if st.dirty]
        return out

    def due(self, state: TaxState, now_us: int) -> tuple[list[dict[str, Any]], list[ChangelogEntry]]:
        """Statements to issue now (GgrStatement records) and the state changes that records."""
        issued = state.book.due(now_us)
        return [st.to_record(self._rates) for st in issued], [state.entry(st) for st in issued]


def _discrepancy_record(d: Discrepancy, operator: str, tolerance: int) -> dict[str, Any]:
    receipt_id, licence_id, t, amount, pit_due, pit_withheld, military_due, military_withheld = d
    return {
        "receipt_id": receipt_id, "operator_id": operator, "licence_id": licence_id,
        "occurred_at_us": t, "amount": amount, "pit_due": pit_due, "pit_withheld": pit_withheld,
        "military_due": military_due, "military_withheld": military_withheld, "tolerance": tolerance,
    }
