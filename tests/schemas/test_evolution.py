"""Canonical forms and fingerprints as the spec, Java and Go compute them; writer schemas checked."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from fastavro.schema import to_parsing_canonical_form

from schemas import EVENT_BATCH
from schemas.codec import MAGIC, MESSAGE_SCHEMAS, load_type, schema_versions
from schemas.evolution import (
    IncompatibleSchemaError,
    SchemaError,
    WriterSchemas,
    canonical_form,
    check_writer,
    fingerprints,
    java_order,
    parse,
    resolution_errors,
)

DSOM_BATCH_FP = "df21741809057402"  # EventBatch version 1
# hamba/avro v2.31.0 (Go), FingerprintUsing(CRC64Avro) of dsom's EventBatch version 1 with
# occurred_at_us declared timestamp-micros: 16da89c4f4b73240 (it prints the big-endian long, as Java does).
HAMBA_TIMESTAMP_FP = "4032b7f4c489da16"


def batch_json() -> dict[str, Any]:
    """dsom's EventBatch version 1 (the one measured in Go, above) as self-contained JSON, with its
    fields' defaults (a writer may edit it): an operator built from it is still one dsom reads."""
    text = json.dumps(schema_versions(EVENT_BATCH)[0].schema)
    plain = text.replace('"__fastavro_parsed": true, ', "").replace(', "__fastavro_parsed": true', "")
    return json.loads(plain)


def event_fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    events = next(f for f in schema["fields"] if f["name"] == "events")
    fields: list[dict[str, Any]] = events["type"]["items"]["fields"]
    return fields


def with_timestamp(schema: dict[str, Any]) -> dict[str, Any]:
    for f in event_fields(schema):
        if f["name"] == "occurred_at_us":
            f["type"] = {"type": "long", "logicalType": "timestamp-micros"}
    return schema


def with_extra_field(schema: dict[str, Any]) -> dict[str, Any]:
    event_fields(schema).append({"name": "cashier_note", "type": ["null", "string"], "default": None,
                                 "doc": "the operator's own"})
    return schema


@pytest.mark.parametrize("name", MESSAGE_SCHEMAS)
def test_dsoms_canonical_form_is_fastavros(name: str) -> None:
    for t in schema_versions(name):
        pcf = to_parsing_canonical_form(t.schema)
        node = parse(t.schema)
        assert canonical_form(node) == pcf and fingerprints(node) == [t.fingerprint]


def test_logical_types_docs_and_aliases_do_not_change_the_spec_fingerprint() -> None:
    """The spec's form strips logicalType (Java and fastavro agree); hamba/avro's keeps it."""
    schema = with_timestamp(batch_json())
    schema["doc"], schema["aliases"] = "another doc", ["Batch"]
    node = parse(schema)
    assert to_parsing_canonical_form(parse_schema(schema)) == canonical_form(node)
    assert [fp.hex() for fp in fingerprints(node)] == [DSOM_BATCH_FP, HAMBA_TIMESTAMP_FP]
    assert '{"type":"long","logicalType":"timestamp-micros"}' in canonical_form(node, keep_logical=True)
    assert java_order(bytes.fromhex(HAMBA_TIMESTAMP_FP)) == "16da89c4f4b73240"


def test_a_decimal_and_named_references_in_hambas_form() -> None:
    node = parse({"type": "record", "name": "R", "namespace": "n", "fields": [
        {"name": "a", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "b", "type": {"type": "enum", "name": "E", "symbols": ["X"]}},
        {"name": "c", "type": "E"}]})
    assert canonical_form(node, keep_logical=True) == (
        '{"name":"n.R","type":"record","fields":[{"name":"a","type":{"type":"bytes","logicalType":'
        '"decimal","precision":9,"scale":2}},{"name":"b","type":{"name":"n.E","type":"enum","symbols":'
        '["X"]}},{"name":"c","type":"n.E"}]}')


def test_compatible_writers_pass_and_incompatible_ones_name_the_field() -> None:
    reader = parse(load_type(EVENT_BATCH).schema)
    assert resolution_errors(parse(with_extra_field(batch_json())), reader) == []
    assert resolution_errors(parse(with_timestamp(batch_json())), reader) == []
    int_amount = batch_json()  # int is promoted to long: fine
    next(f for f in event_fields(int_amount) if f["name"] == "amount")["type"] = "int"
    assert resolution_errors(parse(int_amount), reader) == []

    broken = batch_json()
    fields = event_fields(broken)
    fields[:] = [f for f in fields if f["name"] != "player_ref"]
    next(f for f in fields if f["name"] == "amount")["type"] = "string"
    next(f for f in fields if f["name"] == "kind")["type"]["symbols"].append("JACKPOT")
    errors = resolution_errors(parse(broken), reader)
    assert errors == [
        "events[].kind: symbols ['JACKPOT'] are not in dsom's EventKind "
        "['BET', 'WIN', 'REFUND', 'DEPOSIT', 'WITHDRAWAL', 'WITHDRAWAL_CANCELLED']",
        "events[].player_ref: missing from the writer schema, and dsom's has no default for it",
        "events[].amount: written as string, dsom reads long"]
    with pytest.raises(IncompatibleSchemaError) as exc:
        check_writer("op-a", json.dumps(broken))
    assert exc.value.errors == errors
    with pytest.raises(SchemaError):
        check_writer("op-a", "{not json")
    with pytest.raises(SchemaError):
        check_writer("op-a", '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "Nope"}]}')


def test_registered_writers_are_found_by_either_fingerprint() -> None:
    ts = check_writer("op-a", json.dumps(with_timestamp(batch_json())))
    extra = check_writer("op-a", json.dumps(with_extra_field(batch_json())))
    writers = WriterSchemas([ts, extra])
    assert writers.get("op-a", bytes.fromhex(HAMBA_TIMESTAMP_FP)) is ts
    assert writers.get("op-a", bytes.fromhex(DSOM_BATCH_FP)) is ts  # the spec's: dsom's own
    assert writers.get("op-b", extra.fingerprints[0]) is None
    assert len(extra.fingerprints) == 1 and extra.fingerprints[0].hex() != DSOM_BATCH_FP


def write(schema: dict[str, Any], record: dict[str, Any], fp: bytes) -> bytes:
    """A single-object record written with ``schema`` under fingerprint ``fp``."""
    buf = io.BytesIO()
    buf.write(MAGIC + fp)
    schemaless_writer(buf, parse_schema(schema), record)
    return buf.getvalue()
