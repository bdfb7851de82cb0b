"""The sink's reads of receipts and payout records: only what becomes rows, not a dict per item.

Pure, no I/O. A ReceiptBatch answers every event, but only its rejected receipts (about 0.5 %)
become ``rejections`` rows, and a PayoutTaxBatch (one payout per WIN) becomes ``tax_events``
rows column by column. :func:`rejected_view` and :func:`payout_view` take a fastavro-decoded
record and are the reference; :func:`read_rejected` and :func:`read_payouts` read the raw
single-object record with their compiled twins (``dsom_native``) into the same tuples (tested
equal on simulated and hand-made records).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.core.engine import Engine, crate
from schemas import PAYOUT_TAX_BATCH, RECEIPT_BATCH, default_codec
from schemas.codec import HEADER_LEN, load_type

# (seq, operator_ref, receipt_id, reason, detail, kind, amount, occurred_at_us) of a REJECTED receipt
Rejected = tuple[int | None, str | None, str, str | None, str | None, str | None, int | None, int | None]
# (operator_id, source_id, ingest_topic, ingest_partition, ingest_offset, processed_at_us, rejected)
ReceiptView = tuple[str, str | None, str, int, int, int, list[Rejected]]
# The PayoutTax fields, in schema order: the columns of payout_view.
PAYOUT_FIELDS = ("receipt_id", "licence_id", "licence_kind", "player_ref", "occurred_at_us", "amount",
                 "pit_rate_ppm", "military_rate_ppm", "pit_due", "military_due", "pit_withheld",
                 "military_withheld", "discrepancy")
# (operator_id, chain_id, ingest_offset, one list per PAYOUT_FIELDS; discrepancy as 0/1)
PayoutView = tuple[str, str, int, list[list[Any]]]


def rejected_view(batch: dict[str, Any]) -> ReceiptView:
    """The reference: a decoded ReceiptBatch's header and its rejected receipts."""
    rejected: list[Rejected] = [
        (r["seq"], r["operator_ref"], r["receipt_id"], r["reason"], r["detail"], r["kind"], r["amount"],
         r["occurred_at_us"]) for r in batch["receipts"] if r["status"] == "REJECTED"]
    return (batch["operator_id"], batch["source_id"], batch["ingest_topic"], batch["ingest_partition"],
            batch["ingest_offset"], batch["processed_at_us"], rejected)


def payout_view(record: dict[str, Any]) -> PayoutView:
    """The reference: a decoded PayoutTaxBatch as columns."""
    payouts = record["payouts"]
    columns = [[p[name] for p in payouts] for name in PAYOUT_FIELDS]
    columns[-1] = [int(v) for v in columns[-1]]
    return record["operator_id"], record["chain_id"], record["ingest_offset"], columns


def read_rejected(value: bytes) -> ReceiptView:
    """:func:`rejected_view` of a raw single-object ReceiptBatch, compiled."""
    view: ReceiptView = default_codec().read(value, RECEIPT_BATCH, crate().rejected_receipts)
    return view


def is_payout_batch(value: bytes) -> bool:
    return value[:HEADER_LEN] == load_type(PAYOUT_TAX_BATCH).header


def read_payouts(value: bytes) -> PayoutView:
    """:func:`payout_view` of a raw single-object PayoutTaxBatch, compiled."""
    view: PayoutView = default_codec().read(value, PAYOUT_TAX_BATCH, crate().payout_columns)
    return view


def readers(engine: Engine) -> tuple[Callable[[bytes], ReceiptView], Callable[[bytes], PayoutView]]:
    """(receipts reader, payouts reader) of ``engine``: the compiled ones, or the references."""
    if engine == "native":
        return read_rejected, read_payouts
    codec = default_codec()
    return (lambda value: rejected_view(codec.decode(value, expect=RECEIPT_BATCH)[1]),
            lambda value: payout_view(codec.decode(value, expect=PAYOUT_TAX_BATCH)[1]))
