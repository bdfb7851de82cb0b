"""A small Avro writer for tests: the same datum in valid but non-canonical encodings.

Avro lets a writer spend more bytes on a number than it needs (an overlong varint) and split
an array into several blocks, each optionally with its byte size (a negative count). Readers
written for the validator's own output must still read these exactly as fastavro does.
"""

from __future__ import annotations

from typing import Any

from schemas.codec import load_type
from schemas.raw import zigzag


def _long(n: int, overlong: bool) -> bytes:
    b = zigzag(n)
    if overlong and len(b) < 9:
        b = b[:-1] + bytes([b[-1] | 0x80]) + b"\x80\x00"  # two more bytes of nothing
    return b


def _write(schema: Any, datum: Any, names: dict[str, Any], overlong: bool, block: int | None) -> bytes:
    if isinstance(schema, str):
        if schema in ("long", "int"):
            return _long(datum, overlong)
        if schema == "boolean":
            return b"\x01" if datum else b"\x00"
        if schema in ("string", "bytes"):
            raw = datum.encode() if isinstance(datum, str) else datum
            return _long(len(raw), overlong) + raw
        if schema == "null":
            return b""
        return _write(names[schema], datum, names, overlong, block)
    if isinstance(schema, list):  # a union: ["null", T] here
        if datum is None:
            return _long(schema.index("null"), overlong)
        i = 1 - schema.index("null")
        return _long(i, overlong) + _write(schema[i], datum, names, overlong, block)
    kind = schema["type"]
    if "name" in schema:
        names[schema["name"]] = schema
    if kind == "record":
        return b"".join(_write(f["type"], datum[f["name"]], names, overlong, block) for f in schema["fields"])
    if kind == "enum":
        return _long(schema["symbols"].index(datum), overlong)
    if kind == "fixed":
        assert len(datum) == schema["size"]
        return bytes(datum)
    if kind == "array":
        items = [_write(schema["items"], x, names, overlong, block) for x in datum]
        out = b""
        step = block or max(len(items), 1)
        for i in range(0, len(items), step):
            chunk = b"".join(items[i:i + step])
            n = len(items[i:i + step])
            if block:
                out += _long(-n, overlong) + _long(len(chunk), overlong) + chunk
            else:
                out += _long(n, overlong) + chunk
        return out + _long(0, overlong)
    return _write(kind, datum, names, overlong, block)


def encode_variant(name: str, record: dict[str, Any], overlong: bool = False,
                   block: int | None = None) -> bytes:
    """Single-object ``record`` of schema ``name``: overlong numbers and/or blocks of ``block`` items."""
    t = load_type(name)
    return t.header + _write(t.schema, record, {}, overlong, block)


VARIANTS = [dict(overlong=False, block=None), dict(overlong=True, block=None), dict(overlong=False, block=1),
            dict(overlong=False, block=2), dict(overlong=True, block=3)]
