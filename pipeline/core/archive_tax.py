"""What the tax agent takes from one ArchiveBatch: sums per batch, each WIN's tax, the PayoutTaxBatch.

Decoding every archived event into a dict was 40 % of the tax agent's time, and most events
only add to a statement's sums. :func:`archive_tax` (from a fastavro-decoded record) is the
reference; ``dsom_native.ArchiveTaxer`` reads the raw record into the same :class:`ArchiveTax`
(tests compare the two on simulated archives, and the payout record byte for byte with the
codec's). The Kyiv-local tax periods stay in Python: the batch's first and last event time
tell the caller whether one statement takes the whole batch (the usual case), otherwise it
goes event by event (:meth:`pipeline.core.taxation.TaxProcessor.process`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from pipeline.core.engine import Engine, crate
from pipeline.core.model import EventKind
from pipeline.core.tax import TaxRates, payout_tax
from schemas import ARCHIVE_BATCH, PAYOUT_TAX_BATCH, Codec
from schemas.codec import load_type

# (receipt_id, licence_id, occurred_at_us, amount, pit_due, pit_withheld, military_due, military_withheld)
Discrepancy = tuple[str, str, int, int, int, int, int, int]


class Totals(NamedTuple):
    """What a batch adds to a statement (``Statement.add`` summed over its events)."""

    stakes: int = 0
    bets: int = 0
    refunds: int = 0
    refund_count: int = 0
    winnings: int = 0
    payouts: int = 0
    pit_due: int = 0
    military_due: int = 0
    pit_withheld: int = 0
    military_withheld: int = 0
    discrepancies: int = 0


class ArchiveTax(NamedTuple):
    operator_id: str
    chain_id: str
    ingest_offset: int
    events: int
    first_us: int  # earliest and latest occurred_at_us (0 and 0 without events)
    last_us: int
    totals: tuple[int, ...]  # a Totals
    payouts: bytes | None  # the single-object PayoutTaxBatch of its WINs, None without any
    payout_count: int
    discrepancies: list[Discrepancy]  # WINs whose withheld tax is off by more than the tolerance


def archive_tax(batch: dict[str, Any], rates: TaxRates, tolerance: int, codec: Codec) -> ArchiveTax:
    """The reference: an ArchiveTax from a decoded ArchiveBatch."""
    stakes = bets = refunds = refund_count = 0
    taxes = [0] * 6  # winnings, payouts, pit_due, military_due, pit_withheld, military_withheld
    payouts: list[dict[str, Any]] = []
    discrepancies: list[Discrepancy] = []
    times = []
    for archived in batch["events"]:
        ev = archived["event"]
        kind, amount, t = ev["kind"], ev["amount"], ev["occurred_at_us"]
        times.append(t)
        if kind == EventKind.BET:
            stakes, bets = stakes + amount, bets + 1
        elif kind == EventKind.REFUND:
            refunds, refund_count = refunds + amount, refund_count + 1
        elif kind == EventKind.WIN:
            tax = payout_tax(archived["receipt_id"], amount, t, ev["tax_withheld_pit"],
                             ev["tax_withheld_military"], rates, tolerance)
            for i, v in enumerate((amount, 1, tax.pit_due, tax.military_due, tax.pit_withheld,
                                   tax.military_withheld)):
                taxes[i] += v
            payouts.append(payout_record(tax, ev["licence_id"], ev["licence_kind"], ev["player_ref"]))
            if tax.discrepancy:
                discrepancies.append((tax.receipt_id, ev["licence_id"], t, amount, tax.pit_due,
                                      tax.pit_withheld, tax.military_due, tax.military_withheld))
    totals = Totals(stakes, bets, refunds, refund_count, taxes[0], taxes[1], taxes[2], taxes[3], taxes[4],
                    taxes[5], len(discrepancies))
    record = codec.encode(PAYOUT_TAX_BATCH, {
        "operator_id": batch["operator_id"], "chain_id": batch["chain_id"],
        "ingest_offset": batch["ingest_offset"], "payouts": payouts}) if payouts else None
    return ArchiveTax(batch["operator_id"], batch["chain_id"], batch["ingest_offset"], len(times),
                      min(times, default=0), max(times, default=0), totals, record, len(payouts),
                      discrepancies)


def payout_record(tax: Any, licence_id: str, licence_kind: str, player_ref: str) -> dict[str, Any]:
    """The ``PayoutTax`` Avro record of one WIN (``tax`` is its ``pipeline.core.tax.PayoutTax``)."""
    return {
        "receipt_id": tax.receipt_id, "licence_id": licence_id, "licence_kind": licence_kind,
        "player_ref": player_ref, "occurred_at_us": tax.occurred_at_us, "amount": tax.amount,
        "pit_rate_ppm": tax.pit_rate_ppm, "military_rate_ppm": tax.military_rate_ppm,
        "pit_due": tax.pit_due, "military_due": tax.military_due, "pit_withheld": tax.pit_withheld,
        "military_withheld": tax.military_withheld, "discrepancy": tax.discrepancy,
    }


def archive_tax_reader(rates: TaxRates, tolerance: int, codec: Codec,
                       engine: Engine = "native") -> Callable[[bytes], ArchiveTax]:
    """Read single-object ArchiveBatch records into ArchiveTax: compiled, or the reference."""
    if engine == "python":
        def read_reference(value: bytes) -> ArchiveTax:
            _, batch = codec.decode(value, expect=ARCHIVE_BATCH)
            return archive_tax(batch, rates, tolerance, codec)
        return read_reference
    taxer = crate().ArchiveTaxer((rates.pit.starts_us, rates.pit.ppms),
                                     (rates.military.starts_us, rates.military.ppms), tolerance,
                                     load_type(PAYOUT_TAX_BATCH).header)

    def read(value: bytes) -> ArchiveTax:
        return ArchiveTax._make(codec.read(value, ARCHIVE_BATCH, taxer.read))
    return read
