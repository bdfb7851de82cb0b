"""The ClickHouse sink: archive, rejected receipts, tax-events and the registry into ClickHouse, once.

A confluent-kafka consumer (group ``<prefix>-sink-clickhouse``, read_committed) reads the
archive topic (into ``events``), every operator's receipts topic (``rejections``), the
tax-events topic (``tax_events``; by pattern, so it is picked up when the tax agent creates it
after the sink started) and the registry's topic (``registry_history``: each entity's timeline,
which the reports join as of each event's time). Records are read (receipts for their rejections
only, payouts as columns: ``records.py``; archive records are left to ClickHouse on chdb:
``avro.py``) and turned into column-oriented rows per table (``rows.py``); a batch is cut on
record boundaries when a table reaches ``batch_max_rows`` rows or the oldest record has waited
``batch_max_wait_s``.
Each table's batch is inserted, and only then are the offsets of its records committed
(synchronously). This is Quix Streams' BatchingSink shape: the flush is part of the
checkpoint, and offsets are never committed for rows that are not stored.

Exactly-once effects in ClickHouse, although consumption is at-least-once: every insert is
idempotent under its batch's token and retried until it lands (``writer.py``), and a partition
gained after a crash between insert and commit is resumed leaving out the rows already stored
(``resume.py``). The consumer loop, its group and subscriptions are the agents' own
(``pipeline/agents/loop.py``, declared in ``pipeline/agents/sink.py``).

Known limit: an insert must finish well within ``max.poll.interval.ms``; a ClickHouse server
that completes an insert minutes after the sink gave up its partitions could let the new owner
write the same records again. With embedded chdb (one sink process per folder) this cannot
happen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from pipeline import metrics
from pipeline.agents.alerts import ALERTS as ALERTS_TOPIC
from pipeline.agents.clients import Clients
from pipeline.agents.loop import ConsumerLoop
from pipeline.agents.sink import SINK
from pipeline.faults import SINK_AFTER_INSERT, crash_point
from pipeline.settings import Settings
from schemas import ALERT, ARCHIVE_BATCH, MalformedRecordError, UnknownSchemaError, default_codec
from sinks.clickhouse import avro, queries, records
from sinks.clickhouse.batch import TP, TableBatch
from sinks.clickhouse.client import connect, is_chdb
from sinks.clickhouse.resume import Resumer
from sinks.clickhouse.rows import (
    add_alert,
    add_archive_batch,
    add_payouts,
    add_registry_record,
    add_rejections,
    add_tax_event,
)
from sinks.clickhouse.tables import (
    ALERTS,
    EVENTS,
    REGISTRY_HISTORY,
    REJECTIONS,
    TABLES,
    TAX_EVENTS,
    Table,
    create_tables,
)
from sinks.clickhouse.writer import Abandoned, ClickHouseWriter

log = logging.getLogger(__name__)
CONSUME_MAX_RECORDS = 500
POLL_TIMEOUT_S = 0.1
ERROR_LOG_INTERVAL_S = 30.0


class ClickHouseSink(ConsumerLoop):
    """Copies the archive, receipts and tax-events topics into ClickHouse; ``run`` it, then ``close``.

    Built without I/O; :meth:`open` (called by ``run``, or first by the worker, which starts the
    dashboard on the tables it creates) connects to ClickHouse and creates the tables.
    """

    spec = SINK
    max_records = CONSUME_MAX_RECORDS

    def __init__(self, settings: Settings, client: Client | None = None,
                 clients: Clients | None = None) -> None:
        super().__init__(settings, clients)
        self._db = settings.clickhouse.database
        self._given_client = client
        self._client: Client | None = None
        self._operators_seen: set[str] = set()  # in registry records: their receipts topics awaited once
        self._stop = threading.Event()
        self._codec = default_codec()
        self._archive = settings.topics.archive
        self._batches = {t.name: TableBatch(t) for t in TABLES}
        # ClickHouse reads the container file from our disk: only when it runs in this process.
        self._raw_events = settings.clickhouse.raw_avro_events and is_chdb(settings.clickhouse)
        self._last_error_log: dict[int, float] = {}
        self.rows_skipped = 0  # already stored before a crash, so left out when read again
        self.records_read = 0
        self.records_undecodable = 0
        # Which table each topic's records go to, and how they are read into its rows.
        self._tables = {self._archive: EVENTS, settings.topics.tax_events: TAX_EVENTS,
                        ALERTS_TOPIC.full_name(settings.topics): ALERTS,
                        settings.topics.registry: REGISTRY_HISTORY}
        self._readers: dict[str, Callable[[TableBatch, Message, str, int, int, Collection[Any]], None]] = {
            EVENTS.name: self._add_archive, TAX_EVENTS.name: self._add_tax,
            REJECTIONS.name: self._add_rejections, ALERTS.name: self._add_alert,
            REGISTRY_HISTORY.name: self._add_registry}
        self._read_rejected, self._read_payouts = records.readers(settings.validation.engine)
        self._closed = False
        self._writer: ClickHouseWriter | None = None
        self._resumer: Resumer | None = None

    def open(self) -> None:
        """Connect to ClickHouse and create the tables (once)."""
        if self._closed:
            raise RuntimeError("the sink is closed")
        if self._client is not None:
            return
        client = self._given_client if self._given_client is not None else connect(self._s.clickhouse)
        try:
            create_tables(client, self._db)
            counts = queries.table_counts(client, self._db)
        except BaseException:
            if self._given_client is None:
                client.close()  # an open chdb engine would keep the folder locked
            raise
        for name, count in counts.items():
            metrics.CLICKHOUSE_ROWS.labels(name).set(count)
        self._client = client
        self._writer = ClickHouseWriter(client, self._db, self._archive, self._stop,
                                        self._s.validation.engine)
        self._resumer = Resumer(client, self._db, self._table_of,
                                10 * max(self._s.clickhouse.batch_max_rows, 10_000), self._stop)

    @property
    def client(self) -> Client:
        self.open()
        assert self._client is not None
        return self._client

    @property
    def writer(self) -> ClickHouseWriter:
        self.open()
        assert self._writer is not None
        return self._writer

    @property
    def resumer(self) -> Resumer:
        self.open()
        assert self._resumer is not None
        return self._resumer

    @property
    def rows_inserted(self) -> dict[str, int]:
        return self.writer.rows_inserted

    @property
    def inserts(self) -> int:
        return self.writer.inserts

    # -- the loop --

    def run(self, stop: threading.Event) -> None:
        """Consume and insert until ``stop`` is set; then flush and commit what is pending."""
        self._stop = self.writer.stop = self.resumer.stop = stop
        log.info("ClickHouse sink consuming %s into database %s",
                 ", ".join(self.spec.subscriptions(self._s.topics)), self._db)
        try:
            super().run(stop)
        except Abandoned:
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

    def finish(self) -> None:
        self._flush(self.consumer())

    def stopped(self) -> None:
        self._drop_batches()  # before the consumer's close revokes its partitions

    def prepare(self) -> None:
        self.open()

    def close(self) -> None:
        """Close the consumer and the ClickHouse client (when the sink opened it); idempotent."""
        self._closed = True
        self._drop_batches()
        self.close_consumer()
        if self._client is not None and self._given_client is None:
            self._client.close()

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
        skip = self.resumer.stored_keys((topic, partition), offset)
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
        # An older ArchiveBatch version (archived before its link rule changed) is resolved in Python.
        if self._raw_events and not skip and not batch.columns.rows and avro.is_current_archive(value):
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

    def _add_alert(self, batch: TableBatch, msg: Message, topic: str, partition: int, offset: int,
                   skip: Collection[Any]) -> None:
        _, record = self._codec.decode(msg.value() or b"", expect=ALERT)
        add_alert(batch.columns, record, topic, partition, offset, skip)

    def _add_registry(self, batch: TableBatch, msg: Message, topic: str, partition: int, offset: int,
                      skip: Collection[Any]) -> None:
        add_registry_record(batch.columns, msg.key(), msg.value(), topic, partition, offset, skip)
        kind, _, entity_id = (msg.key() or b"").decode(errors="replace").partition("/")
        if kind == "operator" and entity_id and entity_id not in self._operators_seen:
            self._operators_seen.add(entity_id)
            self.expect_topics([self._s.topics.receipts(entity_id)])  # if new, read at once

    def _decode_raw(self, batch: TableBatch) -> None:
        """Turn a batch's undecoded records into columns (they were checked when added)."""
        raw, batch.raw, batch.raw_rows = batch.raw, [], 0
        for partition, offset, value, _ in raw:
            _, record = self._codec.decode(value, expect=ARCHIVE_BATCH)
            add_archive_batch(batch.columns, record, self._archive, partition, offset)

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
        inserted = False
        for batch in pending:
            if batch.rows and not batch.inserted:
                self.writer.write(batch)
                inserted = True
            batch.inserted = True
        if inserted:
            crash_point(self._s.crash_points_dir, SINK_AFTER_INSERT)
        positions: dict[TP, int] = {}
        for batch in pending:
            positions.update(batch.commit_positions())
        self._commit(consumer, positions)
        for batch in pending:
            batch.clear()

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
            consumer.incremental_assign(partitions)
            return
        started = time.perf_counter()
        positions = self.resumer.positions(consumer, [(tp.topic, tp.partition) for tp in partitions])
        for tp in partitions:
            tp.offset = positions[(tp.topic, tp.partition)]
        consumer.incremental_assign(partitions)  # added to the partitions kept (cooperative rebalancing)
        log.info("assigned %d partitions in %.2f s (%d re-read with rows already stored)", len(partitions),
                 time.perf_counter() - started, sum(1 for tp in partitions if (tp.topic, tp.partition)
                                                    in self.resumer.pending))

    def revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        if any(b.covers(revoked) for b in self._batches.values()):
            try:
                self._flush(consumer)  # store and commit before another member takes them over
            except Abandoned:
                self._drop_batches()
        self.resumer.drop(revoked)

    def lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Someone else may own them already: committing is impossible and inserting unsafe.
        lost = {(tp.topic, tp.partition) for tp in partitions}
        kept = {tp for b in self._batches.values() for tp in b.ranges} - lost
        log.warning("lost %d partitions; dropping the pending batch (it is read again by the owner)",
                    len(lost))
        self._drop_batches()
        self.resumer.drop(lost)
        if kept:  # still ours, but consumed past rows that were just dropped: read them again
            positions = self.resumer.positions(consumer, sorted(kept))
            for (topic, partition), offset in positions.items():
                consumer.seek(TopicPartition(topic, partition, offset))

    def _table_of(self, topic: str) -> Table:
        return self._tables.get(topic, REJECTIONS)  # the receipts topics: one per operator
