"""What is wrong with a record that is not strict Avro, in words an integrator can act on.

dsom reads ingest records only in strict Avro binary: every number (a long, a length, a count,
an index) in its shortest form and within 64 bits, every enum index and union branch in range,
every string UTF-8, each array block's byte size (when it has one) equal to the bytes its items
take, and nothing after the record. The fast paths only say yes or no (fastavro plus the walker
of ``schemas/raw.py``, and the Rust decoder); for a record they refuse, :func:`diagnose` walks
it again over the parsed schema and names the first problem: the field's path
(``events[3].amount``), the byte offset in the record (counted from the record's first byte,
the 10-byte single-object header included) and what was expected there. It runs only for
rejected records, so it is a plain interpreter over the schema rather than generated code.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from schemas.codec import HEADER_LEN, load_type, schema_versions

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "bytes", "string", "double"})  # dsom's schemas use
_BITS = {"int": 32, "long": 64}


class _Malformed(Exception):
    """The first problem found: where (field path, byte offset) and what was expected."""

    def __init__(self, path: str, at: int, what: str) -> None:
        super().__init__(f"{path} at byte {at}: {what}")


def diagnose(record: bytes, name: str) -> str | None:
    """Why single-object ``record`` of schema ``name`` is not strict Avro, or None if it is.

    The header is the caller's to check (it named the schema); the walk starts after it, over
    the version of the schema the header's fingerprint names (the current one if none does).
    """
    if len(record) < HEADER_LEN:
        return (f"{_short(name)} at byte 0: the record is shorter than the {HEADER_LEN}-byte "
                "single-object header")
    version = next((t.version for t in schema_versions(name) if t.fingerprint == record[2:HEADER_LEN]),
                   load_type(name).version)
    schema = _schema(name, version)
    walker = _Walker(record, _named_types(name, version))
    try:
        walker.value(schema, "")
        if walker.p != len(record):
            extra = len(record) - walker.p
            raise _Malformed(_short(schema["name"]), walker.p,
                             f"{extra} byte{'s' if extra > 1 else ''} after the end of the record")
    except _Malformed as exc:
        return str(exc)
    return None


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _schema(name: str, version: int) -> Any:
    return next(t.schema for t in schema_versions(name) if t.version == version)


@cache
def _named_types(name: str, version: int) -> dict[str, Any]:
    """Every named type in schema ``name`` by full name: fastavro defines each once, where first used."""
    names: dict[str, Any] = {}

    def collect(t: Any) -> None:
        if isinstance(t, list):
            for branch in t:
                collect(branch)
        elif isinstance(t, dict):
            if "name" in t and t.get("type") in ("record", "enum", "fixed"):
                names[t["name"]] = t
            for f in t.get("fields", ()):
                collect(f["type"])
            if "items" in t:
                collect(t["items"])

    collect(_schema(name, version))
    return names


def _ordinal(n: int) -> str:
    return f"{n}{'st' if n == 1 else 'nd' if n == 2 else 'rd' if n == 3 else 'th'}"


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


class _Walker:
    """A cursor over one record's bytes that raises :class:`_Malformed` at the first problem."""

    def __init__(self, data: bytes, names: dict[str, Any]) -> None:
        self.d = data
        self.p = HEADER_LEN
        self.names = names

    def value(self, t: Any, path: str) -> None:
        """Walk one value of Avro type ``t`` (a parsed schema) found at field ``path``."""
        if isinstance(t, list):
            branches = ", ".join(f"{i} for {_type_name(b)}" for i, b in enumerate(t))
            branch = self.index(path, "union branch", len(t), branches)
            self.value(t[branch], path)
        elif isinstance(t, str) and t in _PRIMITIVES:
            self.primitive(t, path)
        elif isinstance(t, str):
            self.value(self.names[t], path)
        else:
            self.complex(t, path)

    def primitive(self, t: str, path: str) -> None:
        if t in _BITS:
            self.number(path, "number", _BITS[t])
        elif t in ("string", "bytes"):
            self.text(path, t)
        elif t == "double":  # eight bytes, any of which is a valid IEEE 754 value
            self.take(path, 8)
        elif t == "boolean":
            at = self.p
            b = self.take(path, 1)[0]
            if b > 1:
                raise _Malformed(path, at, f"boolean byte 0x{b:02x} (0x00 or 0x01 expected)")

    def complex(self, t: dict[str, Any], path: str) -> None:
        kind = t["type"]
        if kind == "record":
            for f in t["fields"]:
                self.value(f["type"], _join(path, f["name"]))
        elif kind == "enum":
            symbols = t["symbols"]
            self.index(path, "enum index", len(symbols),
                       f"{_short(t['name'])} has {len(symbols)} symbols: 0 to {len(symbols) - 1}")
        elif kind == "fixed":
            self.take(path, t["size"])
        elif kind == "array":
            self.blocks(path, lambda i: self.value(t["items"], f"{path}[{i}]"))
        elif kind == "map":  # blocks of (string key, value)

            def entry(i: int) -> None:
                self.primitive("string", f"{path}<key {i}>")
                self.value(t["values"], f"{path}[{i}]")

            self.blocks(path, entry)
        elif kind in _PRIMITIVES:
            self.primitive(kind, path)  # {"type": "long"} and the like
        else:
            raise TypeError(f"schemas.diagnose does not know Avro type {kind!r}")  # a new schema's: add it

    def take(self, path: str, n: int) -> bytes:
        """The next ``n`` bytes."""
        at, left = self.p, len(self.d) - self.p
        if n > left:
            raise _Malformed(path, at, "the record ends before this field" if left == 0 else
                             f"the record ends inside this field ({n} bytes expected, {left} left)")
        self.p += n
        return self.d[at:self.p]

    def number(self, path: str, noun: str, bits: int = 64) -> int:
        """A zig-zag varint of at most ``bits`` bits, in its shortest form: its value."""
        d, at = self.d, self.p
        most = -(-bits // 7)  # 10 bytes for a long, 5 for an int
        avro = "long" if bits == 64 else "int"
        code = 0
        for i in range(most):
            if self.p == len(d):
                raise _Malformed(path, at, f"the record ends inside this {noun}" if i else
                                 "the record ends before this field")
            b = d[self.p]
            self.p += 1
            code |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                break
        else:
            raise _Malformed(path, at, f"{noun} longer than {most} bytes (Avro {avro} is at most "
                             f"{bits} bits)")
        used = self.p - at
        if used > 1 and b == 0:
            shortest = max(1, -(-code.bit_length() // 7))
            suffice = "suffices" if shortest == 1 else "suffice"
            raise _Malformed(path, at, f"{noun} not in its shortest form: {used} bytes where {shortest} "
                             f"{suffice} (the last byte of a number is never 0x00)")
        if code >> bits:
            limit = (1 << (bits - 7 * (most - 1))) - 1
            raise _Malformed(path, at, f"{noun} beyond {bits} bits (the {_ordinal(most)} byte of an Avro "
                             f"{avro} is at most 0x{limit:02x}, here 0x{b:02x})")
        return (code >> 1) ^ -(code & 1)

    def index(self, path: str, noun: str, n: int, expected: str) -> int:
        """An enum index or union branch: a number in ``range(n)``."""
        at = self.p
        i = self.number(path, noun)
        if not 0 <= i < n:
            raise _Malformed(path, at, f"{noun} {i} out of range ({expected})")
        return i

    def text(self, path: str, t: str) -> None:
        """A string's or bytes' length, then as many bytes; a string's must be UTF-8."""
        at = self.p
        n = self.number(path, f"{t} length")
        if n < 0:
            raise _Malformed(path, at, f"negative {t} length {n}")
        start, left = self.p, len(self.d) - self.p
        if n > left:
            raise _Malformed(path, at, f"the record ends inside this {t} ({n} bytes announced, {left} left)")
        self.p += n
        if t == "string":
            try:
                self.d[start:self.p].decode()
            except UnicodeDecodeError as exc:
                bad = self.d[start + exc.start]
                raise _Malformed(path, start + exc.start,
                                 f"string is not UTF-8 ({exc.reason}: 0x{bad:02x})") from None

    def blocks(self, path: str, item: Callable[[int], None]) -> None:
        """An array's blocks up to the empty one; a block's byte size, if it has one, must be exact."""
        index = 0
        while True:
            count = self.number(path, "block count")
            if count == 0:
                return
            sized = count < 0  # a block with its byte size: the count negated, then the size
            size_at = self.p
            size = self.block_size(path) if sized else 0
            start = self.p
            for _ in range(abs(count)):
                item(index)
                index += 1
            if sized and self.p - start != size:
                items = f"{abs(count)} item{'s' if abs(count) > 1 else ''}"
                raise _Malformed(path, size_at, f"block byte size {size}, but its {items} take "
                                 f"{self.p - start} bytes")

    def block_size(self, path: str) -> int:
        at = self.p
        size = self.number(path, "block byte size")
        if size < 0:
            raise _Malformed(path, at, f"negative block byte size {size}")
        left = len(self.d) - self.p
        if size > left:
            raise _Malformed(path, at, f"the record ends inside this block ({size} bytes announced, "
                             f"{left} left)")
        return size


def _type_name(t: Any) -> str:
    if isinstance(t, str):
        return _short(t)
    if isinstance(t, dict):
        return _short(t["name"]) if "name" in t else str(t["type"])
    return "union"
