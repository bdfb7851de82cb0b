"""The ClickHouse sink: archive, rejected receipts and tax-events into ClickHouse, once.

A confluent-kafka consumer (group ``<prefix>-sink-clickhouse``, read_committed) reads the
archive topic (into ``events``), every operator's receipts topic (``rejections``) and the
tax-events topic (``tax_events``; by pattern, so it is picked up when the tax agent creates it
after the sink started). Records are read (receipts for their rejections only, payouts as
columns: ``records.py``; archive records are left to ClickHouse on chdb: ``avro.py``) and turned
into column-oriented rows per table (``rows.py``); a batch is cut on record boundaries when a
table reaches ``batch_max_rows`` rows or the oldest record has waited ``batch_max_wait_s``.
Each table's batch is inserted, and only then are the offsets of its records committed
(synchronously). This is Quix Streams'
BatchingSink shape: the flush is part of the checkpoint, and offsets are never committed for
rows that are not stored.

Exactly-once effects in ClickHouse, although consumption is at-least-once:

1. Every insert carries ``insert_deduplication_token``, a function of the offset ranges (and
   row counts) of the batch. A failed insert is retried with the very same rows and token, so
   an attempt that did land after all is dropped by ClickHouse as a repeat. While it fails
   the sink consumes nothing more.
2. On partition assignment the sink asks ClickHouse for the highest source offset stored per
   partition. Rows stored from records after the committed offset (a crash between insert and
   commit) are read back by key and left out when those records are read again, row by row:
   an insert that spans two monthly partitions writes two parts and a crash can land one of
   them, so "resume after the highest stored offset" alone could lose rows.

Known limit: an insert must finish well within ``max.poll.interval.ms``; a ClickHouse server
that completes an insert minutes after the sink gave up its partitions could let the new owner
write the same records again. With embedded chdb (one sink process per folder) this cannot
happen.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from pipeline import metrics
from pipeline.agents.clients import Clients
from pipeline.agents.loop import ConsumerLoop
from pipeline.agents.sink import SINK
from pipeline.registry import Registry
from pipeline.settings import Settings
from schemas import ARCHIVE_BATCH, MalformedRecordError, UnknownSchemaError, default_codec
from sinks.clickhouse import avro, queries, records
from sinks.clickhouse.batch import TP, TableBatch
from sinks.clickhouse.client import connect, is_chdb
from sinks.clickhouse.registry_tables import sync_registry
from sinks.clickhouse.rollups import TOKEN_COLUMN, roll_up
from sinks.clickhouse.rows import add_archive_batch, add_payouts, add_rejections, add_tax_event
from sinks.clickhouse.tables import EVENTS, LC, REJECTIONS, TABLES, TAX_EVENTS, Table, create_tables

log = logging.getLogger(__name__)
T = TypeVar("T")

CONSUME_MAX_RECORDS = 500
POLL_TIMEOUT_S = 0.1
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
ATTEMPTS_AFTER_STOP = 3  # insert attempts still made once stop is set, before leaving the batch
ERROR_LOG_INTERVAL_S = 30.0
REGISTRY_CHECK_S = 5.0
_EMPTY: frozenset[Any] = frozenset()


class _Abandoned(Exception):
    """Stop was requested while ClickHouse kept failing: the batch is left uncommitted."""


@dataclass
class _Resume:
    """Rows already stored from records at or after a partition's committed offset."""

    last_offset: int
    keys: dict[int, set[Any]] = field(default_factory=dict)  # offset -> keys of stored rows


class ClickHouseSink(ConsumerLoop):
    """Copies the archive, receipts and tax-events topics into ClickHouse; ``run`` it, then ``close``.

    Unlike the other agents it opens its ClickHouse client and creates the tables when built:
    the worker starts the dashboard, which reads those tables, right after building it.
    """

    spec = SINK
    max_records = CONSUME_MAX_RECORDS

    def __init__(self, settings: Settings, client: Client | None = None,
                 clients: Clients | None = None) -> None:
        super().__init__(settings, clients)
        self._db = settings.clickhouse.database
        self._client = client if client is not None else connect(settings.clickhouse)
        self._owns_client = client is None
        try:
            create_tables(self._client, self._db)
            counts = queries.table_counts(self._client, self._db)
        except BaseException:
            if self._owns_client:
                self._client.close()  # an open chdb engine would keep the folder locked
            raise
        for name, count in counts.items():
            metrics.CLICKHOUSE_ROWS.labels(name).set(count)
        self._registry_mtime: float | None = None
        self._registry_checked = 0.0
        self._sync_registry()
        self._codec = default_codec()
        self._archive = settings.topics.archive
        self._tax_events = settings.topics.tax_events
        self._batches = {t.name: TableBatch(t) for t in TABLES}
        # ClickHouse reads the container file from our disk: only when it runs in this process.
        self._raw_events = settings.clickhouse.raw_avro_events and is_chdb(settings.clickhouse)
        self._resume: dict[TP, _Resume] = {}
        # Stored rows of uncommitted records are read back only up to this many per partition;
        # beyond it (committed offsets lost) the sink resumes after the highest stored offset.
        self._resume_limit = 10 * max(settings.clickhouse.batch_max_rows, 10_000)
        self._stop = threading.Event()
        self._last_error_log: dict[int, float] = {}
        self.rows_inserted: dict[str, int] = {t.name: 0 for t in TABLES}
        self.rows_skipped = 0  # already stored before a crash, so left out when read again
        self.records_read = 0
        self.records_undecodable = 0
        self.inserts = 0
        # Which table each topic's records go to, and how they are read into its rows.
        self._tables = {self._archive: EVENTS, self._tax_events: TAX_EVENTS}
        self._readers: dict[str, Callable[[TableBatch, Message, str, int, int, Collection[Any]], None]] = {
            EVENTS.name: self._add_archive, TAX_EVENTS.name: self._add_tax,
            REJECTIONS.name: self._add_rejections}
        self._closed = False
        self._read_rejected, self._read_payouts = records.readers(settings.validation.engine)

    @property
    def client(self) -> Client:
        return self._client

    # -- the loop --

    def run(self, stop: threading.Event) -> None:
        """Consume and insert until ``stop`` is set; then flush and commit what is pending."""
        if self._closed:
            raise RuntimeError("the sink is closed")
        self._stop = stop
        log.info("ClickHouse sink consuming %s into database %s",
                 ", ".join(self.spec.subscriptions(self._s.topics)), self._db)
        try:
            super().run(stop)
        except _Abandoned:
            log.error("stopped while ClickHouse was failing: the pending batch was not stored and its "
                      "offsets not committed; it is read again on the next start")

    def process(self, msgs: list[Message], stop: threading.Event) -> None:
        consumer = self.consumer()
        for msg in msgs:
            self._add(msg)
            if self._full():
                self._flush(consumer)
        if self._due():
            self._flush(consumer)
        self._sync_registry()

    def finish(self) -> None:
        self._flush(self.consumer())

    def stopped(self) -> None:
        self._drop_batches()  # before the consumer's close revokes its partitions

    def close(self) -> None:
        """Close the consumer and the ClickHouse client (when the sink opened it); idempotent."""
        self._closed = True
        self._drop_batches()
        self.close_consumer()
        if self._owns_client:
            self._client.close()

    def _sync_registry(self) -> None:
        """Copy the registry file into ClickHouse when it changed (regulatory reports join it)."""
        now = time.monotonic()
        if now - self._registry_checked < REGISTRY_CHECK_S:
            return
        self._registry_checked = now
        path = self._s.registry_path
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return  # no registry yet: the reports show every operator and asset as unregistered
        if mtime == self._registry_mtime:
            return
        try:
            changed = sync_registry(self._client, self._db, Registry.load(path))
        except Exception:  # a half-written or invalid file: keep the last copy, try again later
            log.exception("could not copy the registry %s into ClickHouse; keeping the last copy", path)
            return
        self._registry_mtime = mtime
        if changed:
            log.info("registry %s copied into ClickHouse", path)

    def poll_timeout(self) -> float:
        now = time.monotonic()
        ages = [b.age(now) for b in self._batches.values() if b.records]
        if not ages:
            return POLL_TIMEOUT_S
        return max(0.0, min(POLL_TIMEOUT_S, self._s.clickhouse.batch_max_wait_s - max(ages)))

    def _full(self) -> bool:
        return any(b.rows >= self._s.clickhouse.batch_max_rows for b in self._batches.values())

    def _due(self) -> bool:
        now = time.monotonic()
        wait = self._s.clickhouse.batch_max_wait_s
        return any(b.records and b.age(now) >= wait for b in self._batches.values())

    # -- records to rows --

    def _add(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            self._consumer_error(err)
            return
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        assert topic is not None and partition is not None and offset is not None
        table = self._table_of(topic)
        batch = self._batches[table.name]
        skip = self._stored_keys((topic, partition), offset)
        try:
            self._readers[table.name](batch, msg, topic, partition, offset, skip)
        except (UnknownSchemaError, MalformedRecordError) as exc:
            # The pipeline wrote these records itself, so this is a bug or a foreign producer:
            # skipping it (its offset is committed with the batch) keeps the sink going.
            self.records_undecodable += 1
            log.error("undecodable record %s[%d]@%d skipped: %s", topic, partition, offset, exc)
        self.rows_skipped += len(skip)
        batch.add_record(topic, partition, offset, time.monotonic(), skipped_rows=len(skip))
        self.records_read += 1

    def _add_archive(self, batch: TableBatch, msg: Message, topic: str, partition: int, offset: int,
                     skip: Collection[Any]) -> None:
        value = msg.value() or b""
        if self._raw_events and not skip and not batch.columns.rows:
            batch.add_raw(partition, offset, value, avro.archive_event_count(value))
            return
        if batch.raw:  # rows to leave out: this batch goes the Python way, whole
            self._decode_raw(batch)
        _, record = self._codec.decode(value, expect=ARCHIVE_BATCH)
        add_archive_batch(batch.columns, record, topic, partition, offset, skip)

    def _add_rejections(self, batch: TableBatch, msg: Message, topic: str, partition: int, offset: int,
                        skip: Collection[Any]) -> None:
        add_rejections(batch.columns, self._read_rejected(msg.value() or b""), topic, partition, offset,
                       skip)

    def _add_tax(self, batch: TableBatch, msg: Message, topic: str, partition: int, offset: int,
                 skip: Collection[Any]) -> None:
        # Payouts (one per WIN, most of the topic) column by column; the rare rest, and records
        # with rows already stored, decoded.
        cols, value = batch.columns, msg.value() or b""
        if not skip and records.is_payout_batch(value):
            add_payouts(cols, self._read_payouts(value), topic, partition, offset)
            return
        schema, record = self._codec.decode(value)
        add_tax_event(cols, schema, record, topic, partition, offset, skip)

    def _decode_raw(self, batch: TableBatch) -> None:
        """Turn a batch's undecoded records into columns (they were checked when added)."""
        raw, batch.raw, batch.raw_rows = batch.raw, [], 0
        for partition, offset, value, _ in raw:
            _, record = self._codec.decode(value, expect=ARCHIVE_BATCH)
            add_archive_batch(batch.columns, record, self._archive, partition, offset)

    def _stored_keys(self, tp: TP, offset: int) -> frozenset[Any] | set[Any]:
        resume = self._resume.get(tp)
        if resume is None:
            return _EMPTY
        if offset > resume.last_offset:
            del self._resume[tp]
            return _EMPTY
        return resume.keys.get(offset, _EMPTY)

    def _consumer_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            return
        if err.fatal():
            raise KafkaException(err)
        # Mostly transient (broker restart) or a subscribed topic that does not exist yet
        # (UNKNOWN_TOPIC_OR_PART): logged, at most every ERROR_LOG_INTERVAL_S per code.
        now = time.monotonic()
        if now - self._last_error_log.get(err.code(), -ERROR_LOG_INTERVAL_S) >= ERROR_LOG_INTERVAL_S:
            self._last_error_log[err.code()] = now
            log.warning("consumer: %s", err)

    # -- insert, then commit --

    def _flush(self, consumer: Consumer) -> None:
        pending = [b for b in self._batches.values() if b.records]
        if not pending:
            return
        for batch in pending:
            if batch.rows and not batch.inserted:
                self._insert(batch)
            batch.inserted = True
        positions: dict[TP, int] = {}
        for batch in pending:
            positions.update(batch.commit_positions())
        self._commit(consumer, positions)
        for batch in pending:
            batch.clear()

    def _insert(self, batch: TableBatch) -> None:
        """Store the batch, then roll it up; retried as a whole until both are done.

        A retry repeats the insert and the roll-up under the same tokens, so whatever landed
        before is dropped by ClickHouse as a repeat and only what is missing is added.
        """
        table = batch.table
        token = batch.token()
        settings = {"insert_deduplication_token": token, "insert_deduplicate": 1, "async_insert": 0}
        data = batch.columns.as_lists()
        names, types = table.column_names, table.column_types
        if table.tokened:  # the column path; the raw-Avro insert writes the token in its SELECT
            data = [*data, [token] * batch.columns.rows]
            names, types = (*names, TOKEN_COLUMN), (*types, LC)
        min_offset = min((first for first, _ in batch.ranges.values()), default=0)
        framed = [avro.frame(p, o, v) for p, o, v, _ in batch.raw]
        attempt = 0
        delay = RETRY_FIRST_S
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                if framed:
                    self._insert_avro(table, framed, settings, token)
                else:
                    self._client.insert(table.name, data, column_names=names, database=self._db,
                                        column_type_names=types, column_oriented=True, settings=settings)
                if table.tokened:
                    roll_up(self._client, self._db, table.name, token, min_offset)
            except Exception as exc:  # any failure: retry the very same rows with the same token
                metrics.SINK_ERRORS.labels(table.name).inc()
                if self._stop.is_set() and attempt >= ATTEMPTS_AFTER_STOP:
                    raise _Abandoned from exc
                log.warning("insert of %d rows into %s failed (attempt %d), retrying the same rows in "
                            "%.1f s: %s", batch.rows, table.name, attempt, delay, exc)
                if self._stop.is_set():
                    time.sleep(min(delay, 1.0))
                else:
                    self._stop.wait(delay)
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

    def _insert_avro(self, table: Table, framed: list[bytes], settings: dict[str, Any], token: str) -> None:
        fd, path = tempfile.mkstemp(prefix="dsom-sink-", suffix=".avro")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(avro.container(framed))
            self._client.command(avro.insert_events_sql(self._db, table.name, table.column_names, path,
                                                        self._archive, token), settings=settings)
        finally:
            os.unlink(path)

    def _commit(self, consumer: Consumer, positions: dict[TP, int]) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(positions.items())]
        for attempt in range(1, 4):
            try:
                result = consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                err = exc.args[0]
                if err.retriable() and attempt < 3:
                    time.sleep(0.2 * attempt)
                    continue
                # The rows are stored: whoever owns these partitions next resumes after them.
                log.warning("offset commit failed (%s); the rows are stored and are not inserted again", err)
                return
            failed = [tp for tp in result or [] if tp.error is not None]
            if failed:
                log.warning("offset commit failed for %s; the rows are stored and are not inserted again",
                            ", ".join(f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed))
            return

    def _drop_batches(self) -> None:
        for batch in self._batches.values():
            batch.clear()

    # -- partition ownership --

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not partitions:
            consumer.assign(partitions)
            return
        started = time.perf_counter()
        positions = self._resume_positions(consumer, [(tp.topic, tp.partition) for tp in partitions])
        for tp in partitions:
            tp.offset = positions[(tp.topic, tp.partition)]
        consumer.assign(partitions)
        log.info("assigned %d partitions in %.2f s (%d re-read with rows already stored)", len(partitions),
                 time.perf_counter() - started, sum(1 for tp in partitions if (tp.topic, tp.partition)
                                                    in self._resume))

    def revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        if any(b.covers(revoked) for b in self._batches.values()):
            try:
                self._flush(consumer)  # store and commit before another member takes them over
            except _Abandoned:
                self._drop_batches()
        for tp in revoked:
            self._resume.pop(tp, None)

    def lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Someone else may own them already: committing is impossible and inserting unsafe.
        lost = {(tp.topic, tp.partition) for tp in partitions}
        kept = {tp for b in self._batches.values() for tp in b.ranges} - lost
        log.warning("lost %d partitions; dropping the pending batch (it is read again by the owner)",
                    len(lost))
        self._drop_batches()
        for tp in lost:
            self._resume.pop(tp, None)
        if kept:  # still ours, but consumed past rows that were just dropped: read them again
            positions = self._resume_positions(consumer, sorted(kept))
            for (topic, partition), offset in positions.items():
                consumer.seek(TopicPartition(topic, partition, offset))

    def _resume_positions(self, consumer: Consumer, tps: list[TP]) -> dict[TP, int]:
        """Where to start reading each partition, and the stored rows to leave out on the way.

        From the committed offset, unless ClickHouse holds rows of records at or after it (a
        crash between insert and commit): then those rows' keys are loaded into ``_resume``.
        """
        committed = {(tp.topic, tp.partition): tp.offset for tp in
                     consumer.committed([TopicPartition(t, p) for t, p in tps], timeout=30)}
        stored: dict[TP, int] = {}
        for table in TABLES:
            if any(self._table_of(t) is table for t, _ in tps):
                stored.update(self._retry(partial(queries.max_src_offsets, self._client, self._db, table)))
        positions: dict[TP, int] = {}
        for tp in tps:
            self._resume.pop(tp, None)
            done = committed.get(tp, -1)
            positions[tp] = done if done >= 0 else OFFSET_BEGINNING
            last = stored.get(tp)
            if last is None or (done >= 0 and last < done):
                continue  # nothing stored beyond what is committed
            first = max(done, 0)
            self._roll_up_stored(tp, first, last)
            keys = self._retry(partial(queries.stored_keys, self._client, self._db, self._table_of(tp[0]),
                                       tp, first, last, self._resume_limit))
            if keys is None:
                log.warning("%s[%d]: over %d rows stored after the committed offset %s; resuming after "
                            "the highest stored offset %d", tp[0], tp[1], self._resume_limit,
                            done if done >= 0 else "(none)", last)
                positions[tp] = last + 1
            else:
                self._resume[tp] = _Resume(last, keys)
                log.info("%s[%d]: rows of offsets %d..%d are already stored (committed %s); reading "
                         "them again and leaving those rows out", tp[0], tp[1], first, last,
                         done if done >= 0 else "(none)")
        return positions

    def _roll_up_stored(self, tp: TP, first: int, last: int) -> None:
        """Finish the roll-up of every batch stored in ``tp`` after its committed offset.

        The process may have died between storing a batch and rolling it up (or midway through
        the rollups): rolling up again under the batch's tokens adds exactly what is missing.
        """
        table = self._table_of(tp[0])
        if not table.tokened:
            return
        tokens = self._retry(partial(queries.batch_tokens, self._client, self._db, table, tp, first, last))
        for token in tokens:
            self._retry(partial(roll_up, self._client, self._db, table.name, token))
        if tokens:
            log.info("%s[%d]: rolled up again %d stored batch(es) after the committed offset",
                     tp[0], tp[1], len(tokens))

    def _table_of(self, topic: str) -> Table:
        return self._tables.get(topic, REJECTIONS)  # the receipts topics: one per operator

    def _retry(self, query: Callable[[], T]) -> T:
        """Run a ClickHouse read, retrying with backoff until it works or stop is set."""
        delay = RETRY_FIRST_S
        while True:
            try:
                return query()
            except Exception as exc:
                if self._stop.is_set():
                    raise
                log.warning("ClickHouse query failed, retrying in %.1f s: %s", delay, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
