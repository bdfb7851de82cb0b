"""Archive records handed to ClickHouse as the Avro they are, instead of decoded in Python.

No I/O here. ClickHouse decodes Avro itself (in C++, without the GIL): the sink wraps the
bodies of archive records in one Avro object container block, each prefixed with the Kafka
partition and offset it came from (a ``SinkRecord``: two Avro longs, then the unchanged
ArchiveBatch body), and inserts with ``INSERT ... SELECT ... ARRAY JOIN`` over that file, one
row per archived event. Measured: about 230 k events/s, against about 40 k/s for fastavro
decoding plus clickhouse-connect serialising the same rows from Python.

The rows are the ones ``rows.add_archive_batch`` builds (a test checks they are equal), so the
two paths mix freely: the sink still uses the Python one to leave already stored rows out
after a crash, and for a ClickHouse server (``file()`` reads the server's disk, not ours).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import BinaryIO

from clickhouse_connect.driver.binding import format_str, quote_identifier
from fastavro.schema import to_parsing_canonical_form

from schemas.codec import (
    ARCHIVE_BATCH,
    HEADER_LEN,
    MAGIC,
    MalformedRecordError,
    UnknownSchemaError,
    describe_fingerprint,
    load_type,
)
from schemas.raw import zigzag
from sinks.clickhouse.rollups import TOKEN_COLUMN

# Any 16 bytes will do: readers find blocks by their byte counts; fixed keeps retries identical.
SYNC = b"dsom-sink-block!"


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise MalformedRecordError("ArchiveBatch header ends inside a number")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7


def is_current_archive(value: bytes) -> bool:
    """Whether ``value`` is an ArchiveBatch of the current version, the one ClickHouse is given."""
    return value[2:HEADER_LEN] == load_type(ARCHIVE_BATCH).fingerprint


def archive_event_count(value: bytes) -> int:
    """Events in one single-object-encoded ArchiveBatch, from its header alone.

    Walks the record's leading fields (four strings, two ints, two longs) to the events array's
    first block count. The validator (the archive's only writer) writes one block per record,
    as every Avro writer does for a list in memory; a negative count (a block with its byte
    size) is followed to the next block.
    """
    if len(value) < HEADER_LEN or value[:2] != MAGIC:
        raise UnknownSchemaError("message does not start with the Avro single-object marker C3 01")
    if value[2:HEADER_LEN] != load_type(ARCHIVE_BATCH).fingerprint:
        fp = describe_fingerprint(value[2:HEADER_LEN])
        raise UnknownSchemaError(f"not an {ARCHIVE_BATCH} (fingerprint {fp})")
    pos = HEADER_LEN
    for _ in range(4):  # chain_id, operator_id, source_id, ingest_topic
        size, pos = _read_long(value, pos)
        if size < 0 or pos + size > len(value):
            raise MalformedRecordError("ArchiveBatch header has a string beyond the record")
        pos += size
    for _ in range(4):  # ingest_partition, ingest_offset, received_at_us, link_rule
        _, pos = _read_long(value, pos)
    total = 0
    while True:
        count, pos = _read_long(value, pos)
        if count == 0:
            break
        if count > 0:
            total += count
            break
        size, pos = _read_long(value, pos)
        total -= count
        pos += size
    if value[-1] != 0:  # the array's closing empty block is the record's last byte
        raise MalformedRecordError("ArchiveBatch does not end with its events array")
    return total


def frame(partition: int, offset: int, value: bytes) -> bytes:
    """One ``SinkRecord`` datum: the Kafka partition and offset, then the ArchiveBatch body."""
    return zigzag(partition) + zigzag(offset) + value[HEADER_LEN:]


@cache
def sink_record_schema() -> bytes:
    archive = json.loads(to_parsing_canonical_form(load_type(ARCHIVE_BATCH).schema))
    return json.dumps({"type": "record", "name": "ua.dsom.v1.SinkRecord", "fields": [
        {"name": "src_partition", "type": "long"},
        {"name": "src_offset", "type": "long"},
        {"name": "batch", "type": archive},
    ]}, separators=(",", ":")).encode()


def container(framed: list[bytes]) -> bytes:
    """An Avro object container file holding ``framed`` SinkRecords in one block."""
    body = b"".join(framed)
    return _container_head() + zigzag(len(framed)) + zigzag(len(body)) + body + SYNC


def write_container(out: BinaryIO, records: Sequence[tuple[int, int, bytes]]) -> None:
    """Write ``container([frame(p, o, v) for p, o, v in records])`` to ``out``, piece by piece.

    The same bytes without a copy of the records in memory: framing and joining a batch of
    200 k events held three more copies of its 56 MB of archive records at once, the sink
    worker's peak memory (docs/performance.md).
    """
    prefixes = [zigzag(p) + zigzag(o) for p, o, _ in records]
    size = sum(len(x) for x in prefixes) + sum(len(v) - HEADER_LEN for _, _, v in records)
    out.write(_container_head() + zigzag(len(records)) + zigzag(size))
    for prefix, (_, _, value) in zip(prefixes, records, strict=True):
        out.write(prefix)
        out.write(memoryview(value)[HEADER_LEN:])
    out.write(SYNC)


def _container_head() -> bytes:
    meta = b"".join(zigzag(len(x)) + x
                    for x in (b"avro.schema", sink_record_schema(), b"avro.codec", b"null"))
    return b"Obj\x01" + zigzag(2) + meta + zigzag(0) + SYNC


def insert_events_sql(database: str, table: str, column_names: tuple[str, ...], path: str,
                      src_topic: str, token: str | None = None) -> str:
    """``INSERT INTO events SELECT ...`` over a container file: the same rows rows.py builds.

    With ``token``, each row also carries it in ``ingest_token`` (the batch's deduplication
    token, by which the sink rolls the batch up: see rollups.py).
    """
    e = "e.event"
    exprs = {
        "receipt_id": "e.receipt_id", "operator_id": "batch.operator_id", "source_id": "batch.source_id",
        "seq": f"{e}.seq", "operator_ref": f"{e}.operator_ref", "kind": f"toString({e}.kind)",
        "licence_id": f"{e}.licence_id", "licence_kind": f"toString({e}.licence_kind)",
        "channel": f"toString({e}.channel)",
        **{name: f"ifNull({e}.{name}, '')" for name in (
            "establishment_id", "equipment_id", "site_id", "app_id", "game_type", "round_ref", "bet_ref")},
        "player_ref": f"{e}.player_ref", "amount": f"{e}.amount", "currency": f"{e}.currency",
        "occurred_at": f"fromUnixTimestamp64Micro({e}.occurred_at_us, 'UTC')",
        "received_at": "fromUnixTimestamp64Micro(batch.received_at_us, 'UTC')",
        "tax_withheld_pit": f"ifNull({e}.tax_withheld_pit, 0)",
        "tax_withheld_military": f"ifNull({e}.tax_withheld_military, 0)",
        "chain_id": "batch.chain_id", "chain_index": "e.chain_index", "hash": "e.hash",
        "src_topic": format_str(src_topic), "src_partition": "src_partition", "src_offset": "src_offset",
    }
    if token is not None:
        exprs[TOKEN_COLUMN] = format_str(token)
        column_names = (*column_names, TOKEN_COLUMN)
    columns = ", ".join(quote_identifier(name) for name in column_names)
    select = ", ".join(exprs[name] for name in column_names)
    target = f"{quote_identifier(database)}.{quote_identifier(table)}"
    return (f"INSERT INTO {target} ({columns}) SELECT {select} "
            f"FROM file({format_str(path)}, 'Avro') ARRAY JOIN batch.events AS e")
