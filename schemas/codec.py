"""Avro single-object encoding: every message names its schema by CRC-64-AVRO fingerprint.

A message is ``C3 01`` + the 8-byte fingerprint of the writer schema's parsing canonical
form + the Avro binary body (the Avro specification's "single object encoding"). Several
schema versions can therefore coexist on one topic; a fingerprint the codec does not know
is a rejection (:class:`UnknownSchemaError`), never a crash.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form

AVRO_DIR = Path(__file__).parent / "avro"
HISTORY_DIR = AVRO_DIR / "history"
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


def describe_fingerprint(fp: bytes) -> str:
    """A fingerprint in both byte orders: as on the wire, and as Java prints it.

    The wire carries CRC-64-AVRO little-endian; Java's ``SchemaNormalization.parsingFingerprint64``
    returns it as a ``long``, which printed in hex reads in the reverse byte order.
    """
    as_long = int.from_bytes(fp, "little")
    return (f"{fp.hex()} (wire bytes; Java parsingFingerprint64 = 0x{as_long:016x} = "
            f"{int.from_bytes(fp, 'little', signed=True)})")


class UnknownSchemaError(ValueError):
    """The message does not name a schema this system knows."""


class MalformedRecordError(ValueError):
    """The message names a known schema but its body does not decode."""


@dataclass(frozen=True)
class AvroType:
    name: str
    schema: Any
    fingerprint: bytes
    version: int = 1

    @property
    def header(self) -> bytes:
        return MAGIC + self.fingerprint


def schema_fingerprint(schema: Any) -> bytes:
    """CRC-64-AVRO of the schema's Parsing Canonical Form, in wire (little-endian) byte order."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


def _load(path: Path, name: str) -> AvroType:
    schema = load_schema(str(path))
    version = json.loads(path.read_text()).get("version", 1)
    return AvroType(name, schema, schema_fingerprint(schema), version)


@cache
def load_type(name: str) -> AvroType:
    """Load a named schema's current version, ``schemas/avro/<name>.avsc`` (references resolve there)."""
    return _load(AVRO_DIR / f"{name}.avsc", name)


@cache
def schema_versions(name: str) -> tuple[AvroType, ...]:
    """Every published version of a schema, oldest first; the last is the current one."""
    old = [_load(p, name) for p in HISTORY_DIR.glob(f"{name}.*.avsc")]
    versions = sorted(old, key=lambda t: t.version) + [load_type(name)]
    if [t.version for t in versions] != list(range(versions[0].version, versions[-1].version + 1)):
        raise ValueError(f"{name}: versions {[t.version for t in versions]} are not consecutive")
    return tuple(versions)


def enum_prefix_versions(name: str, enum: str) -> tuple[tuple[AvroType, int], ...]:
    """The versions of ``name`` whose records the current version reads byte for byte, newest first.

    Each with its number of ``enum`` symbols: a version qualifies when it differs from the
    current one only by fewer symbols at the end of that enum, so its binary encoding is the
    current one's with the index in a shorter range. The compiled validator reads such records
    as they are (``pipeline/core/native.py``), without fastavro's resolution.
    """
    versions = schema_versions(name)
    current = versions[-1]
    new_symbols = _enum_symbols(current.schema, enum)
    out = [(current, len(new_symbols))]
    for old in reversed(versions[:-1]):
        symbols = _enum_symbols(old.schema, enum)
        if (symbols and new_symbols[:len(symbols)] == symbols
                and schema_fingerprint(_with_symbols(current.schema, enum, symbols)) == old.fingerprint):
            out.append((old, len(symbols)))
    return tuple(out)


def _is_enum(node: Any, enum: str) -> bool:
    return (isinstance(node, dict) and node.get("type") == "enum"
            and str(node.get("name", "")).rpartition(".")[2] == enum)


def _enum_symbols(schema: Any, enum: str) -> list[str]:
    """The symbols of the enum named ``enum`` (its short name) where ``schema`` defines it."""
    if _is_enum(schema, enum):
        return list(schema["symbols"])
    children = schema.values() if isinstance(schema, dict) else schema if isinstance(schema, list) else ()
    for child in children:
        found = _enum_symbols(child, enum)
        if found:
            return found
    return []


def _with_symbols(schema: Any, enum: str, symbols: list[str]) -> Any:
    """``schema`` with the enum ``enum``'s symbols replaced by ``symbols``."""
    if _is_enum(schema, enum):
        return {**schema, "symbols": symbols}
    if isinstance(schema, dict):
        return {k: _with_symbols(v, enum, symbols) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_with_symbols(v, enum, symbols) for v in schema]
    return schema


class Codec:
    """Encodes and decodes single-object Avro messages of a fixed set of schemas."""

    def __init__(self, names: tuple[str, ...] = MESSAGE_SCHEMAS) -> None:
        self._by_name = {name: load_type(name) for name in names}
        self._by_fp = {t.fingerprint: t for t in self._by_name.values()}
        # An older version's fingerprint: (the current type, the older writer schema).
        self._older: dict[bytes, tuple[AvroType, Any]] = {
            old.fingerprint: (self._by_name[name], old.schema)
            for name in names for old in schema_versions(name)[:-1]}

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        avro_type = self._by_name[name]
        buf = io.BytesIO()
        buf.write(avro_type.header)
        schemaless_writer(buf, avro_type.schema, record)
        return buf.getvalue()

    def decode(self, data: bytes, expect: str | None = None) -> tuple[str, dict[str, Any]]:
        """Return ``(schema name, record)``; raise if the schema is unknown or the body is bad."""
        avro_type, writer = self._writer_of(data, expect)
        buf = io.BytesIO(data)
        buf.seek(HEADER_LEN)
        try:
            record = schemaless_reader(buf, writer, None if writer is avro_type.schema else avro_type.schema)
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
        A message of an older version is first rewritten in the current one: the compiled
        readers know only that, and older messages are the rare ones.
        """
        if data[2:HEADER_LEN] in self._older:
            data = self.encode(*self.decode(data, expect))
        self._type_of(data, expect)
        try:
            return reader(data)
        except ValueError as exc:
            if str(exc).startswith("malformed Avro"):
                raise MalformedRecordError(f"{expect} body does not decode: {exc}") from exc
            raise

    def _type_of(self, data: bytes, expect: str | None) -> AvroType:
        avro_type, writer = self._writer_of(data, expect)
        if writer is not avro_type.schema:
            raise UnknownSchemaError(f"schema {avro_type.name} in an older version is not accepted here")
        return avro_type

    def _writer_of(self, data: bytes, expect: str | None) -> tuple[AvroType, Any]:
        """The message's type (current version) and the schema it was written with."""
        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise UnknownSchemaError("message does not start with the Avro single-object marker C3 01")
        fp = data[2:HEADER_LEN]
        avro_type = self._by_fp.get(fp)
        writer = None if avro_type is None else avro_type.schema
        if avro_type is None and fp in self._older:
            avro_type, writer = self._older[fp]
        if avro_type is None:
            raise UnknownSchemaError(f"unknown schema fingerprint {describe_fingerprint(fp)}")
        if expect is not None and avro_type.name != expect:
            raise UnknownSchemaError(f"schema {avro_type.name} is not accepted here (want {expect})")
        return avro_type, writer


def encode_event_body(event: dict[str, Any]) -> bytes:
    """The Avro binary of one Event, without header: the canonical bytes the hash chain covers."""
    buf = io.BytesIO()
    schemaless_writer(buf, load_type(EVENT).schema, event)
    return buf.getvalue()


@cache
def default_codec() -> Codec:
    return Codec()
