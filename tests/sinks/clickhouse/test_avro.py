"""Archive records handed to ClickHouse undecoded: the header walk, the container, and the rows."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fastavro
import pytest

from schemas import ARCHIVE_BATCH, MalformedRecordError, UnknownSchemaError
from sinks.clickhouse import avro
from sinks.clickhouse.rows import Columns, add_archive_batch
from sinks.clickhouse.tables import EVENTS, create_tables
from tests.sinks.clickhouse.samples import ARCHIVE, archive_batch, decoded, event, receipt, receipt_batch


def test_zigzag_matches_avro_longs() -> None:
    for n in (0, -1, 1, 63, -64, 64, 2**31, -(2**63), 2**63 - 1):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, "long", n)
        assert avro.zigzag(n) == buf.getvalue()


def test_archive_event_count_reads_the_header_only() -> None:
    for n in (1, 3, 200):
        assert avro.archive_event_count(archive_batch([event(seq=i + 1) for i in range(n)])) == n
    with pytest.raises(UnknownSchemaError):
        avro.archive_event_count(b"\xc3\x01garbage")
    with pytest.raises(UnknownSchemaError):
        avro.archive_event_count(receipt_batch([receipt(1)]))
    with pytest.raises(MalformedRecordError):
        avro.archive_event_count(archive_batch([event()])[:20])


def test_container_holds_the_records_with_their_partition_and_offset() -> None:
    values = [archive_batch([event(seq=1), event(seq=2)]), archive_batch([event(seq=3)], first_index=3)]
    data = avro.container([avro.frame(4, 10 + i, v) for i, v in enumerate(values)])
    read = list(fastavro.reader(io.BytesIO(data)))
    assert [(r["src_partition"], r["src_offset"]) for r in read] == [(4, 10), (4, 11)]
    assert [r["batch"] for r in read] == [decoded(v, ARCHIVE_BATCH) for v in values]


def test_written_container_is_the_joined_one_byte_for_byte() -> None:
    values = [archive_batch([event(seq=1), event(seq=2)]), archive_batch([event(seq=3)], first_index=3),
              archive_batch([event(seq=4 + i) for i in range(40)], first_index=4)]
    records = [(i % 3, 2**40 + i, v) for i, v in enumerate(values)]
    out = io.BytesIO()
    avro.write_container(out, records)
    assert out.getvalue() == avro.container([avro.frame(p, o, v) for p, o, v in records])
    empty = io.BytesIO()
    avro.write_container(empty, [])
    assert empty.getvalue() == avro.container([])


def test_clickhouse_stores_the_same_rows_as_the_python_path(ch: Any, tmp_path: Path) -> None:
    values = [archive_batch([event(seq=1), event(seq=2, kind="WIN", tax_withheld_pit=10,
                                                  tax_withheld_military=3, site_id=None, channel="APP",
                                                  app_id="ua.app", establishment_id="e")]),
              archive_batch([event(seq=3, operator_ref="ґ-юнікод")], first_index=3)]
    path = tmp_path / "batch.avro"
    path.write_bytes(avro.container([avro.frame(1, 5 + i, v) for i, v in enumerate(values)]))
    ch.command(avro.insert_events_sql("dsom", "events", EVENTS.column_names, str(path), ARCHIVE))
    ch.command("CREATE DATABASE python_path")
    create_tables(ch, "python_path")
    cols = Columns(EVENTS)
    for i, v in enumerate(values):
        add_archive_batch(cols, decoded(v, ARCHIVE_BATCH), ARCHIVE, 1, 5 + i)
    ch.insert("events", cols.as_lists(), column_names=EVENTS.column_names, database="python_path",
              column_type_names=EVENTS.column_types, column_oriented=True)

    def rows(db: str) -> list[Any]:
        query = f"SELECT * EXCEPT inserted_at FROM {db}.events ORDER BY chain_index"
        return list(ch.query(query).result_rows)

    assert len(rows("dsom")) == 3 and rows("dsom") == rows("python_path")
