"""Small Avro writers for tests: the same datum in valid but non-canonical encodings, and
Events with any bytes in place of one number.

Avro lets a writer spend more bytes on a number than it needs (an overlong varint) and split
an array into several blocks, each optionally with its byte size (a negative count). Readers
written for the validator's own output must still read these exactly as fastavro does; the
validator takes ingest records only in strict Avro, and :func:`write_event` makes the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.codec import EVENT, load_type
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


def code_of(n: int) -> int:
    """The zig-zag code of any integer, even one beyond 64 bits (``zigzag`` wraps those)."""
    return 2 * n if n >= 0 else -2 * n - 1


def varint(code: int, length: int | None = None) -> bytes:
    """``code`` in base 128, in its shortest form or padded to ``length`` bytes (overlong: the
    extra bytes are 0x80 ... 0x00). Any ``code`` and any length, strict or not."""
    out = bytearray()
    while True:
        out.append(code & 0x7F)
        code >>= 7
        if not code:
            break
    while length is not None and len(out) < length:
        out.append(0)
    return bytes([b | 0x80 for b in out[:-1]] + [out[-1]])


VARIANTS = [dict(overlong=False, block=None), dict(overlong=True, block=None), dict(overlong=False, block=1),
            dict(overlong=False, block=2), dict(overlong=True, block=3)]


def write_event(ev: Mapping[str, Any], raw: Mapping[str, bytes] | None = None) -> bytes:
    """An Event's Avro bytes, in its canonical encoding except where ``raw`` says.

    ``raw[name]`` replaces field ``name``'s first number (a long's value, a string's length, an
    enum's index, a union's branch) and ``raw[name + ":value"]`` the long or string length in a
    union's non-null branch; the rest of the field is written as usual.
    """
    raw = raw or {}

    def num(key: str, n: int) -> bytes:
        return raw.get(key, varint(code_of(n)))

    def value(key: str, t: Any, v: Any) -> bytes:
        if t == "long":
            return num(key, v)
        if t == "string":
            b = v.encode()
            return num(key, len(b)) + b
        if isinstance(t, dict):  # an enum
            return num(key, t["symbols"].index(v))
        branch = 0 if v is None else 1  # ["null", x]
        return num(key, branch) + (b"" if v is None else value(key + ":value", t[1], v))

    return b"".join(value(f["name"], f["type"], ev[f["name"]]) for f in load_type(EVENT).schema["fields"])


def offset_of(ev: Mapping[str, Any], key: str) -> int:
    """Where ``write_event(ev)`` writes the number ``key`` names (as in ``raw``), from its start."""
    marker = b"\xfe\xff\x7f"  # a 3-byte number no field of a test event is written as
    body = write_event(ev, {key: marker})
    assert body.count(marker) == 1
    return body.index(marker)
