"""Storing one table's batch in ClickHouse, retried until it lands: ``ClickHouseWriter.write(batch)``.

Every insert carries ``insert_deduplication_token``, a function of the batch's offset ranges
(and row counts). A failed insert is retried with the very same rows and token, so an attempt
that did land after all is dropped by ClickHouse as a repeat; the roll-ups of a tokened table
are redone under the same token too (``rollups.py``; for raw archive records, pre-aggregated
rows folded in the stream: ``stream_rollups.py``). While it fails the sink consumes nothing
more. Once stop is set, a few attempts more are made before the batch is left uncommitted.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from pipeline import metrics
from pipeline.core.engine import Engine
from sinks.clickhouse import avro
from sinks.clickhouse.batch import TableBatch
from sinks.clickhouse.rollups import DISTRIBUTED_SYNC, ONE_BLOCK, TOKEN_COLUMN, roll_up
from sinks.clickhouse.stream_rollups import DERIVED, INPUTS, folder
from sinks.clickhouse.tables import LC, TABLES, Table

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
ATTEMPTS_AFTER_STOP = 3  # insert attempts still made once stop is set, before leaving the batch


class Abandoned(Exception):
    """Stop was requested while ClickHouse kept failing: the batch is left uncommitted."""


class ClickHouseWriter:
    """Inserts batches into ``db`` and rolls them up; counts what it stored."""

    def __init__(self, client: Client, db: str, archive_topic: str, stop: threading.Event,
                 engine: Engine = "native") -> None:
        self._client = client
        self._db = db
        self._archive = archive_topic
        self.stop = stop
        self._fold = folder(engine)
        self.rows_inserted: dict[str, int] = {t.name: 0 for t in TABLES}
        self.inserts = 0

    def write(self, batch: TableBatch) -> None:
        """Store the batch, then roll it up; retried as a whole until both are done.

        A retry repeats the insert and the roll-up under the same tokens, so whatever landed
        before is dropped by ClickHouse as a repeat and only what is missing is added.
        """
        table = batch.table
        token = batch.token()
        settings = {"insert_deduplication_token": token, "insert_deduplicate": 1, "async_insert": 0,
                    **DISTRIBUTED_SYNC}
        data = batch.columns.as_lists()
        names, types = table.column_names, table.column_types
        if table.tokened:  # the column path; the raw-Avro insert writes the token in its SELECT
            data = [*data, [token] * batch.columns.rows]
            names, types = (*names, TOKEN_COLUMN), (*types, LC)
        min_offset = min((first for first, _ in batch.ranges.values()), default=0)
        raw = [(p, o, v) for p, o, v, _ in batch.raw]
        # Raw archive records are folded into their roll-up rows once (stream_rollups.py); rows
        # built in Python (a server, a resumed batch) are rolled up from events by roll_up.
        rolled: dict[str, bytes] | None = None
        attempt = 0
        delay = RETRY_FIRST_S
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                if raw:
                    if rolled is None:  # a record ClickHouse cannot read fails here as in the insert
                        rolled = self._fold([v for _, _, v, _ in batch.raw])
                    self._insert_avro(table, raw, settings, token)
                    self._insert_rolled(rolled, token)
                else:
                    self._client.insert(table.name, data, column_names=names, database=self._db,
                                        column_type_names=types, column_oriented=True, settings=settings)
                    if table.tokened:
                        roll_up(self._client, self._db, table.name, token, min_offset)
            except Exception as exc:  # any failure: retry the very same rows with the same token
                metrics.SINK_ERRORS.labels(table.name).inc()
                if self.stop.is_set() and attempt >= ATTEMPTS_AFTER_STOP:
                    raise Abandoned from exc
                log.warning("insert of %d rows into %s failed (attempt %d), retrying the same rows in "
                            "%.1f s: %s", batch.rows, table.name, attempt, delay, exc)
                if self.stop.is_set():
                    time.sleep(min(delay, 1.0))
                else:
                    self.stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            elapsed = time.perf_counter() - started
            metrics.SINK_INSERT_SECONDS.labels(table.name).observe(elapsed)
            metrics.SINK_ROWS.labels(table.name).inc(batch.rows)
            metrics.CLICKHOUSE_ROWS.labels(table.name).inc(batch.rows)
            self.rows_inserted[table.name] += batch.rows
            self.inserts += 1
            log.debug("inserted %d rows into %s in %.3f s (%s)", batch.rows, table.name, elapsed,
                      batch.description())
            return

    def _insert_rolled(self, rolled: dict[str, bytes], token: str) -> None:
        """Each rollup's folded rows, under the token ``roll_up`` gives it: one repeat drops the other."""
        for name, rows in rolled.items():
            if not rows:
                continue  # roll_up would insert nothing either
            fd, path = tempfile.mkstemp(prefix=f"dsom-sink-{name}-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(rows)
                inserts = [(name, INPUTS[name].insert_sql(self._db, path))] + [
                    (d.rollup.name, d.insert_sql(self._db, path)) for d in DERIVED.values()
                    if d.parent.rollup.name == name]  # the days rolled up from the same rows
                for rollup, sql in inserts:
                    self._client.command(sql, settings={
                        "insert_deduplication_token": f"{token}-{rollup}", "insert_deduplicate": 1,
                        "async_insert": 0, **DISTRIBUTED_SYNC, **ONE_BLOCK})
            finally:
                os.unlink(path)

    def _insert_avro(self, table: Table, raw: Sequence[tuple[int, int, bytes]], settings: dict[str, Any],
                     token: str) -> None:
        """``raw``: (partition, offset, ArchiveBatch record) of each archive record, in order."""
        fd, path = tempfile.mkstemp(prefix="dsom-sink-", suffix=".avro")
        try:
            with os.fdopen(fd, "wb") as f:
                avro.write_container(f, raw)
            self._client.command(avro.insert_events_sql(self._db, table.name, table.column_names, path,
                                                        self._archive, token), settings=settings)
        finally:
            os.unlink(path)
