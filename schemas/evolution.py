"""Writer schemas other than dsom's own: the fingerprints that name them, and whether dsom reads them.

Pure, no I/O. A schema is named on the wire by the CRC-64-AVRO fingerprint of its Parsing
Canonical Form. The Avro specification's form keeps only ``type``, ``name``, ``fields``,
``symbols``, ``items``, ``values`` and ``size`` ([STRIP]), so ``logicalType``, ``doc``,
``aliases``, defaults and other properties never change a fingerprint: that is the form
fastavro (``to_parsing_canonical_form``) and Java (``SchemaNormalization.toParsingForm``)
compute, and the one dsom's own fingerprints use. Go's hamba/avro keeps ``logicalType`` (and a
decimal's ``precision`` and ``scale``) in the form it fingerprints, so a schema that declares a
logical type has a second fingerprint there: :func:`fingerprints` gives both, and a registered
writer schema is known by either.

:func:`resolution_errors` applies the specification's "Schema Resolution" rules to a writer
schema and dsom's reader schema, naming each field that cannot be resolved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastavro.schema import fingerprint, parse_schema

from schemas.codec import EVENT_BATCH, load_type

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
# Avro's promotions: the writer's type (key) is read as any of the reader's types (value).
PROMOTIONS = {"int": {"long", "float", "double"}, "long": {"float", "double"}, "float": {"double"},
              "string": {"bytes"}, "bytes": {"string"}}


class SchemaError(ValueError):
    """The text is not an Avro schema dsom can read (not JSON, or not a valid schema)."""


@dataclass
class Node:
    """One schema node with names resolved: a named type is one Node wherever it is referenced."""

    type: str
    name: str = ""  # fullname of a named type
    aliases: tuple[str, ...] = ()
    fields: list[Field] | None = None  # record
    symbols: list[str] | None = None  # enum
    default: Any = None  # enum default symbol
    size: int = 0  # fixed
    items: Node | None = None  # array items, map values
    branches: list[Node] | None = None  # union
    logical: str = ""  # logicalType, with a decimal's precision and scale
    precision: int = 0
    scale: int = 0


@dataclass
class Field:
    name: str
    type: Node
    has_default: bool
    aliases: tuple[str, ...] = ()


def parse(schema: Any) -> Node:
    """The schema (parsed JSON: a name, a list or an object) as a tree of Nodes."""
    return _Parser().node(schema, "")


def parse_text(text: str) -> tuple[Any, Node]:
    """The JSON text of a schema, parsed: (the JSON, its Node tree)."""
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise SchemaError(f"not JSON: {exc}") from exc
    return schema, parse(schema)


class _Parser:
    def __init__(self) -> None:
        self.names: dict[str, Node] = {}

    def fullname(self, name: str, namespace: str) -> str:
        return name if "." in name or not namespace else f"{namespace}.{name}"

    def node(self, s: Any, ns: str) -> Node:
        if isinstance(s, str):
            if s in PRIMITIVES:
                return Node(s)
            found = self.names.get(self.fullname(s, ns)) or self.names.get(s)
            if found is None:
                raise SchemaError(f"unknown type name {s!r}")
            return found
        if isinstance(s, list):
            return Node("union", branches=[self.node(b, ns) for b in s])
        if not isinstance(s, dict) or "type" not in s:
            raise SchemaError(f"not a schema: {str(s)[:64]}")
        t = s["type"]
        if t in PRIMITIVES:
            return Node(t, logical=s.get("logicalType", ""), precision=int(s.get("precision", 0)),
                        scale=int(s.get("scale", 0)))
        if t == "array":
            return Node("array", items=self.node(s["items"], ns))
        if t == "map":
            return Node("map", items=self.node(s["values"], ns))
        if t not in NAMED:
            return self.node(t, ns)  # {"type": "SomeName"} or {"type": {...}}
        if "name" not in s:
            raise SchemaError(f"a {t} without a name")
        name = self.fullname(s["name"], s.get("namespace", ns))
        inner = name.rpartition(".")[0]
        aliases = tuple(self.fullname(a, inner) for a in s.get("aliases", []))
        node = Node("record" if t == "error" else t, name=name, aliases=aliases)
        self.names[name] = node
        if t == "enum":
            node.symbols, node.default = list(s["symbols"]), s.get("default")
        elif t == "fixed":
            node.size, node.logical = int(s["size"]), s.get("logicalType", "")
            node.precision, node.scale = int(s.get("precision", 0)), int(s.get("scale", 0))
        else:
            node.fields = [Field(f["name"], self.node(f["type"], inner), "default" in f,
                                 tuple(f.get("aliases", []))) for f in s["fields"]]
        return node


def canonical_form(node: Node, keep_logical: bool = False) -> str:
    """The Parsing Canonical Form; with ``keep_logical``, hamba/avro's form (logical types kept)."""
    seen: set[str] = set()

    def logical(n: Node) -> str:
        if not (keep_logical and n.logical):
            return ""
        out = f',"logicalType":"{n.logical}"'
        if n.logical == "decimal":
            out += f',"precision":{n.precision}' + (f',"scale":{n.scale}' if n.scale else "")
        return out

    def form(n: Node) -> str:
        if n.type in PRIMITIVES:
            return f'{{"type":"{n.type}"{logical(n)}}}' if keep_logical and n.logical else f'"{n.type}"'
        if n.type == "union":
            return "[" + ",".join(form(b) for b in n.branches or []) + "]"
        if n.type == "array":
            return f'{{"type":"array","items":{form(n.items)}}}' if n.items else ""
        if n.type == "map":
            return f'{{"type":"map","values":{form(n.items)}}}' if n.items else ""
        if n.name in seen:
            return json.dumps(n.name)
        seen.add(n.name)
        head = f'{{"name":{json.dumps(n.name)},"type":"{n.type}"'
        if n.type == "enum":
            return head + ',"symbols":[' + ",".join(json.dumps(s) for s in n.symbols or []) + "]}"
        if n.type == "fixed":
            return head + f',"size":{n.size}{logical(n)}}}'
        fields = ",".join(f'{{"name":{json.dumps(f.name)},"type":{form(f.type)}}}' for f in n.fields or [])
        return head + ',"fields":[' + fields + "]}"

    return form(node)


def fingerprints(node: Node) -> list[bytes]:
    """CRC-64-AVRO fingerprints (wire byte order) that may name the schema.

    The spec's canonical form's first, then hamba/avro's when it differs (a logical type is declared).
    """
    forms = [canonical_form(node), canonical_form(node, keep_logical=True)]
    fps = [bytes.fromhex(fingerprint(f, "CRC-64-AVRO")) for f in forms]
    return fps[:1] if fps[0] == fps[1] else fps


def java_order(fp: bytes) -> str:
    """A fingerprint as Java prints the long ``SchemaNormalization.parsingFingerprint64`` returns."""
    return fp[::-1].hex()


def resolution_errors(writer: Node, reader: Node) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (empty: it can).

    By the specification's schema resolution rules; each error names the field path.
    """
    errors: list[str] = []
    checked: set[tuple[int, int]] = set()

    def short(name: str) -> str:
        return name.rpartition(".")[2]

    def same_name(w: Node, r: Node) -> bool:
        return short(w.name) == short(r.name) or w.name in r.aliases or short(w.name) in map(short, r.aliases)

    def matches(w: Node, r: Node) -> bool:  # the union branch rule: a reader branch for this writer type
        if w.type in NAMED or r.type in NAMED:
            return w.type == r.type and same_name(w, r)
        return w.type == r.type or r.type in PROMOTIONS.get(w.type, ())

    def check(w: Node, r: Node, path: str) -> None:
        if (id(w), id(r)) in checked:
            return
        checked.add((id(w), id(r)))
        if w.type == "union":
            for b in w.branches or []:
                check(b, r, path)
            return
        if r.type == "union":
            branch = next((b for b in r.branches or [] if matches(w, b)), None)
            if branch is None:
                errors.append(f"{path}: {describe(w)} matches no branch of dsom's union "
                              f"{[describe(b) for b in r.branches or []]}")
            else:
                check(w, branch, path)
            return
        if not matches(w, r):
            errors.append(f"{path}: written as {describe(w)}, dsom reads {describe(r)}")
            return
        if r.type in ("array", "map") and w.items is not None and r.items is not None:
            check(w.items, r.items, path + "[]")
        elif r.type == "fixed" and w.size != r.size:
            errors.append(f"{path}: fixed of {w.size} bytes, dsom reads {r.size}")
        elif r.type == "enum":
            extra = [s for s in w.symbols or [] if s not in (r.symbols or [])]
            if extra and r.default is None:
                errors.append(f"{path}: symbols {extra} are not in dsom's {short(r.name)} {r.symbols}")
        elif r.type == "record":
            by_name = {f.name: f for f in w.fields or []}
            for f in r.fields or []:
                found = next((by_name[n] for n in (f.name, *f.aliases) if n in by_name), None)
                where = f"{path}.{f.name}" if path else f.name
                if found is not None:
                    check(found.type, f.type, where)
                elif not f.has_default:
                    errors.append(f"{where}: missing from the writer schema, and dsom's has no "
                                  "default for it")

    check(writer, reader, "")
    return errors


def describe(n: Node) -> str:
    if n.type in ("array", "map"):
        return f"{n.type} of {describe(n.items) if n.items else '?'}"
    return n.name.rpartition(".")[2] if n.name else n.type


class IncompatibleSchemaError(ValueError):
    """A writer schema dsom cannot resolve into its reader schema; ``errors`` name the fields."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class WriterSchema:
    """An operator's registered writer schema, checked: the names it goes by, fastavro's parse."""

    operator_id: str
    text: str
    fingerprints: tuple[bytes, ...]
    parsed: Any


def check_writer(operator_id: str, text: str, reader_name: str = EVENT_BATCH) -> WriterSchema:
    """``text`` as a writer schema of ``reader_name`` (dsom's current version), or why not.

    Raises SchemaError (not a schema) or IncompatibleSchemaError (Avro's resolution rules fail).
    """
    schema, node = parse_text(text)
    reader = load_type(reader_name)
    errors = resolution_errors(node, parse(reader.schema))
    if errors:
        raise IncompatibleSchemaError(errors)
    try:  # logical types do not change the binary; read without them, as dsom's plain longs
        parsed = parse_schema(_without_logical_types(schema), _write_hint=False)
    except Exception as exc:  # fastavro's SchemaParseException and friends
        raise SchemaError(f"fastavro cannot parse it: {exc}") from exc
    return WriterSchema(operator_id, text, tuple(fingerprints(node)), parsed)


def _without_logical_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(s) for s in schema]
    return schema


class WriterSchemas:
    """The registered writer schemas, by (operator, fingerprint): what the validator resolves."""

    def __init__(self, schemas: list[WriterSchema] | tuple[WriterSchema, ...] = ()) -> None:
        self._by = {(s.operator_id, fp): s for s in schemas for fp in s.fingerprints}

    def __len__(self) -> int:
        return len(self._by)

    def get(self, operator_id: str, fp: bytes) -> WriterSchema | None:
        return self._by.get((operator_id, fp))
