"""The shape every stateful dsom agent shares: consume, decide, and commit outputs with offsets.

Per poll, an agent handles up to ``batch_max_records`` records; everything they produce (and
anything :meth:`TransactionalAgent.tick` produces) is written in one Kafka transaction
together with the consumed offsets. A crash before the commit aborts the outputs; the
records are read again from the last commit, with the state restored from the agent's
changelog topic, so every effect happens exactly once. This is faust's agent model (a
function over a partitioned stream, with its state in a changelog) on confluent-kafka
transactions; see docs/architecture.md for why not faust itself.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from pipeline import metrics
from pipeline.kafka.config import consumer_config, producer_config
from pipeline.settings import Settings

log = logging.getLogger(__name__)
TP = tuple[str, int]
# (topic, partition or None for the key's default, key, value or None for a tombstone)
Output = tuple[str, int | None, bytes, bytes | None]


def now_us() -> int:
    return time.time_ns() // 1000


class TransactionalAgent(ABC):
    """Subclasses decide; this class owns the consumer, the transactional producer and recovery."""

    name = "agent"
    tick_interval_s = 1.0

    def __init__(self, settings: Settings, subscriptions: list[str],
                 clock: Callable[[], int] = now_us) -> None:
        self._s = settings
        self._subscriptions = subscriptions
        self._clock = clock
        self._assigned: list[TP] = []
        group = settings.topics.agent_group(self.name)
        self._producer = Producer(producer_config(settings.kafka, **{
            "transactional.id": f"{group}-{settings.worker_id}",
            "transaction.timeout.ms": 30000,
            "linger.ms": 5,
        }))
        self._consumer = Consumer(consumer_config(settings.kafka, group, **{
            "group.instance.id": f"{group}-{settings.worker_id}",
            "max.poll.interval.ms": 300000,
        }))

    # -- what a subclass provides --

    @abstractmethod
    def prepare(self) -> None:
        """Create the topics the agent needs (before it starts consuming)."""

    @abstractmethod
    def restore(self, tps: list[TP]) -> None:
        """Rebuild the state of newly owned partitions from the changelog."""

    @abstractmethod
    def forget(self, tps: list[TP]) -> None:
        """Drop the state of partitions no longer owned."""

    @abstractmethod
    def handle(self, msg: Message, now: int) -> Iterable[Output]:
        """Decide one record; return what to write (in the current transaction)."""

    def tick(self, now: int) -> Iterable[Output]:
        """Outputs due by time alone (written in a transaction of their own)."""
        return ()

    def committed(self) -> None:  # noqa: B027 - an optional hook
        """Called after each committed transaction (count metrics here, not in ``handle``)."""

    def aborted(self) -> None:  # noqa: B027 - an optional hook
        """Called after an aborted transaction, before the state is restored."""

    # -- the loop --

    def run(self, stop: threading.Event) -> None:
        self.prepare()
        # Fences a dead predecessor with our transactional ID and aborts its open transaction,
        # which would otherwise hold read_committed readers of our outputs for its timeout.
        self._producer.init_transactions(60)
        self._consumer.subscribe(self._subscriptions, on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_revoke)
        last_tick = time.monotonic()
        try:
            while not stop.is_set():
                msgs = self._consumer.consume(self._s.batch_max_records, timeout=0.1)
                if msgs:
                    self._transact(msgs)
                if time.monotonic() - last_tick >= self.tick_interval_s:
                    last_tick = time.monotonic()
                    self._transact([])
        finally:
            self._consumer.close()
            self._producer.flush(10)

    def _transact(self, msgs: list[Message]) -> None:
        started = time.perf_counter()
        positions: dict[TP, int] = {}
        began = False
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
                began = self._write(self.handle(msg, now), began)
                positions[(topic, partition)] = offset + 1
            if self._assigned:
                began = self._write(self.tick(now), began)
            if not began and not positions:
                return
            if not began:
                self._producer.begin_transaction()
            if positions:
                self._producer.send_offsets_to_transaction(
                    [TopicPartition(t, p, o) for (t, p), o in positions.items()],
                    self._consumer.consumer_group_metadata(), 30)
            self._commit()
        except KafkaException as exc:
            log.warning("%s: transaction failed (%s): rewinding to the last commit", self.name, exc)
            self._abort_and_rewind(exc)
            return
        self.committed()
        metrics.TRANSACTION_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    def _write(self, outputs: Iterable[Output], began: bool) -> bool:
        for topic, partition, key, value in outputs:
            if not began:
                self._producer.begin_transaction()
                began = True
            kwargs: dict[str, Any] = {"key": key, "value": value}
            if partition is not None:
                kwargs["partition"] = partition
            while True:
                try:
                    self._producer.produce(topic, **kwargs)
                    break
                except BufferError:
                    self._producer.poll(0.05)
        return began

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
            raise RuntimeError(f"{self.name}: fatal transaction error, restart the worker: {err}") from exc
        self._producer.abort_transaction(60)
        self.aborted()
        assigned = list(self._assigned)
        self.forget(assigned)
        self.restore(assigned)
        committed = self._consumer.committed([TopicPartition(t, p) for t, p in assigned], timeout=30)
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self._consumer.seek(TopicPartition(tp.topic, tp.partition, offset))

    # -- partition ownership --

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        started = time.perf_counter()
        self.restore(tps)
        self._assigned.extend(tps)
        log.info("%s: assigned %d partitions, state restored in %.2f s", self.name, len(tps),
                 time.perf_counter() - started)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        self.forget(tps)
        self._assigned = [tp for tp in self._assigned if tp not in set(tps)]
