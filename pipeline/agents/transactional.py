"""The shape every stateful dsom agent shares: consume, decide, and commit outputs with offsets.

Per poll, an agent handles up to ``batch_max_records`` records; everything they produce (and
anything :meth:`TransactionalAgent.tick` produces) is written in one Kafka transaction
together with the consumed offsets. A crash before the commit aborts the outputs; the
records are read again from the last commit, with the state restored from the agent's
changelog topic, so every effect happens exactly once. This is faust's agent model (a
function over a partitioned stream, with its state in a changelog) on confluent-kafka
transactions; see docs/architecture.md for why not faust itself.

A record the agent cannot process (its handler raises, or Kafka refuses one of its outputs
for good, e.g. as too large) would otherwise be retried forever and stall its partition and
every partition the agent holds. Such a record is marked after the aborted transaction and,
when it comes round again, set aside instead (:meth:`TransactionalAgent.set_aside`): a
reference and the error go to the dead-letter topic, in the same transaction as the offsets.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
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
from pipeline.kafka.config import FatalErrors, consumer_config, is_fatal, producer_config
from pipeline.settings import Settings

log = logging.getLogger(__name__)
TP = tuple[str, int]
# (topic, partition or None for the key's default, key, value or None for a tombstone)
Output = tuple[str, int | None, bytes, bytes | None]
# Kafka's answers that no retry of the same output can change.
_RECORD_ERRORS = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD,
                            KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.INVALID_MSG_SIZE})


class RecordFailed(Exception):
    """Processing the record at ``where`` failed in a way a retry would repeat."""

    def __init__(self, where: tuple[str, int, int], error: str) -> None:
        super().__init__(f"{where[0]}:{where[1]}@{where[2]}: {error}")
        self.where = where
        self.error = error


def now_us() -> int:
    return time.time_ns() // 1000


def _where(msg: Message) -> tuple[str, int, int]:
    return msg.topic() or "", msg.partition() or 0, msg.offset() or 0


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
        self._poison: dict[tuple[str, int, int], str] = {}  # record -> why it cannot be processed
        self._failed_deliveries: dict[tuple[str, int, int], str] = {}
        # Records whose transaction Kafka refused, with others: retried one per transaction, so
        # only the record that fails alone is set aside.
        self._suspects: set[tuple[str, int, int]] = set()
        self._call: tuple[str, float] | None = None  # the transactional call in progress, since when
        self._call_lock = threading.Lock()  # abandon() closes the consumer only while a call is on
        group = settings.topics.agent_group(self.name)
        self._fatal = FatalErrors(self.name)
        self._producer = Producer(producer_config(settings.kafka, **{
            "error_cb": self._fatal,
            "transactional.id": f"{group}-{settings.worker_id}",
            "transaction.timeout.ms": 30000,
            "linger.ms": 5,
        }))
        self._consumer = Consumer(consumer_config(settings.kafka, group, **{
            "error_cb": self._fatal,
            # No static membership (group.instance.id): after its session times out (a broker
            # restart), librdkafka's static member is fenced by its own rejoin, and the fatal
            # error can leave a call such as send_offsets_to_transaction blocked for good
            # (librdkafka #3437). A restarted worker then waits one session timeout for its
            # partitions instead.
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

    def set_aside(self, msg: Message, error: str, now: int) -> Iterable[Output]:
        """The outputs for a record that cannot be processed: by default, its dead letter."""
        return [self.dead_letter(msg, error, now)]

    def dead_letter(self, msg: Message, error: str, now: int) -> Output:
        """A reference to ``msg`` and why it was set aside, for the dead-letter topic."""
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        value = msg.value() or b""
        doc = {"agent": self.name, "topic": topic, "partition": partition, "offset": offset,
               "value_bytes": len(value), "error": error[:2000], "set_aside_at_us": now}
        return self._s.topics.dead_letter, None, f"{topic}/{partition}/{offset}".encode(), orjson.dumps(doc)

    def committed(self) -> None:  # noqa: B027 - an optional hook
        """Called after each committed transaction (count metrics here, not in ``handle``)."""

    def aborted(self) -> None:  # noqa: B027 - an optional hook
        """Called after an aborted transaction, before the state is restored."""

    # -- being watched (pipeline.agents.supervision) --

    def stuck(self) -> tuple[str, float] | None:
        """The transactional call the agent is blocked in, and for how many seconds; or None."""
        call = self._call
        return None if call is None else (call[0], time.monotonic() - call[1])

    def abandon(self) -> None:
        """Called from another thread when the agent is blocked for good: leave the group now.

        The agent's thread is inside a producer call, so its consumer is idle; closing it lets
        the replacement take the partitions without waiting for a poll interval to expire.
        """
        with self._call_lock:
            if self._call is None:
                return  # the call returned after all: the agent sees its stop and closes itself
            try:
                self._consumer.close()
            except Exception as exc:  # already closed, or the client is in a bad state
                log.warning("%s: closing the abandoned consumer failed: %s", self.name, exc)

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        with self._call_lock:
            self._call = (what, time.monotonic())
        try:
            yield
        finally:
            with self._call_lock:  # not while abandon() closes the consumer
                self._call = None

    # -- the loop --

    def run(self, stop: threading.Event) -> None:
        self.prepare()
        # Fences a dead predecessor with our transactional ID and aborts its open transaction,
        # which would otherwise hold read_committed readers of our outputs for its timeout.
        with self._calling("init_transactions"):
            self._producer.init_transactions(60)
        self._consumer.subscribe(self._subscriptions, on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_revoke)
        last_tick = time.monotonic()
        try:
            while not stop.is_set():
                msgs = self._consumer.consume(self._s.batch_max_records, timeout=0.1)
                self._fatal.check()  # fatal errors librdkafka reports only to its error callback
                if msgs and self._suspects and any(_where(m) in self._suspects for m in msgs):
                    for msg in msgs:  # a failure rewinds: the rest are read again
                        self._suspects.discard(_where(msg))
                        if stop.is_set() or not self._transact([msg]):
                            break
                elif msgs:
                    self._transact(msgs)
                if time.monotonic() - last_tick >= self.tick_interval_s:
                    last_tick = time.monotonic()
                    self._transact([])
        finally:
            try:
                self._consumer.close()
            except RuntimeError:
                pass  # closed already by abandon()
            self._producer.flush(10)

    def _transact(self, msgs: list[Message]) -> bool:
        """Process and commit ``msgs``; False if the transaction was aborted (and the agent rewound)."""
        started = time.perf_counter()
        positions: dict[TP, int] = {}
        began = False
        self._failed_deliveries.clear()
        try:
            now = self._clock()
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    if is_fatal(err):  # the consumer is unusable: the worker restarts the agent
                        raise RuntimeError(f"{self.name}: fatal consumer error: {err.str()}")
                    raise KafkaException(err)
                topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
                assert topic is not None and partition is not None and offset is not None
                where = (topic, partition, offset)
                began = self._write(self._outputs(msg, where, now), began, where)
                positions[(topic, partition)] = offset + 1
            if self._assigned:
                began = self._write(self.tick(now), began)
            if not began and not positions:
                return True
            if not began:
                self._producer.begin_transaction()
            if positions:
                with self._calling("send_offsets_to_transaction"):
                    self._producer.send_offsets_to_transaction(
                        [TopicPartition(t, p, o) for (t, p), o in positions.items()],
                        self._consumer.consumer_group_metadata(), 30)
            self._commit()
        except RecordFailed as exc:
            log.error("%s: cannot process record %s; it will be set aside", self.name, exc)
            self._poison[exc.where] = exc.error
            self._abort_and_rewind(None)
            return False
        except KafkaException as exc:
            log.warning("%s: transaction failed (%s): rewinding to the last commit", self.name, exc)
            self._producer.poll(0)  # serve the delivery reports that say which output failed
            self._abort_and_rewind(exc)
            self._producer.poll(0)
            self._blame(len(msgs))
            return False
        for where in [w for w in self._poison if positions.get(w[:2], -1) > w[2]]:
            del self._poison[where]  # set aside for good
            metrics.DEAD_LETTERS.labels(self.name).inc()
        self.committed()
        metrics.TRANSACTION_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        return True

    def _blame(self, records: int) -> None:
        """Mark the records Kafka refused outputs of: set aside if alone in the transaction."""
        for where, error in self._failed_deliveries.items():
            if records == 1:
                log.error("%s: Kafka refused an output of %s:%d@%d for good (%s); the record will "
                          "be set aside", self.name, *where, error)
                self._poison[where] = error
            else:
                self._suspects.add(where)
        self._failed_deliveries.clear()

    def _outputs(self, msg: Message, where: tuple[str, int, int], now: int) -> list[Output]:
        """What ``msg`` produces: its handler's outputs, or its dead letter if it was marked."""
        error = self._poison.get(where)  # kept until committed: the set-aside may be rewound too
        if error is not None:
            return list(self.set_aside(msg, error, now))
        try:
            return list(self.handle(msg, now))
        except KafkaException:
            raise
        except Exception as exc:  # a handler is pure: the same record would fail the same way
            raise RecordFailed(where, "".join(traceback.format_exception_only(exc)).strip()) from exc

    def _write(self, outputs: Iterable[Output], began: bool,
               source: tuple[str, int, int] | None = None) -> bool:
        for topic, partition, key, value in outputs:
            if not began:
                self._producer.begin_transaction()
                began = True
            kwargs: dict[str, Any] = {"key": key, "value": value}
            if partition is not None:
                kwargs["partition"] = partition
            if source is not None:
                kwargs["on_delivery"] = self._delivery_watch(source)
            while True:
                try:
                    self._producer.produce(topic, **kwargs)
                    break
                except BufferError:
                    self._producer.poll(0.05)
                except KafkaException as exc:
                    if source is not None and exc.args[0].code() in _RECORD_ERRORS:
                        size = len(value or b"")
                        raise RecordFailed(source, f"Kafka refused an output for {topic} ({size} bytes): "
                                                   f"{exc.args[0].str()}") from exc
                    raise
        return began

    def _delivery_watch(self, source: tuple[str, int, int]) -> Callable[[KafkaError | None, Message], None]:
        def watch(err: KafkaError | None, msg: Message) -> None:
            if err is not None and err.code() in _RECORD_ERRORS:
                self._failed_deliveries[source] = f"Kafka refused an output for {msg.topic()}: {err.str()}"
        return watch

    def _commit(self) -> None:
        while True:
            try:
                with self._calling("commit_transaction"):
                    self._producer.commit_transaction(60)
                return
            except KafkaException as exc:
                if exc.args[0].retriable():
                    continue
                raise

    def _abort_and_rewind(self, exc: KafkaException | None) -> None:
        if exc is not None and is_fatal(exc.args[0]):
            # The producer is unusable (fenced, say): the worker restarts the agent afresh.
            raise RuntimeError(f"{self.name}: fatal transaction error: {exc.args[0]}") from exc
        try:
            with self._calling("abort_transaction"):
                self._producer.abort_transaction(60)
        except KafkaException as abort_exc:
            if abort_exc.args[0].code() != KafkaError._STATE:  # no transaction was open
                raise
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
