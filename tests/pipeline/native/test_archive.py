"""dsom_native.ArchiveTaxer against the reference pipeline.core.archive_tax.archive_tax."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

import pytest

from pipeline.core.archive_tax import ArchiveTax, archive_tax, archive_tax_reader
from pipeline.core.tax import TaxRates, apply_rate, kyiv_midnight_us
from pipeline.settings import TaxSettings
from pipeline.tools.bench_offline import simulate
from schemas import ARCHIVE_BATCH, PAYOUT_TAX_BATCH, MalformedRecordError, UnknownSchemaError, default_codec
from schemas.raw import zigzag
from tests.schemas.avro_variants import VARIANTS, code_of, encode_variant, varint
from tests.sinks.clickhouse.samples import NOW_US, archive_batch, decoded, event, receipt, receipt_batch

CODEC = default_codec()
RATES = TaxRates.load(TaxSettings().rates_path)
DEC_2024 = kyiv_midnight_us(date(2024, 12, 1))
native = archive_tax_reader(RATES, 1, CODEC)
reference = archive_tax_reader(RATES, 1, CODEC, engine="python")


def win(seq: int, amount: int, t: int, pit: int | None, mil: int | None, **changes: Any) -> dict[str, Any]:
    return event(seq=seq, kind="WIN", amount=amount, occurred_at_us=t, tax_withheld_pit=pit,
                 tax_withheld_military=mil, **changes)


def every_kind() -> list[dict[str, Any]]:
    t = DEC_2024
    return [
        event(seq=1, kind="BET", amount=10_000, occurred_at_us=t - 5),
        event(seq=2, kind="REFUND", amount=4_000, occurred_at_us=t + 7),
        event(seq=3, kind="DEPOSIT", amount=50_000, occurred_at_us=t - 9),
        event(seq=4, kind="WITHDRAWAL", amount=20_000, occurred_at_us=t + 1),
        win(5, 10_000, t, apply_rate(10_000, 180_000), apply_rate(10_000, 50_000)),  # withheld right
        win(6, 10_000, t - 1, None, None),  # nothing withheld: a discrepancy, at the old levy
        win(7, 3_333, t + 3, 600, 166, licence_kind="BOOKMAKING"),  # within the tolerance
        win(8, 2**40, t + 4, 1, 2**35, player_ref="гравець_✓", licence_id="ЛІЦ-1",
            licence_kind="ONLINE_POKER", operator_ref="опер 🎲", currency="грн", site_id="казино.укр"),
    ]


def test_every_kind_and_payout_as_the_reference_writes_it() -> None:
    value = archive_batch(every_kind(), operator_id="оператор-1")
    got = native(value)
    assert got == reference(value)
    assert (got.events, got.first_us, got.last_us, got.payout_count) == (8, DEC_2024 - 9, DEC_2024 + 7, 4)
    assert got.totals == (10_000, 1, 4_000, 1, 20_000 + 3_333 + 2**40, 4,
                          1_800 + 1_800 + 600 + apply_rate(2**40, 180_000),
                          500 + 150 + 167 + apply_rate(2**40, 50_000), 1_800 + 600 + 1, 500 + 166 + 2**35, 2)
    assert [d[0] for d in got.discrepancies] == ["r-00000006", "r-00000008"]
    payouts = decoded(got.payouts or b"", PAYOUT_TAX_BATCH)["payouts"]
    assert [(p["player_ref"], p["licence_kind"], p["military_rate_ppm"]) for p in payouts][1:] == [
        ("p_ABCDEFGH23", "ONLINE_CASINO", 15_000), ("p_ABCDEFGH23", "BOOKMAKING", 50_000),
        ("гравець_✓", "ONLINE_POKER", 50_000)]


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_non_canonical_encodings_read_the_same(variant: dict[str, Any]) -> None:
    record = decoded(archive_batch(every_kind()), ARCHIVE_BATCH)
    value = encode_variant(ARCHIVE_BATCH, record, **variant)
    assert CODEC.decode(value)[1] == record  # a valid encoding of the same record
    assert native(value) == reference(archive_batch(every_kind()))


def test_no_wins_and_no_events() -> None:
    bets = native(archive_batch([event(seq=i, occurred_at_us=100 + i) for i in range(1, 4)]))
    assert (bets.payouts, bets.payout_count, bets.discrepancies) == (None, 0, [])
    assert (bets.first_us, bets.last_us, bets.totals[:2]) == (101, 103, (30_000, 3))
    empty = archive_batch([])
    assert native(empty) == reference(empty) == ArchiveTax(
        "op-a", "dsom.ingest.op-a/0", 7, 0, 0, 0, (0,) * 11, None, 0, [])


@cache
def simulated() -> list[bytes]:
    return simulate(20_000).archive


def test_simulated_archive_reads_as_the_reference() -> None:
    values = simulated()
    assert sum(native(v).payout_count for v in values) > 1_000
    for value in values:
        assert native(value) == archive_tax(decoded(value, ARCHIVE_BATCH), RATES, 1, CODEC)


@pytest.mark.parametrize("cut", [11, 40, -1, -30])
def test_a_truncated_record_is_malformed(cut: int) -> None:
    value = archive_batch(every_kind())[:cut]
    for read in (native, reference):
        with pytest.raises(MalformedRecordError):
            read(value)


@pytest.mark.parametrize(("number", "words"), [
    (varint(code_of(NOW_US) + 2**64), "number beyond 64 bits"),  # a 10th byte of 0x02: wrapped before
    (varint(code_of(NOW_US), 11), "number longer than 10 bytes"),
])
def test_a_number_beyond_64_bits_is_malformed_not_wrapped(number: bytes, words: str) -> None:
    value = archive_batch(every_kind(), received_at_us=NOW_US)
    assert value.count(zigzag(NOW_US)) == 1
    with pytest.raises(MalformedRecordError, match=words):
        native(value.replace(zigzag(NOW_US), number))


def test_trailing_bytes_and_other_schemas_are_refused() -> None:
    for read in (native, reference):
        with pytest.raises(MalformedRecordError):
            read(archive_batch(every_kind()) + b"\x00")
        with pytest.raises(UnknownSchemaError):
            read(receipt_batch([receipt(1)]))


def test_a_payout_before_the_first_rate_fails_alike() -> None:
    value = archive_batch([win(1, 100, 0, None, None)])
    messages = []
    for read in (native, reference):
        with pytest.raises(ValueError, match="no rate in force") as exc:
            read(value)
        messages.append(str(exc.value))
    assert messages[0] == messages[1]
