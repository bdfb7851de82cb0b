"""Each published schema version resolves into the next by Avro's rules, and dsom reads them all."""

from __future__ import annotations

import io
import random
from typing import Any

import dsom_native
import pytest
from fastavro import schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from schemas import RECEIPT_BATCH, Codec, UnknownSchemaError
from schemas.codec import MAGIC, MESSAGE_SCHEMAS, load_type, schema_versions
from sinks.clickhouse.records import read_rejected, rejected_view

# The fingerprints operators' code already names: a new version must not move them.
PUBLISHED = {
    ("ua.dsom.v1.EventBatch", 1): "df21741809057402",
    ("ua.dsom.v1.EventBatch", 2): "996464107f194a2f",
    ("ua.dsom.v1.ReceiptBatch", 1): "b59903ee2a3d3da1",
    ("ua.dsom.v1.ReceiptBatch", 2): "22c7a0a6118c23bd",
    ("ua.dsom.v1.ArchiveBatch", 1): "1d71ca19cb00fad5",
    ("ua.dsom.v1.ArchiveBatch", 2): "6e13e0de2d456e3b",
    ("ua.dsom.v1.ArchiveBatch", 3): "ec9380cef922d886",
}
# What an older reader cannot read of a newer version's data, by design (schemas/README.md).
BREAKS = {("ua.dsom.v1.ReceiptBatch", 2): "DUPLICATE",
          ("ua.dsom.v1.EventBatch", 2): "WITHDRAWAL_CANCELLED",
          ("ua.dsom.v1.ArchiveBatch", 3): "WITHDRAWAL_CANCELLED",
          ("ua.dsom.v1.Alert", 2): "ARCHIVE"}
PAIRS = [(name, old, new) for name in MESSAGE_SCHEMAS
         for old, new in zip(schema_versions(name), schema_versions(name)[1:], strict=False)]


def resolve(record: Any, writer: Any, reader: Any) -> Any:
    buf = io.BytesIO()
    schemaless_writer(buf, writer, record)
    buf.seek(0)
    return schemaless_reader(buf, writer, reader)


def kept(old: Any, new: Any) -> bool:
    """Every value of ``old`` is in ``new`` (which may have more fields)."""
    if isinstance(old, dict):
        return all(k in new and kept(v, new[k]) for k, v in old.items())
    if isinstance(old, list):
        return len(old) == len(new) and all(kept(a, b) for a, b in zip(old, new, strict=True))
    return bool(old == new)


def test_versions_are_consecutive_and_published_fingerprints_stay() -> None:
    for (name, version), fp in PUBLISHED.items():
        [t] = [t for t in schema_versions(name) if t.version == version]
        assert t.fingerprint.hex() == fp, (name, version)
    assert load_type(RECEIPT_BATCH).version == 2 and PAIRS  # there is a pair to check


@pytest.mark.parametrize(("name", "old", "new"), PAIRS, ids=[f"{n}.{o.version}" for n, o, _ in PAIRS])
def test_each_version_reads_the_one_before_and_back(name: str, old: Any, new: Any) -> None:
    """The new reader reads the old data (what the topics hold); the old reader reads new data,
    except what BREAKS names (a new enum symbol an old reader has no default for)."""
    for record in generate_many(old.schema, 200):
        assert kept(record, resolve(record, old.schema, new.schema))
    broken = 0
    for record in generate_many(new.schema, 200):
        try:
            resolve(record, new.schema, old.schema)
        except Exception as exc:  # fastavro's SchemaResolutionError
            assert BREAKS.get((name, new.version)) in str(exc), exc
            broken += 1
    assert (broken > 0) == ((name, new.version) in BREAKS)


def test_receipts_of_version_one_read_as_version_two() -> None:
    """The receipts topics hold version 1 records from before the upgrade: the codec and the
    sink's compiled reader read them, with the fields version 1 lacked at their defaults."""
    v1 = schema_versions(RECEIPT_BATCH)[0]
    receipt = {"seq": 3, "operator_ref": "r", "status": "REJECTED", "receipt_id": "id-3",
               "reason": "too_late", "detail": "old", "kind": "BET", "amount": 5, "occurred_at_us": 9}
    batch = {"operator_id": "op-a", "source_id": "s1", "ingest_topic": "dsom.ingest.op-a",
             "ingest_partition": 0, "ingest_offset": 7, "processed_at_us": 1, "receipts": [receipt]}
    buf = io.BytesIO(MAGIC + v1.fingerprint)
    buf.seek(0, 2)
    schemaless_writer(buf, v1.schema, batch)
    value = buf.getvalue()
    codec = Codec()
    name, got = codec.decode(value, expect=RECEIPT_BATCH)
    assert name == RECEIPT_BATCH and got["receipts"] == [receipt | {"first_receipt_id": None}]
    assert read_rejected(value) == rejected_view(got)
    assert codec.read(value, RECEIPT_BATCH, dsom_native.rejected_receipts)[-1][0][2] == "id-3"
    bad = bytearray(value)
    bad[2] = bad[2] ^ 0xFF
    with pytest.raises(UnknownSchemaError):
        codec.decode(bytes(bad))


def test_a_duplicate_receipt_round_trips() -> None:
    codec = Codec()
    rng = random.Random(1)
    receipt = {"seq": rng.randrange(1, 99), "operator_ref": None, "status": "DUPLICATE", "receipt_id": "id-2",
               "reason": None, "detail": "seq 1 was already decided", "kind": "BET", "amount": 1,
               "occurred_at_us": 2, "first_receipt_id": "id-1"}
    batch = {"operator_id": "op-a", "source_id": "s1", "ingest_topic": "t", "ingest_partition": 0,
             "ingest_offset": 7, "processed_at_us": 1, "receipts": [receipt]}
    value = codec.encode(RECEIPT_BATCH, batch)
    assert codec.decode(value)[1] == batch
    assert read_rejected(value)[-1] == [] == rejected_view(batch)[-1]  # not a rejection
