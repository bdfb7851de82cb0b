"""The sink's compiled reads (records.read_rejected, read_payouts) against the reference views; the rows."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.tools.bench_offline import simulate
from schemas import PAYOUT_TAX_BATCH, RECEIPT_BATCH, MalformedRecordError, UnknownSchemaError
from sinks.clickhouse.records import payout_view, read_payouts, read_rejected, rejected_view
from sinks.clickhouse.rows import Columns, add_payouts, add_receipt_batch, add_rejections, add_tax_event
from sinks.clickhouse.tables import REJECTIONS, TAX_EVENTS
from tests.pipeline.core.test_processor import ENGINES, Engine, processor, record
from tests.pipeline.core.test_validation import NOW
from tests.pipeline.core.test_validation import event as valid_event
from tests.schemas.avro_variants import VARIANTS, encode_variant
from tests.sinks.clickhouse.samples import (
    TAX_EVENTS_TOPIC,
    archive_batch,
    decoded,
    event,
    payout,
    payout_tax_batch,
    receipt,
    receipt_batch,
)


def receipts() -> list[dict[str, Any]]:
    return [receipt(1, "ACCEPTED"), receipt(2), receipt(3, "ACCEPTED"),
            receipt(None, reason="malformed", kind=None, amount=None, occurred_at_us=None, operator_ref=None),
            receipt(5, reason="invalid_amount", detail="сума ≤ 0 ✗", operator_ref="опер-5", amount=-3,
                    occurred_at_us=-(2**62)),
            receipt(6, "ACCEPTED")]


def payouts() -> list[dict[str, Any]]:
    return [payout("r1", 10_000, 1_800), payout("r2", 2**40, 0, discrepancy=True, player_ref="гравець✓"),
            payout("r3", 100, 18, occurred_at_us=-5)]


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_rejected_receipts_read_as_the_reference(variant: dict[str, Any]) -> None:
    record = decoded(receipt_batch(receipts(), source_id=None), RECEIPT_BATCH)
    value = encode_variant(RECEIPT_BATCH, record, **variant)
    view = read_rejected(value)
    assert view == rejected_view(record)
    assert [r[2] for r in view[6]] == ["rc-2", "rc-None", "rc-5"]


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_payouts_read_as_the_reference(variant: dict[str, Any]) -> None:
    record = decoded(payout_tax_batch(payouts(), operator_id="оператор"), PAYOUT_TAX_BATCH)
    view = read_payouts(encode_variant(PAYOUT_TAX_BATCH, record, **variant))
    assert view == payout_view(record)
    assert view[3][-1] == [0, 1, 0]


def test_simulated_receipts_read_as_the_reference() -> None:
    values = simulate(20_000).receipts
    assert sum(len(read_rejected(v)[6]) for v in values) > 10
    for v in values:
        assert read_rejected(v) == rejected_view(decoded(v, RECEIPT_BATCH))


def test_rows_from_the_compiled_reads_are_the_decoded_rows() -> None:
    value = receipt_batch(receipts())
    want, got = Columns(REJECTIONS), Columns(REJECTIONS)
    add_receipt_batch(want, decoded(value, RECEIPT_BATCH), "dsom.receipts.op-a", 2, 9, skip={"rc-5"})
    add_rejections(got, read_rejected(value), "dsom.receipts.op-a", 2, 9, skip={"rc-5"})
    assert got.as_rows() == want.as_rows() and got.rows == 2
    value = payout_tax_batch(payouts())
    want, got = Columns(TAX_EVENTS), Columns(TAX_EVENTS)
    add_tax_event(want, PAYOUT_TAX_BATCH, decoded(value, PAYOUT_TAX_BATCH), TAX_EVENTS_TOPIC, 1, 4)
    add_payouts(got, read_payouts(value), TAX_EVENTS_TOPIC, 1, 4)
    assert got.as_rows() == want.as_rows() and got.rows == 3


def test_bad_records_are_refused() -> None:
    value = receipt_batch(receipts())
    with pytest.raises(MalformedRecordError):
        read_rejected(value[:-3])
    with pytest.raises(MalformedRecordError):
        read_payouts(payout_tax_batch(payouts()) + b"\x00")
    with pytest.raises(UnknownSchemaError):
        read_rejected(archive_batch([event()]))
    with pytest.raises(UnknownSchemaError):
        read_payouts(value)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_conflicting_re_send_becomes_a_rejection_row(engine: Engine) -> None:
    """The validator's conflicting_duplicate receipt is stored as any rejection: the data-quality
    report counts it per operator and reason."""
    proc = processor(engine)
    state = proc.new_state("dsom.ingest.op-a", 0)
    proc.process(state, 0, b"s1", record([valid_event(seq=4)]), NOW)
    out = proc.process(state, 1, b"s1", record([valid_event(seq=4, amount=1)]), NOW)
    assert out.receipts_value is not None
    cols = Columns(REJECTIONS)
    add_rejections(cols, read_rejected(out.receipts_value), "dsom.receipts.op-a", 0, 7)
    [got] = cols.as_rows()
    assert (got["operator_id"], got["source_id"], got["seq"], got["reason"], got["amount"]) == (
        "op-a", "s1", 4, "conflicting_duplicate", 1)
    assert str(got["detail"]).startswith("seq 4 was already decided with other content (receipt ")
