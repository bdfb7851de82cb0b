"""One table's pending insert: its rows, the Kafka offsets they cover, and its deduplication token.

Pure bookkeeping, no I/O. A batch always holds whole Kafka records (it is cut on record
boundaries), so the offsets to commit after the insert are exact, and a retried insert of the
same batch is the same rows with the same token, which ClickHouse drops as a repeat.
"""

from __future__ import annotations

import hashlib

from sinks.clickhouse.rows import Columns
from sinks.clickhouse.tables import Table

TP = tuple[str, int]


class TableBatch:
    """Rows for one table built from whole Kafka records, with the offset range per partition."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.columns = Columns(table)
        # Records handed to ClickHouse undecoded (see avro.py): (partition, offset, value, rows).
        # A batch holds rows in one form only: ``columns`` or ``raw``.
        self.raw: list[tuple[int, int, bytes, int]] = []
        self.raw_rows = 0
        self.ranges: dict[TP, tuple[int, int]] = {}  # (topic, partition) -> (first, last) offset
        self.records = 0
        self.skipped_rows = 0  # rows left out because ClickHouse already held them
        self.started: float | None = None  # monotonic time of the first record
        self.inserted = False  # set once the rows are in ClickHouse (the commit may still be due)

    @property
    def rows(self) -> int:
        return self.columns.rows + self.raw_rows

    def add_raw(self, partition: int, offset: int, value: bytes, rows: int) -> None:
        """Keep one record's value for ClickHouse to decode (then account for it with add_record)."""
        assert not self.columns.rows, "a batch holds rows either as columns or raw"
        self.raw.append((partition, offset, value, rows))
        self.raw_rows += rows

    def add_record(self, topic: str, partition: int, offset: int, now: float, skipped_rows: int = 0) -> None:
        """Account for one record whose rows were appended to :attr:`columns` (possibly none)."""
        assert not self.inserted, "a batch is never changed once (maybe) inserted"
        tp = (topic, partition)
        known = self.ranges.get(tp)
        if known is not None and offset <= known[1]:
            raise ValueError(f"offset {offset} of {topic}[{partition}] is not after {known[1]}")
        self.ranges[tp] = (known[0] if known is not None else offset, offset)
        self.records += 1
        self.skipped_rows += skipped_rows
        if self.started is None:
            self.started = now

    def covers(self, tps: set[TP]) -> bool:
        return any(tp in tps for tp in self.ranges)

    def description(self) -> str:
        """A canonical text of what the batch holds: the Kafka offset ranges and the row counts."""
        ranges = ",".join(f"{t}:{p}:{a}-{b}" for (t, p), (a, b) in sorted(self.ranges.items()))
        return f"{self.table.name}|{ranges}|rows={self.rows}|skipped={self.skipped_rows}"

    def token(self) -> str:
        """The ``insert_deduplication_token``: a function of the offset ranges and row counts only.

        The same records always give the same rows, so the same token means the same data. The
        count of rows skipped (already stored) is part of it: a batch re-read after a crash that
        leaves out rows already stored is different data and must not be dropped as a repeat.
        """
        digest = hashlib.sha256(self.description().encode()).hexdigest()[:32]
        return f"dsom-{self.table.name}-{digest}"

    def commit_positions(self) -> dict[TP, int]:
        """The consumer positions to commit once the rows are stored: last offset + 1."""
        return {tp: last + 1 for tp, (_, last) in self.ranges.items()}

    def age(self, now: float) -> float:
        return 0.0 if self.started is None else now - self.started

    def clear(self) -> None:
        self.columns.clear()
        self.raw.clear()
        self.raw_rows = 0
        self.ranges.clear()
        self.records = 0
        self.skipped_rows = 0
        self.started = None
        self.inserted = False
