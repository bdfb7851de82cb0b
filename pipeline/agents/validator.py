"""The validator agent: ingest records in; receipts, archive and state out, in one Kafka transaction.

Per poll it processes up to ``batch_max_records`` ingest records with the pure
:class:`~pipeline.core.processor.RecordProcessor`, produces every output and the consumed
offsets in one transaction, and commits it. A crash before the commit aborts the outputs and
the records are processed again from the last commit with the state restored from the
changelog, so every event is decided, receipted and archived exactly once.

Why not faust's own agents: faust-streaming's exactly-once mode is unreliable (open issues
#517, #177, #323, #440 on faust-streaming/faust), and a faust consumer cannot commit its
offsets inside a confluent-kafka transaction. See docs/decisions.md.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from pipeline import metrics
from pipeline.core.processor import Outcome, RecordProcessor
from pipeline.core.state import PartitionState, state_partition
from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
from pipeline.kafka.changelog import replay
from pipeline.kafka.config import consumer_config, producer_config
from pipeline.registry import Registry
from pipeline.settings import Settings
from schemas import ARCHIVE_BATCH, RECEIPT_BATCH, default_codec

log = logging.getLogger(__name__)
TP = tuple[str, int]


def now_us() -> int:
    return time.time_ns() // 1000


class ValidatorAgent:
    """Consumes every operator's ingest topic in the ``<prefix>-validator`` consumer group."""

    def __init__(self, settings: Settings, clock: Callable[[], int] = now_us) -> None:
        self._s = settings
        self._clock = clock
        self._codec = default_codec()
        self._registry_mtime = 0.0
        self._processor = self._load_processor()
        self._states: dict[TP, PartitionState] = {}
        self._receipt_topics_ready: set[str] = set()
        self._producer = Producer(producer_config(settings.kafka, **{
            "transactional.id": f"{settings.topics.prefix}-validator-{settings.worker_id}",
            "transaction.timeout.ms": 30000,
            "linger.ms": 5,
        }))
        self._consumer = Consumer(consumer_config(settings.kafka, f"{settings.topics.prefix}-validator", **{
            "group.instance.id": f"{settings.topics.prefix}-validator-{settings.worker_id}",
            "max.poll.interval.ms": 300000,
        }))

    def run(self, stop: threading.Event) -> None:
        ensure_topics(self._s, system_topics(self._s))
        # Fences a dead predecessor with our transactional ID and aborts its open transaction,
        # which would otherwise hold read_committed readers of our outputs for its timeout.
        self._producer.init_transactions(60)
        self._consumer.subscribe([self._s.topics.ingest_pattern], on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_revoke)
        last_registry_check = time.monotonic()
        try:
            while not stop.is_set():
                msgs = self._consumer.consume(self._s.batch_max_records, timeout=0.1)
                if msgs:
                    self._transact(msgs)
                if time.monotonic() - last_registry_check > 5:
                    last_registry_check = time.monotonic()
                    self._maybe_reload_registry()
        finally:
            self._consumer.close()
            self._producer.flush(10)

    # -- one transaction per poll --

    def _transact(self, msgs: list[Message]) -> None:
        started = time.perf_counter()
        outcomes: list[Outcome] = []
        positions: dict[TP, int] = {}
        self._producer.begin_transaction()
        try:
            now = self._clock()
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(err)
                topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
                assert topic is not None and partition is not None and offset is not None
                state = self._states[(topic, partition)]
                out = self._processor.process(state, offset, msg.key(), msg.value() or b"", now)
                self._emit(state, out)
                outcomes.append(out)
                positions[(topic, partition)] = offset + 1
            self._producer.send_offsets_to_transaction(
                [TopicPartition(t, p, o) for (t, p), o in positions.items()],
                self._consumer.consumer_group_metadata(), 30)
            self._commit()
        except KafkaException as exc:
            log.warning("transaction failed (%s): rewinding to the last commit", exc)
            self._abort_and_rewind(exc)
            return
        for out in outcomes:
            _count(out)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    def _emit(self, state: PartitionState, out: Outcome) -> None:
        t = self._s.topics
        if out.receipts is not None:
            self._produce(t.receipts(out.operator_id), None, (out.receipts["source_id"] or "").encode(),
                          self._codec.encode(RECEIPT_BATCH, out.receipts))
        if out.archive is not None:
            chain_id = state.chain_id.encode()
            self._produce(t.archive, zlib.crc32(chain_id) % t.archive_partitions, chain_id,
                          self._codec.encode(ARCHIVE_BATCH, out.archive))
        if out.changelog:
            sp = state_partition(state.topic, state.partition, t.state_partitions)
            for key, value in out.changelog:
                self._produce(t.validator_state, sp, key, value)

    def _produce(self, topic: str, partition: int | None, key: bytes, value: bytes | None) -> None:
        kwargs: dict[str, Any] = {"key": key, "value": value}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                return
            except BufferError:
                self._producer.poll(0.05)

    def _commit(self) -> None:
        while True:
            try:
                self._producer.commit_transaction(60)
                return
            except KafkaException as exc:
                if exc.args[0].retriable():
                    continue
                raise

    def _abort_and_rewind(self, exc: KafkaException) -> None:
        err = exc.args[0]
        if err.fatal():
            raise RuntimeError(f"fatal Kafka transaction error, worker must restart: {err}") from exc
        self._producer.abort_transaction(60)
        assigned = list(self._states)
        self._states.clear()
        committed = self._consumer.committed([TopicPartition(t, p) for t, p in assigned], timeout=30)
        self._restore(assigned)
        for tp in committed:
            self._consumer.seek(TopicPartition(tp.topic, tp.partition,
                                               tp.offset if tp.offset >= 0 else 0))

    # -- partition ownership --

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        self._ensure_receipt_topics({t for t, _ in tps})
        started = time.perf_counter()
        self._restore(tps)
        log.info("assigned %d partitions, state restored in %.2f s", len(tps),
                 time.perf_counter() - started)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._states.pop((tp.topic, tp.partition), None)

    def _restore(self, tps: list[TP]) -> None:
        t = self._s.topics
        by_state_partition: dict[int, list[PartitionState]] = defaultdict(list)
        for topic, partition in tps:
            state = PartitionState(topic, partition)
            self._states[(topic, partition)] = state
            by_state_partition[state_partition(topic, partition, t.state_partitions)].append(state)
        for sp, states in by_state_partition.items():
            replay(self._s.kafka, t.validator_state, sp, partial(_apply_entry, {s.prefix: s for s in states}))

    def _ensure_receipt_topics(self, ingest_topics: set[str]) -> None:
        operators = {self._s.topics.operator_of(t) for t in ingest_topics} - self._receipt_topics_ready
        if operators:
            ensure_topics(self._s, operator_topics(self._s, sorted(operators)))
            self._receipt_topics_ready |= operators

    # -- registry --

    def _load_processor(self) -> RecordProcessor:
        path = self._s.registry_path
        self._registry_mtime = path.stat().st_mtime if path.exists() else 0.0
        return RecordProcessor(Registry.load(path), self._s.validation, self._s.topics, self._codec)

    def _maybe_reload_registry(self) -> None:
        path = self._s.registry_path
        if path.exists() and path.stat().st_mtime != self._registry_mtime:
            self._processor = self._load_processor()
            log.info("operator registry reloaded from %s", path)


def _apply_entry(owners: dict[bytes, PartitionState], key: bytes, value: bytes | None) -> None:
    """Route a changelog entry to the partition state it belongs to (keys start ``topic|partition|``)."""
    prefix = key[: key.index(b"|", key.index(b"|") + 1) + 1]
    owner = owners.get(prefix)
    if owner is not None:
        owner.apply(key, value)


def _count(out: Outcome) -> None:
    op = out.operator_id
    metrics.RECORDS_IN.labels(op).inc()
    metrics.EVENTS_IN.labels(op).inc(out.events_in)
    if out.duplicates:
        metrics.DUPLICATES.labels(op).inc(out.duplicates)
    for kind, n in out.accepted.items():
        metrics.ACCEPTED.labels(op, kind).inc(n)
    for reason, n in out.rejected.items():
        metrics.REJECTED.labels(op, reason).inc(n)
