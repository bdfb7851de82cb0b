"""Avro single-object encoding: every message names its schema by CRC-64-AVRO fingerprint.

A message is ``C3 01`` + the 8-byte fingerprint of the writer schema's parsing canonical
form + the Avro binary body (the Avro specification's "single object encoding"). Several
schema versions can therefore coexist on one topic; a fingerprint the codec does not know
is a rejection (:class:`UnknownSchemaError`), never a crash.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form

AVRO_DIR = Path(__file__).parent / "avro"
MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8
T = TypeVar("T")

EVENT = "ua.dsom.v1.Event"
EVENT_BATCH = "ua.dsom.v1.EventBatch"
RECEIPT_BATCH = "ua.dsom.v1.ReceiptBatch"
ARCHIVE_BATCH = "ua.dsom.v1.ArchiveBatch"
PAYOUT_TAX_BATCH = "ua.dsom.v1.PayoutTaxBatch"
TAX_DISCREPANCY = "ua.dsom.v1.TaxDiscrepancy"
GGR_STATEMENT = "ua.dsom.v1.GgrStatement"
ALERT = "ua.dsom.v1.Alert"
TAX_EVENT_SCHEMAS = (PAYOUT_TAX_BATCH, TAX_DISCREPANCY, GGR_STATEMENT)
MESSAGE_SCHEMAS = (EVENT_BATCH, RECEIPT_BATCH, ARCHIVE_BATCH, *TAX_EVENT_SCHEMAS, ALERT)


class UnknownSchemaError(ValueError):
    """The message does not name a schema this system knows."""


class MalformedRecordError(ValueError):
    """The message names a known schema but its body does not decode."""


@dataclass(frozen=True)
class AvroType:
    name: str
    schema: Any
    fingerprint: bytes

    @property
    def header(self) -> bytes:
        return MAGIC + self.fingerprint


@cache
def load_type(name: str) -> AvroType:
    """Load a named schema from ``schemas/avro/<name>.avsc`` (named references resolve there)."""
    schema = load_schema(str(AVRO_DIR / f"{name}.avsc"))
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
    return AvroType(name, schema, fp)


class Codec:
    """Encodes and decodes single-object Avro messages of a fixed set of schemas."""

    def __init__(self, names: tuple[str, ...] = MESSAGE_SCHEMAS) -> None:
        self._by_name = {name: load_type(name) for name in names}
        self._by_fp = {t.fingerprint: t for t in self._by_name.values()}

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        avro_type = self._by_name[name]
        buf = io.BytesIO()
        buf.write(avro_type.header)
        schemaless_writer(buf, avro_type.schema, record)
        return buf.getvalue()

    def decode(self, data: bytes, expect: str | None = None) -> tuple[str, dict[str, Any]]:
        """Return ``(schema name, record)``; raise if the schema is unknown or the body is bad."""
        avro_type = self._type_of(data, expect)
        buf = io.BytesIO(data)
        buf.seek(HEADER_LEN)
        try:
            record = schemaless_reader(buf, avro_type.schema, None)
        except Exception as exc:  # fastavro raises many types on bad input
            raise MalformedRecordError(f"{avro_type.name} body does not decode: {exc!r}") from exc
        if buf.tell() != len(data):
            raise MalformedRecordError(f"{len(data) - buf.tell()} trailing bytes after the record")
        assert isinstance(record, dict)
        return avro_type.name, record

    def read(self, data: bytes, expect: str, reader: Callable[[bytes], T]) -> T:
        """``reader(data)`` (a compiled reader of ``expect``) after the same header check as ``decode``.

        The compiled readers raise ``ValueError("malformed Avro: ...")`` on a bad body, which
        becomes a MalformedRecordError like fastavro's failures; other errors pass through.
        """
        self._type_of(data, expect)
        try:
            return reader(data)
        except ValueError as exc:
            if str(exc).startswith("malformed Avro"):
                raise MalformedRecordError(f"{expect} body does not decode: {exc}") from exc
            raise

    def _type_of(self, data: bytes, expect: str | None) -> AvroType:
        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise UnknownSchemaError("message does not start with the Avro single-object marker C3 01")
        avro_type = self._by_fp.get(data[2:HEADER_LEN])
        if avro_type is None:
            raise UnknownSchemaError(f"unknown schema fingerprint {data[2:HEADER_LEN].hex()}")
        if expect is not None and avro_type.name != expect:
            raise UnknownSchemaError(f"schema {avro_type.name} is not accepted here (want {expect})")
        return avro_type


def encode_event_body(event: dict[str, Any]) -> bytes:
    """The Avro binary of one Event, without header: the canonical bytes the hash chain covers."""
    buf = io.BytesIO()
    schemaless_writer(buf, load_type(EVENT).schema, event)
    return buf.getvalue()


@cache
def default_codec() -> Codec:
    return Codec()
