"""dsom_native.watched_events (the alerts agent's archive reader) against its reference."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastavro import schemaless_writer

from pipeline.agents.alerts import archive_reader
from pipeline.core.alert_rules import AlertRules
from pipeline.core.tax import TaxRates
from pipeline.core.watch import WATCHED_FIELDS, ArchiveWatch
from pipeline.settings import Settings
from schemas import ARCHIVE_BATCH, MalformedRecordError, UnknownSchemaError, default_codec
from schemas.codec import schema_versions
from tests.pipeline.native.test_archive import every_kind, simulated
from tests.schemas.avro_variants import VARIANTS, encode_variant
from tests.sinks.clickhouse.samples import archive_batch, decoded, event, receipt, receipt_batch

CODEC = default_codec()
native = archive_reader("native", CODEC)
python = archive_reader("python", CODEC)


def reference(value: bytes) -> tuple[str, str, int, list[dict[str, Any]]]:
    """The Python reader's result on the fields the watches read (its events hold all the others too)."""
    operator_id, source_id, received_at_us, events = python(value)
    return operator_id, source_id, received_at_us, [{k: e[k] for k in WATCHED_FIELDS} for e in events]


def every_field() -> list[dict[str, Any]]:
    """Every kind, WITHDRAWAL_CANCELLED too, and every asset field set or not."""
    return [*every_kind(),
            event(seq=9, kind="WITHDRAWAL_CANCELLED", amount=20_000, bet_ref=None, game_type=None),
            event(seq=10, channel="ESTABLISHMENT", establishment_id="hall-1", equipment_id="slot-7",
                  site_id=None, licence_kind="SLOT_HALL", app_id=None),
            event(seq=11, channel="APP", app_id="ua.app", site_id=None, round_ref=None, bet_ref=None)]


def test_every_field_as_the_reference_reads_it() -> None:
    value = archive_batch(every_field(), operator_id="оператор-1", source_id="каса")
    got = native(value)
    assert got == reference(value)
    operator_id, source_id, _, events = got
    assert (operator_id, source_id, len(events)) == ("оператор-1", "каса", 11)
    assert all(list(e) == list(WATCHED_FIELDS) for e in events)  # the same keys, in the same order
    assert events[8]["kind"] == "WITHDRAWAL_CANCELLED"
    assert (events[9]["equipment_id"], events[10]["app_id"]) == ("slot-7", "ua.app")


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_non_canonical_encodings_read_the_same(variant: dict[str, Any]) -> None:
    record = decoded(archive_batch(every_field()), ARCHIVE_BATCH)
    value = encode_variant(ARCHIVE_BATCH, record, **variant)
    assert native(value) == reference(archive_batch(every_field()))


def test_an_archive_record_of_an_older_version_reads_as_the_current() -> None:
    """The archive keeps version 1 and 2 records (five kinds): read alike, as in the current version."""
    record = decoded(archive_batch(every_kind()), ARCHIVE_BATCH)
    for old in schema_versions(ARCHIVE_BATCH)[:-1]:
        buf = io.BytesIO()
        buf.write(old.header)
        schemaless_writer(buf, old.schema, record)
        assert native(buf.getvalue()) == reference(buf.getvalue()) == reference(archive_batch(every_kind()))


def test_simulated_archive_reads_as_the_reference() -> None:
    values = simulated()
    kinds = set()
    for value in values:
        got = native(value)
        assert got == reference(value)
        kinds |= {e["kind"] for e in got[3]}
    assert {"BET", "WIN", "DEPOSIT", "WITHDRAWAL"} <= kinds


@pytest.mark.parametrize("cut", [11, 40, -1, -30])
def test_a_truncated_record_is_malformed(cut: int) -> None:
    value = archive_batch(every_field())[:cut]
    for read in (native, python):
        with pytest.raises(MalformedRecordError):
            read(value)


def test_trailing_bytes_and_other_schemas_are_refused() -> None:
    for read in (native, python):
        with pytest.raises(MalformedRecordError):
            read(archive_batch(every_field()) + b"\x00")
        with pytest.raises(UnknownSchemaError):
            read(receipt_batch([receipt(1)]))


def test_the_watch_decides_the_same_with_either_reader() -> None:
    """Alerts and changelog entries alike, record by record, over the simulated archive."""
    settings = Settings()
    rules = AlertRules.load(settings.alerts.rules_path)
    rates = TaxRates.load(settings.tax.rates_path)
    watches = {read: ArchiveWatch(b"a|0|", rules, rates=rates) for read in (native, python)}
    alerts = 0
    for value in simulated():
        drained = []
        for read, watch in watches.items():
            operator_id, source_id, received_at_us, events = read(value)
            watch.record(operator_id, source_id, received_at_us, events, received_at_us)
            drained.append(watch.drain())
        assert drained[0] == drained[1]
        alerts += len(drained[0][0])
    assert alerts > 0  # threshold reports at least: the figures are compared, not only silence
