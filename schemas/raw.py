"""Each event's Avro bytes as they arrived, and an ArchiveBatch written around them.

The hash chain covers each event's canonical Avro encoding (``encode_event_body``), and the
archive holds the event again. Re-encoding every event with fastavro for both cost about a
third of the validator's time; the operator already sent exactly those bytes. So the
validator finds where each event starts and ends in the ingest record it decoded
(:func:`event_bodies`), and uses those bytes when they are the canonical encoding — every
number in its shortest form, which is all Avro allows to vary here (the test suite checks
equality with ``encode_event_body``). Anything else (an overlong number, several array
blocks, a layout the walker does not know) returns None, and the caller re-encodes as
before: the chain's definition does not change, and ``dsom verify-archive`` needs nothing new.

The walker is generated from ``ua.dsom.v1.Event``'s schema when this module is imported:
straight-line Python per field is about three times faster than a loop over field types.

:func:`encode_receipt_batch` writes receipts by hand for the same reason: about 1.7 times
faster than fastavro's writer on these records (its union handling dominates), and byte for
byte the same (tested, so a schema change that the writers miss fails the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.codec import ARCHIVE_BATCH, EVENT, HEADER_LEN, RECEIPT_BATCH, load_type

_SKIP_LONG = """\
    b = d[p]; p += 1
    if b & 0x80:
        s = p
        while d[p] & 0x80: p += 1
        p += 1
        if d[p - 1] == 0 or p - s > 8 and (p - s > 9 or d[p - 1] != 1): return None"""
# A multi-byte number ending in 0x00 is overlong; one of more than 64 bits (over 10 bytes, or a
# 10th byte above 1) fastavro wraps: neither is the canonical encoding of the value decoded.

_SKIP_ENUM = """\
    b = d[p]; p += 1
    if b & 0x81: return None"""  # odd: a negative index (fastavro counts it from the end)

_SKIP_BYTES = """\
    b = d[p]; p += 1
    if b & 0x80:
        v, p = _varint(d, p - 1)
        if v is None: return None
    else:
        v = b
    if v & 1: return None
    p += v >> 1"""  # the zig-zag code: an even one is a non-negative length


def _indent(code: str, by: str) -> str:
    return "\n".join(by + line for line in code.splitlines())


def _field_code(avro_type: Any) -> str:
    if avro_type in ("long", "int"):
        return _SKIP_LONG
    if isinstance(avro_type, dict) and avro_type.get("type") == "enum":
        return _SKIP_ENUM  # these enums have a few symbols: one byte, or not canonical
    if avro_type in ("string", "bytes"):
        return _SKIP_BYTES
    if isinstance(avro_type, list) and len(avro_type) == 2 and avro_type[0] == "null":
        inner = _field_code(avro_type[1])
        return ("    b = d[p]; p += 1\n    if b == 2:\n" + _indent(inner, "    ")
                + "\n    elif b != 0: return None")
    raise ValueError(f"the raw event walker does not handle {avro_type!r}")


def _long(d: bytes, p: int) -> tuple[int | None, int]:
    """An Avro long at ``p``: (value, next position); value None if not in shortest form."""
    code, p = _varint(d, p)
    return (None if code is None else (code >> 1) ^ -(code & 1)), p


def _varint(d: bytes, p: int) -> tuple[int | None, int]:
    """The unsigned varint at ``p`` (a zig-zag code): (code, next position); None if overlong."""
    shift = value = 0
    start = p
    while True:
        b = d[p]
        p += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
    if b == 0 and p - start > 1:
        return None, p
    return value, p


def _build_walker() -> Callable[[bytes, int], int | None]:
    fields = load_type(EVENT).schema["fields"]
    body = "\n".join(_field_code(_plain(f["type"])) for f in fields)
    source = f"def _walk(d, p):\n{body}\n    return p\n"
    namespace: dict[str, Any] = {"_varint": _varint}
    exec(compile(source, "<schemas.raw event walker>", "exec"), namespace)  # noqa: S102 - generated above
    walker: Callable[[bytes, int], int | None] = namespace["_walk"]
    return walker


def _plain(avro_type: Any) -> Any:
    """Named types as fastavro's parsed schema holds them, reduced to what the walker needs."""
    if isinstance(avro_type, list):
        return [_plain(t) for t in avro_type]
    if isinstance(avro_type, dict) and avro_type.get("type") in ("enum", "fixed", "record"):
        return {"type": avro_type["type"]}
    return avro_type


_walk_event = _build_walker()


def event_bodies(record: bytes) -> list[bytes] | None:
    """The canonical Avro bytes of each event of a single-object EventBatch that decoded, or None.

    ``record`` must have decoded as an EventBatch already (the caller checked its schema).
    """
    d = record
    try:
        p = HEADER_LEN
        for _ in range(2):  # operator_id, source_id
            n, p = _long(d, p)
            if n is None or n < 0:
                return None
            p += n
        _, p = _long(d, p)  # sent_at_us
        count, p = _long(d, p)
        if count is None or count < 0:
            return None  # a block with its byte size: rare, left to the re-encoding path
        bodies = []
        for _ in range(count):
            end = _walk_event(d, p)
            if end is None:
                return None
            bodies.append(d[p:end])
            p = end
        if count and d[p] != 0:
            return None  # a second block
        if p + (1 if count else 0) != len(d):
            return None
    except IndexError:
        return None
    return bodies


def zigzag(n: int) -> bytes:
    """An Avro ``long``: zig-zag, then base-128 varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _string(s: str) -> bytes:
    b = s.encode()
    return zigzag(len(b)) + b


def encode_archive_batch(archive: dict[str, Any], bodies: list[bytes]) -> bytes:
    """The single-object ArchiveBatch of ``archive``, each event written as its ``bodies`` bytes.

    Byte for byte what ``Codec.encode(ARCHIVE_BATCH, archive)`` writes when each body is its
    event's canonical encoding (tested), without encoding the events again.
    """
    events = archive["events"]
    assert len(events) == len(bodies)
    parts = [load_type(ARCHIVE_BATCH).header, _string(archive["chain_id"]), _string(archive["operator_id"]),
             _string(archive["source_id"]), _string(archive["ingest_topic"]),
             zigzag(archive["ingest_partition"]), zigzag(archive["ingest_offset"]),
             zigzag(archive["received_at_us"])]
    if events:
        parts.append(zigzag(len(events)))
        for e, body in zip(events, bodies, strict=True):
            rid = e["receipt_id"].encode()
            parts += (zigzag(len(rid)), rid, zigzag(e["chain_index"]), e["prev_hash"], e["hash"], body)
    parts.append(b"\x00")
    return b"".join(parts)


def _opt_string(s: str | None) -> bytes:
    return b"\x00" if s is None else b"\x02" + _string(s)


def _opt_long(n: int | None) -> bytes:
    return b"\x00" if n is None else b"\x02" + zigzag(n)


_STATUS = {"ACCEPTED": b"\x00", "REJECTED": b"\x02"}  # the ReceiptStatus enum's indexes


def encode_receipt_batch(batch: dict[str, Any]) -> bytes:
    """The single-object ReceiptBatch of ``batch``, as ``Codec.encode(RECEIPT_BATCH, batch)`` writes it."""
    parts = [load_type(RECEIPT_BATCH).header, _string(batch["operator_id"]), _opt_string(batch["source_id"]),
             _string(batch["ingest_topic"]), zigzag(batch["ingest_partition"]),
             zigzag(batch["ingest_offset"]), zigzag(batch["processed_at_us"])]
    receipts = batch["receipts"]
    if receipts:
        parts.append(zigzag(len(receipts)))
        for r in receipts:
            parts += (_opt_long(r["seq"]), _opt_string(r["operator_ref"]), _STATUS[r["status"]],
                      _string(r["receipt_id"]), _opt_string(r["reason"]), _opt_string(r["detail"]),
                      _opt_string(r["kind"]), _opt_long(r["amount"]), _opt_long(r["occurred_at_us"]))
    parts.append(b"\x00")
    return b"".join(parts)
