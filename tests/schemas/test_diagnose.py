"""The diagnosis of records that are not strict Avro: the field, the byte offset, what was expected."""

from __future__ import annotations

import random

import pytest

from schemas import (
    ALERT,
    ARCHIVE_BATCH,
    EVENT_BATCH,
    GGR_STATEMENT,
    PAYOUT_TAX_BATCH,
    RECEIPT_BATCH,
    TAX_DISCREPANCY,
    MalformedRecordError,
    default_codec,
)
from schemas.codec import HEADER_LEN, MESSAGE_SCHEMAS, load_type
from schemas.diagnose import diagnose
from schemas.raw import _string, event_bodies, zigzag
from tests.pipeline.core.test_validation import NOW, event
from tests.schemas.avro_variants import VARIANTS, code_of, encode_variant, offset_of, varint, write_event

CODEC = default_codec()
HEAD = load_type(EVENT_BATCH).header + _string("op-a") + _string("s1") + zigzag(NOW)
FIRST = len(HEAD) + 1  # where the first event starts in a one-block record of a few events


def record(*bodies: bytes) -> bytes:
    return HEAD + (zigzag(len(bodies)) if bodies else b"") + b"".join(bodies) + b"\x00"


def strict(value: bytes) -> bool:
    """What the validator's fast path says: fastavro reads it, and the raw walker walks it."""
    try:
        CODEC.decode(value, expect=EVENT_BATCH)
    except MalformedRecordError:
        return False
    return event_bodies(value) is not None


WIN = event(seq=7, kind="WIN", tax_withheld_pit=1_800, tax_withheld_military=500)


def at(field: str) -> int:
    """The byte offset of ``field``'s first number in a record whose first event is WIN."""
    return FIRST + offset_of(WIN, field)


def test_strict_records_have_no_diagnosis() -> None:
    evs = [event(seq=1), WIN, event(seq=2**63 - 1, amount=-2**63, operator_ref="ґ" * 70, site_id=None)]
    assert diagnose(record(*[write_event(e) for e in evs]), EVENT_BATCH) is None
    assert diagnose(record(), EVENT_BATCH) is None
    for variant in VARIANTS[2:4]:  # several blocks, with byte sizes: strict (overlong ones are not)
        value = encode_variant(EVENT_BATCH, {"operator_id": "op-a", "source_id": "s1", "sent_at_us": 0,
                                             "events": evs}, **variant)  # type: ignore[arg-type]
        assert strict(value) and diagnose(value, EVENT_BATCH) is None


def test_every_schema_is_walked() -> None:
    """The diagnosis knows every type dsom's schemas use (a schema change that adds one fails here)."""
    from pipeline.operator.fleet import demo_registry
    from pipeline.operator.simulator import simulate_fleet
    from tests.sinks.clickhouse import samples

    values = {ARCHIVE_BATCH: samples.archive_batch([samples.event(), samples.event(seq=2, site_id=None)]),
              RECEIPT_BATCH: samples.receipt_batch([samples.receipt(1), samples.receipt(None, "ACCEPTED")]),
              PAYOUT_TAX_BATCH: samples.payout_tax_batch([samples.payout("r1", 10_000, 1_800)]),
              TAX_DISCREPANCY: samples.tax_discrepancy("r1", 10_000, 0),
              GGR_STATEMENT: samples.statement(2, 5_000),
              ALERT: default_codec().encode(ALERT, {
                      "alert_id": "a1", "state": "OPENED", "rule": "aml_single", "rule_version": "2000-01-01",
                      "severity": "WARNING", "subject_kind": "PLAYER", "subject": "op|p", "operator_id": "op",
                      "licence_kind": None, "opened_at_us": 1, "at_us": 1, "event_at_us": None,
                      "amounts": {"amount": 5_500_000}, "measures": {"z": -3.5}, "summary": "s"})}
    assert set(values) == set(MESSAGE_SCHEMAS) - {EVENT_BATCH}
    for name, value in values.items():
        assert diagnose(value, name) is None, name
        for cut in range(HEADER_LEN, len(value)):  # every truncation is found, in every type
            assert diagnose(value[:cut], name) is not None, (name, cut)
    assert diagnose(values[RECEIPT_BATCH].replace(b"rc-1", b"rc-\xff"), RECEIPT_BATCH) is not None
    for op, sim in simulate_fleet(demo_registry(1), seed=5, batches=20, batch_size=30, bad_share=0.2):
        value = CODEC.encode(EVENT_BATCH, {"operator_id": op, "source_id": sim.source_id,
                                           "sent_at_us": NOW, "events": sim.events})
        assert diagnose(value, EVENT_BATCH) is None


ONE = write_event(WIN)
N = len(ONE)
R = record(ONE)
SEQ = FIRST  # seq is the Event's first field
OPREF = SEQ + 1  # seq 7 takes one byte
OVERLONG = "(the last byte of a number is never 0x00)"
BEYOND = "beyond 64 bits (the 10th byte of an Avro long is at most 0x01, here"


def one(**raw: bytes) -> bytes:
    """A record of one event, WIN, with the given bytes in place of numbers (``write_event``)."""
    return record(write_event(WIN, {k.replace("__", ":"): v for k, v in raw.items()}))


CASES: list[tuple[str, bytes, str]] = [
    ("number longer than 10 bytes", one(amount=varint(code_of(2**70))),
     f"events[0].amount at byte {at('amount')}: number longer than 10 bytes (Avro long is at most 64 bits)"),
    ("number beyond 64 bits", one(seq=varint(code_of(2**64 + 5))),
     f"events[0].seq at byte {SEQ}: number {BEYOND} 0x04)"),
    ("amount 2**63", one(amount=varint(code_of(2**63))),
     f"events[0].amount at byte {at('amount')}: number {BEYOND} 0x02)"),
    ("overlong number", one(occurred_at_us=varint(code_of(NOW), 10)),
     f"events[0].occurred_at_us at byte {at('occurred_at_us')}: number not in its shortest form: "
     f"10 bytes where 8 suffice {OVERLONG}"),
    ("overlong zero", one(seq=b"\x80\x00"),
     f"events[0].seq at byte {SEQ}: number not in its shortest form: 2 bytes where 1 suffices {OVERLONG}"),
    ("overlong length", one(operator_ref=varint(8, 3)),
     f"events[0].operator_ref at byte {OPREF}: string length not in its shortest form: 3 bytes where 1 "
     f"suffices {OVERLONG}"),
    ("negative length", one(operator_ref=zigzag(-4)),
     f"events[0].operator_ref at byte {OPREF}: negative string length -4"),
    ("enum index out of range", one(kind=zigzag(6)),
     f"events[0].kind at byte {at('kind')}: enum index 6 out of range (EventKind has 6 symbols: 0 to 5)"),
    ("negative enum index", one(channel=zigzag(-1)),
     f"events[0].channel at byte {at('channel')}: enum index -1 out of range "
     "(Channel has 3 symbols: 0 to 2)"),
    ("union branch out of range", one(site_id=zigzag(2)),
     f"events[0].site_id at byte {at('site_id')}: union branch 2 out of range (0 for null, 1 for string)"),
    ("negative union branch", one(tax_withheld_pit=zigzag(-1)),
     f"events[0].tax_withheld_pit at byte {at('tax_withheld_pit')}: union branch -1 out of range "
     "(0 for null, 1 for long)"),
    ("overlong number in a union", one(tax_withheld_pit__value=varint(code_of(1_800), 4)),
     f"events[0].tax_withheld_pit at byte {at('tax_withheld_pit') + 1}: number not in its shortest form: "
     f"4 bytes where 2 suffice {OVERLONG}"),
    ("bad UTF-8", record(write_event(event(seq=7, operator_ref="tx-\x7f")).replace(b"tx-\x7f", b"tx-\xff")),
     f"events[0].operator_ref at byte {OPREF + 1 + 3}: string is not UTF-8 (invalid start byte: 0xff)"),
    ("a surrogate", record(write_event(event(seq=7, operator_ref="ab")).replace(b"\x04ab", b"\x04\xed\xa0")),
     f"events[0].operator_ref at byte {OPREF + 1}: string is not UTF-8 (invalid continuation byte: 0xed)"),
    ("bad UTF-8 in the header", R.replace(b"\x08op-a", b"\x08op-\xc3", 1),
     f"operator_id at byte {HEADER_LEN + 1 + 3}: string is not UTF-8 (unexpected end of data: 0xc3)"),
    ("trailing bytes", R + b"\x00\x00", f"EventBatch at byte {len(R)}: 2 bytes after the end of the record"),
    ("truncated inside a number", R[:at("occurred_at_us") + 3],
     f"events[0].occurred_at_us at byte {at('occurred_at_us')}: the record ends inside this number"),
    ("truncated before a field", R[:at("licence_id")],
     f"events[0].licence_id at byte {at('licence_id')}: the record ends before this field"),
    ("truncated inside a string", R[:OPREF + 2],
     f"events[0].operator_ref at byte {OPREF}: the record ends inside this string "
     "(4 bytes announced, 1 left)"),
    # The closing 0x00 is read as events[1].seq, and the record ends there.
    ("a block count beyond the events", R.replace(HEAD + b"\x02", HEAD + b"\x06", 1),
     f"events[1].operator_ref at byte {len(R)}: the record ends before this field"),
    ("the second block's items count on", R[:-1] + b"\x02" + b"\x0e",
     f"events[1].operator_ref at byte {len(R) + 1}: the record ends before this field"),
    ("overlong block count", HEAD + b"\x82\x00" + ONE + b"\x00",
     f"events at byte {len(HEAD)}: block count not in its shortest form: 2 bytes where 1 suffices "
     f"{OVERLONG}"),
    ("block count beyond 64 bits", HEAD + varint(2**64 + 2) + ONE + b"\x00",
     f"events at byte {len(HEAD)}: block count {BEYOND} 0x02)"),
    ("block byte size too small", HEAD + zigzag(-1) + zigzag(N - 1) + ONE + b"\x00",
     f"events at byte {len(HEAD) + 1}: block byte size {N - 1}, but its 1 item take {N} bytes"),
    ("block byte size too large", HEAD + zigzag(-1) + zigzag(N + 1) + ONE + b"\x00\x00",
     f"events at byte {len(HEAD) + 1}: block byte size {N + 1}, but its 1 item take {N} bytes"),
    ("block byte size beyond the record", HEAD + zigzag(-1) + zigzag(1000) + ONE + b"\x00",
     f"events at byte {len(HEAD) + 1}: the record ends inside this block "
     f"(1000 bytes announced, {N + 1} left)"),
    ("negative block byte size", HEAD + zigzag(-1) + zigzag(-5) + ONE + b"\x00",
     f"events at byte {len(HEAD) + 1}: negative block byte size -5"),
    ("overlong block byte size", HEAD + zigzag(-1) + varint(code_of(N), 3) + ONE + b"\x00",
     f"events at byte {len(HEAD) + 1}: block byte size not in its shortest form: 3 bytes where 2 suffice "
     f"{OVERLONG}"),
    ("overlong sent_at_us", HEAD[:-len(zigzag(NOW))] + varint(code_of(NOW), 9) + b"\x00",
     f"sent_at_us at byte {len(HEAD) - len(zigzag(NOW))}: number not in its shortest form: 9 bytes where 8 "
     f"suffice {OVERLONG}"),
]


@pytest.mark.parametrize(("value", "detail"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_what_is_wrong_and_where(value: bytes, detail: str) -> None:
    assert not strict(value)
    assert diagnose(value, EVENT_BATCH) == detail


def test_details_fit_a_receipt() -> None:
    assert all(len(detail) <= 500 for _, _, detail in CASES)


def test_the_diagnosis_agrees_with_the_fast_path_on_mutated_records() -> None:
    """Whatever random bytes a record holds, the diagnosis finds a problem exactly when the
    validator's fast path refuses it (fastavro plus the raw walker)."""
    rng = random.Random(12)
    good = record(write_event(event(seq=1)), write_event(WIN), write_event(event(seq=3, site_id=None)))
    refused = 0
    for _ in range(3000):
        value = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(HEADER_LEN, len(value))
            op = rng.randrange(4)
            if op == 0:
                value[i] = rng.randrange(256)
            elif op == 1:
                value.insert(i, rng.choice((0x00, 0x80, 0xff, rng.randrange(256))))
            elif op == 2:
                del value[i]
            else:
                value[i] ^= 1 << rng.randrange(8)
        detail = diagnose(bytes(value), EVENT_BATCH)
        assert (detail is None) == strict(bytes(value)), (bytes(value).hex(), detail)
        refused += detail is not None
    assert 1000 < refused < 3000
