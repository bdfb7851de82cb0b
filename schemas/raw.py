"""Each event's Avro bytes as they arrived, and an ArchiveBatch written around them.

The hash chain covers each event's canonical Avro encoding (``encode_event_body``), and the
archive holds the event again. Re-encoding every event with fastavro for both cost about a
third of the validator's time; the operator already sent exactly those bytes. So the
validator finds where each event starts and ends in the ingest record it decoded
(:func:`event_bodies`). dsom takes ingest records only in strict Avro (every number in its
shortest form and within 64 bits, every enum index and union branch in range, block byte
sizes exact), and in strict Avro an event's bytes are its canonical encoding (the test suite
checks equality with ``encode_event_body``). So this walker is also the strict check: it
returns None for anything else, and the validator rejects the record as ``malformed``, with
the detail ``schemas/diagnose.py`` writes. The chain's definition does not change, and
``dsom verify-archive`` needs nothing new.

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
# 10th byte above 1) fastavro wraps: neither is strict.

_SKIP_ENUM = """\
    b = d[p]; p += 1
    if b > {most} or b & 1: return None"""
# One byte, even (odd: a negative index, which fastavro counts from the end) and at most the
# last index's code: these enums have a few symbols, so anything else is not strict.

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
    if avro_type == "long":
        return _SKIP_LONG
    if isinstance(avro_type, dict) and avro_type.get("type") == "enum":
        symbols = len(avro_type["symbols"])
        if symbols > 64:
            raise ValueError("the raw event walker reads an enum index as one byte: at most 64 symbols")
        return _SKIP_ENUM.format(most=2 * (symbols - 1))  # the zig-zag code of the last index
    if avro_type in ("string", "bytes"):
        return _SKIP_BYTES
    if isinstance(avro_type, list) and len(avro_type) == 2 and avro_type[0] == "null":
        inner = _field_code(avro_type[1])
        return ("    b = d[p]; p += 1\n    if b == 2:\n" + _indent(inner, "    ")
                + "\n    elif b != 0: return None")
    raise ValueError(f"the raw event walker does not handle {avro_type!r}")


def _long(d: bytes, p: int) -> tuple[int | None, int]:
    """An Avro long at ``p``: (value, next position); value None if not strict."""
    code, p = _varint(d, p)
    return (None if code is None else (code >> 1) ^ -(code & 1)), p


def _varint(d: bytes, p: int) -> tuple[int | None, int]:
    """The unsigned varint at ``p`` (a zig-zag code): (code, next position).

    The code is None if it is not in its shortest form or is beyond 64 bits (more than 10
    bytes, or a 10th byte above 1).
    """
    shift = value = 0
    start = p
    while True:
        b = d[p]
        p += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 63:
            return None, p
    if b == 0 and p - start > 1 or value >> 64:
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
    if isinstance(avro_type, dict) and avro_type.get("type") == "enum":
        return {"type": "enum", "symbols": avro_type["symbols"]}
    if isinstance(avro_type, dict) and avro_type.get("type") in ("fixed", "record"):
        return {"type": avro_type["type"]}
    return avro_type


_walk_event = _build_walker()


def event_bodies(record: bytes) -> list[bytes] | None:
    """The Avro bytes of each event of a single-object EventBatch, or None if not strict Avro.

    ``record`` must have decoded as an EventBatch already (the caller checked its schema, and
    fastavro its strings' UTF-8). Array blocks may carry their byte size, which must be exact.
    """
    d = record
    try:
        p = HEADER_LEN
        for _ in range(2):  # operator_id, source_id
            n, p = _long(d, p)
            if n is None or n < 0:
                return None
            p += n
        sent_at_us, p = _long(d, p)
        if sent_at_us is None:
            return None
        bodies: list[bytes] = []
        while True:
            count, p = _long(d, p)
            if count is None:
                return None
            if count == 0:
                break
            end = -1
            if count < 0:  # the count negated, then the block's size in bytes
                count = -count
                size, p = _long(d, p)
                if size is None or size < 0:
                    return None
                end = p + size
            for _ in range(count):
                q = _walk_event(d, p)
                if q is None:
                    return None
                bodies.append(d[p:q])
                p = q
            if end >= 0 and p != end:
                return None
        if p != len(d):
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
             zigzag(archive["received_at_us"]), zigzag(archive["link_rule"])]
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


_STATUS = {"ACCEPTED": b"\x00", "REJECTED": b"\x02", "DUPLICATE": b"\x04"}  # the ReceiptStatus enum's indexes


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
                      _opt_string(r["kind"]), _opt_long(r["amount"]), _opt_long(r["occurred_at_us"]),
                      _opt_string(r["first_receipt_id"]))
    parts.append(b"\x00")
    return b"".join(parts)
