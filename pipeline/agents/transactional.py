"""The transactional agents' loop: consume, decide, and commit outputs with offsets, exactly once.

Per poll, an agent handles up to ``batch_max_records`` records; everything they produce (and
anything :meth:`TransactionalAgent.tick` produces) is written in one Kafka transaction
together with the consumed offsets. A crash before the commit aborts the outputs; the
records are read again from the last commit, with the state restored from the agent's
changelog tables (:mod:`pipeline.agents.tables`), so every effect happens exactly once. This is
faust's agent model (a function over a partitioned stream, with its state in changelog tables)
on confluent-kafka transactions; see docs/architecture.md for why not faust itself, and
docs/agents.md for how to write one.

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
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
import stamina
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
from pipeline.agents import stall
from pipeline.agents.app import app
from pipeline.agents.catch_up import CatchUp
from pipeline.agents.clients import Clients
from pipeline.agents.loop import ConsumerLoop
from pipeline.agents.tables import TP, ChangelogTable, Output, Restorable
from pipeline.agents.topics import DEAD_LETTER
from pipeline.faults import AGENT_BEFORE_COMMIT, crash_point
from pipeline.kafka.config import is_fatal, producer_config, retriable
from pipeline.settings import Settings

__all__ = ["TP", "AgentStalled", "Output", "RecordFailed", "TransactionalAgent", "now_us"]
log = logging.getLogger(__name__)
S = TypeVar("S", bound=Restorable)
_COORDINATOR = frozenset({KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                          KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError._TIMED_OUT})
# Kafka's answers that no retry of the same output can change.
_RECORD_ERRORS = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD,
                            KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.INVALID_MSG_SIZE})
# A transaction slower than this is logged with where its time went (the offsets, the commit)
# and how many topics it wrote to: after a takeover of many operators' partitions, the first
# ones write to topics the producer has no metadata for yet.
SLOW_TRANSACTION_S = 2.0
# How long a commit is asked again while Kafka answers that a repeat may succeed (a coordinator
# moving, a broker restarting): longer than a broker's restart under load (48 s seen in CI), and
# than one attempt's own timeout, so that a timed-out attempt is asked again at least once.
COMMIT_RETRY_S = 90.0
# A turn of an agent's loop longer than this (a restore, a commit retried, a rewind) is not
# counted towards a stall (pipeline.agents.stall.Progress).
STALL_GAP_S = 5.0
# The stall watch's own look: three requests of at most 30 s each.
STALL_LOOK_S = 90.0
# The transactional calls' own timeouts (s): the supervisor abandons a call blocked well past its
# own (pipeline.agents.supervision), so these are what it measures against.
INIT_TIMEOUT_S = 60.0
OFFSETS_TIMEOUT_S = 30.0
COMMIT_TIMEOUT_S = 60.0
ABORT_TIMEOUT_S = 60.0


class AgentStalled(RuntimeError):
    """Records wait in the agent's partitions and it has committed none for too long (restart it)."""


class RecordFailed(Exception):
    """Processing the record at ``where`` failed in a way a retry would repeat."""

    def __init__(self, where: tuple[str, int, int], error: str) -> None:
        super().__init__(f"{where[0]}:{where[1]}@{where[2]}: {error}")
        self.where = where
        self.error = error


def slow_transaction_hint(took_s: float, session_timeout_ms: int) -> str:
    """What to do about a transaction that took ``took_s``, for its slow-transaction log line.

    Kafka's group coordinator answers a heartbeat only once the group's earlier offset writes
    have replicated, and each transaction writes there twice (docs/operations.md, "A thousand
    operators"): transactions near the session timeout make the group lose its members. With
    hundreds of operators a transaction writes hundreds of receipts topics, one replicated
    round trip each, so the one setting that helps is named.
    """
    if took_s * 1000 < session_timeout_ms / 2:
        return ""
    return (f"; that is over half the consumer group's session timeout ({session_timeout_ms} ms), "
            "which risks the group losing its members: with hundreds of operators, raise "
            "DSOM_KAFKA__SESSION_TIMEOUT_MS (30000 held for a thousand; docs/operations.md)")


def _commit_retriable(exc: Exception) -> bool:
    # librdkafka flags an error either retriable, or abortable, or fatal; never both of the first two.
    return retriable(exc) and not exc.args[0].txn_requires_abort()


def _coordinator_moving(exc: Exception) -> bool:
    return retriable(exc, _COORDINATOR)


def now_us() -> int:
    return time.time_ns() // 1000


def _where(msg: Message) -> tuple[str, int, int]:
    return msg.topic() or "", msg.partition() or 0, msg.offset() or 0


class TransactionalAgent(ConsumerLoop):
    """Subclasses decide (``handle``, ``tick``); this class owns the transactions and recovery."""

    tick_interval_s = 1.0

    def __init__(self, settings: Settings, clock: Callable[[], int] = now_us,
                 clients: Clients | None = None) -> None:
        super().__init__(settings, clients)
        self._clock = clock
        self._tables: dict[str, ChangelogTable[Any]] = {}
        self._deferred: list[Any] = []  # handed to after_commit once their transaction commits
        self._assigned: list[TP] = []
        self._poison: dict[tuple[str, int, int], str] = {}  # record -> why it cannot be processed
        self._failed_deliveries: dict[tuple[str, int, int], str] = {}
        # Records whose transaction Kafka refused, with others: retried one per transaction, so
        # only the record that fails alone is set aside.
        self._suspects: set[tuple[str, int, int]] = set()
        # The transactional call in progress, since when, and its own timeout.
        self._call: tuple[str, float, float] | None = None
        self._call_lock = threading.Lock()  # abandon() closes the consumer only while a call is on
        self._producer_client: Producer | None = None
        self._written_topics: set[str] = set()  # the current transaction's (for the slow log)
        self._last_tick = time.monotonic()
        threshold = self.catch_up_records()
        self._catch_up = CatchUp(threshold) if threshold > 0 else None
        self._paused: list[TopicPartition] = []  # paused while the current poll is decided
        self._pauses: dict[TP, int] = {}  # polls each partition behind was paused in (for the log)
        # The owned partitions' committed offsets, and when each last moved (or was assigned).
        self._committed_to: dict[TP, int] = {}
        self._progress = stall.Progress(gap_s=STALL_GAP_S)
        self._next_stall_look = 0.0

    @property
    def max_records(self) -> int:  # type: ignore[override]
        return self._s.batch_max_records

    def poll_timeout(self) -> float:
        return self._s.batch_max_wait_ms / 1000

    def catch_up_records(self) -> int:
        """Records behind its end from which a partition is paused while a poll is decided; 0: never.

        See :mod:`pipeline.agents.catch_up`: a partition with a backlog keeps the consumer's
        read-ahead full, and the other partitions' records wait behind it.
        """
        return 0

    @property
    def _producer(self) -> Producer:
        if self._producer_client is None:
            self._producer_client = self._clients.producer(producer_config(self._s.kafka, **{
                "error_cb": self._fatal,
                "transactional.id": f"{self.group}-{self._s.worker_id}",
                "transaction.timeout.ms": 30000,
                "linger.ms": 5,
                # Only refused outputs matter here (_delivery_watch): a delivery report for every
                # output would cross into Python once per message, inside commit_transaction.
                "delivery.report.only.error": True,
            }))
        return self._producer_client

    @property
    def _consumer_client(self) -> Consumer:
        return self.consumer()

    def table(self, name: str, factory: Callable[[str, int], S]) -> ChangelogTable[S]:
        """The agent's declared changelog table ``name``, whose states ``factory`` makes."""
        if name not in self.spec.tables:
            raise ValueError(f"{self.name}: table {name!r} is not declared (declared: "
                             f"{', '.join(self.spec.tables) or 'none'})")
        table = ChangelogTable(f"{self._s.topics.prefix}.{name}", self._s.topics.state_partitions,
                               factory, self._clients.replay)
        self._tables[name] = table
        return table

    def defer(self, item: Any) -> None:
        """Hand ``item`` to :meth:`after_commit` once the current transaction commits."""
        self._deferred.append(item)

    # -- what a subclass provides --

    def restore(self, tps: list[TP]) -> None:
        """Rebuild the state of newly owned partitions from the changelogs (every table's)."""
        for table in self._tables.values():
            table.restore(tps)

    def forget(self, tps: list[TP]) -> None:
        """Drop the state of partitions no longer owned."""
        for table in self._tables.values():
            table.forget(tps)

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
        key = f"{topic}/{partition}/{offset}".encode()
        return DEAD_LETTER.full_name(self._s.topics), None, key, orjson.dumps(doc)

    def after_commit(self, deferred: list[Any]) -> None:  # noqa: B027 - an optional hook
        """Called after each committed transaction with what was :meth:`defer`-red during it.

        Count metrics here, not in ``handle``: an aborted transaction's items are dropped.
        """

    # -- being watched (pipeline.agents.supervision) --

    def stuck(self) -> tuple[str, float] | None:
        """The transactional call the agent is in, and how many seconds past its own timeout; or None.

        Negative while the call is within its timeout.
        """
        call = self._call
        return None if call is None else (call[0], time.monotonic() - call[1] - call[2])

    def abandon(self) -> None:
        """Called from another thread when the agent is blocked for good: leave the group now.

        The agent's thread is inside a producer call, so its consumer is idle; closing it lets
        the replacement take the partitions without waiting for a poll interval to expire.
        """
        with self._call_lock:
            if self._call is None:
                return  # the call returned after all: the agent sees its stop and closes itself
            try:
                if self._consumer is not None:
                    self._consumer.close()
            except Exception as exc:  # already closed, or the client is in a bad state
                log.warning("%s: closing the abandoned consumer failed: %s", self.name, exc)

    @contextmanager
    def _calling(self, what: str, timeout_s: float) -> Iterator[None]:
        with self._call_lock:
            self._call = (what, time.monotonic(), timeout_s)
        try:
            yield
        finally:
            with self._call_lock:  # not while abandon() closes the consumer
                self._call = None

    # -- the loop --

    def prepare(self) -> None:
        # The default agents' topics (as before any agent ran), and this agent's own.
        agents = [a for a in app.agents() if a.default or a.name == self.name]
        self._clients.create_topics(app.new_topics(self._s, agents))
        # Fences a dead predecessor with our transactional ID and aborts its open transaction,
        # which would otherwise hold read_committed readers of our outputs for its timeout.
        with self._calling("init_transactions", INIT_TIMEOUT_S):
            self._producer.init_transactions(INIT_TIMEOUT_S)
        self._last_tick = time.monotonic()

    def process(self, msgs: list[Message], stop: threading.Event) -> None:
        self._pause_catching_up(msgs)
        try:
            if msgs and self._suspects and any(_where(m) in self._suspects for m in msgs):
                for i, msg in enumerate(msgs):  # a failure rewinds: this and the rest are read again
                    self._suspects.discard(_where(msg))
                    if stop.is_set() or not self._transact([msg], unsettled=msgs[i:]):
                        break
            elif msgs:
                self._transact(msgs, unsettled=msgs)
        finally:
            # Never paused at the next poll, where rebalances happen: librdkafka keeps a pause
            # through a revocation, so a partition taken and given back would stay paused.
            self._resume_paused()
        if time.monotonic() - self._last_tick >= self.tick_interval_s:
            self._last_tick = time.monotonic()
            self._transact([], unsettled=[])
        self._watch_progress()

    def _watch_progress(self) -> None:
        """Fail, for the supervisor to restart the agent, if records wait where nothing was committed lately.

        See :mod:`pipeline.agents.stall`. An owned partition is looked at once it has gone
        ``agent_stalled_after_s`` of polling without a commit (an idle one once per that
        period): where its committed records end, for all such partitions in one request per
        broker, then, only for those ending past the committed offset, a read from there.
        """
        limit = self._s.agent_stalled_after_s
        now = time.monotonic()
        self._progress.tick(now)
        if limit <= 0 or now < self._next_stall_look:
            return
        self._next_stall_look = now + limit / 4
        idle = self._progress.idle(self._assigned, now, limit)
        if not idle:
            return
        self._progress.moved(idle, now)  # looked at: the next look is a period later
        try:
            with self._calling("looking whether records wait", STALL_LOOK_S):
                waiting, past, stable = self._look_for_waiting(idle)
        except (KafkaException, TimeoutError) as exc:
            log.warning("%s: %d partitions without a commit for %.0f s, and Kafka could not say whether "
                        "records wait there (%s); looking again in %.0f s", self.name, len(idle), limit,
                        exc, limit)
            return
        finally:
            self._progress.tick(time.monotonic())  # the look's own time is no one's stall
        if waiting:
            metrics.AGENT_STALLS.labels(self.name).inc()
            raise AgentStalled(f"{self.name}: nothing committed for {limit:.0f} s in {len(waiting)} of its "
                               f"{len(self._assigned)} partitions while records wait there "
                               f"({stall.describe({tp: past[tp] for tp in waiting}, stable)}): its consumer "
                               "stopped handing them over; restarting it with a new consumer")

    def _look_for_waiting(self, idle: list[TP]) -> tuple[set[TP], dict[TP, int], dict[TP, int]]:
        """Of ``idle``, those with a committed record past the committed offset; and the offsets seen."""
        unknown = [TopicPartition(t, p) for t, p in idle if (t, p) not in self._committed_to]
        if unknown:
            for found in self._consumer_client.committed(unknown, timeout=30):
                if found.error is None:  # else asked again at the next look
                    self._committed_to[(found.topic, found.partition)] = found.offset
        known = [tp for tp in idle if tp in self._committed_to]
        stable = self._clients.stable_offsets(known)
        past = stall.past_committed(self._committed_to, stable)
        waiting = self._clients.records_from(past) if past else set()
        return waiting, past, stable

    def _pause_catching_up(self, msgs: list[Message]) -> None:
        """Pause the owned partitions far behind their ends while this poll is decided.

        librdkafka drops a paused partition's read-ahead from the consumer's queue and, on
        resume, fetches again from the record after the last one a poll returned
        (``rd_kafka_toppar_pause_resume``: the next fetch starts at the application's position;
        after a seek, at the seek's): nothing is skipped and nothing is handed over twice, and
        the records of this poll are in hand already. Meanwhile the other partitions are fetched
        into the emptied queue, ahead of the backlog's records.
        """
        catch_up = self._catch_up
        if catch_up is None or not msgs:
            return
        read_to: dict[TP, int] = {}
        for msg in msgs:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if msg.error() is None and topic is not None and partition is not None and offset is not None:
                read_to[(topic, partition)] = offset + 1
        consumer = self._consumer_client

        def end_of(tp: TP) -> int:
            try:  # the end librdkafka's last fetch of the partition saw: no request to a broker
                return int(consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)[1])
            except KafkaException:
                return -1  # not known yet

        ends = {tp: end_of(tp) for tp in read_to}
        was = catch_up.behind()
        now = time.monotonic()
        catch_up.observe(read_to, ends, now)
        behind = catch_up.behind()
        if behind.keys() != was.keys():
            for t, p in sorted(behind.keys() - was.keys()):
                log.info("%s: %s/%d is %d records behind: it gives way (paused while a poll is decided) "
                         "whenever a live partition has records waiting",
                         self.name, t, p, behind[(t, p)])
            for t, p in sorted(was.keys() - behind.keys()):
                log.info("%s: %s/%d has caught up (paused during %d polls)", self.name, t, p,
                         self._pauses.pop((t, p), 0))
        if not behind:
            return
        pause = catch_up.to_pause(set(self._assigned), now, end_of)
        if pause:
            for tp in pause:
                self._pauses[tp] = self._pauses.get(tp, 0) + 1
            self._progress.held(pause, now)
            self._paused = [TopicPartition(t, p) for t, p in pause]
            consumer.pause(self._paused)
            metrics.PARTITIONS_PAUSED.labels(self.name).inc(len(pause))

    def _resume_paused(self) -> None:
        """Resume what :meth:`_pause_catching_up` paused (before the commit: they refetch during it)."""
        if self._paused:
            paused, self._paused = self._paused, []
            try:
                self._consumer_client.resume(paused)
            except RuntimeError:  # closed by abandon(): the replacement's consumer starts unpaused
                pass

    def run(self, stop: threading.Event) -> None:
        try:
            super().run(stop)
        finally:
            if self._producer_client is not None:
                self._producer_client.flush(10)

    def _transact(self, msgs: list[Message], unsettled: list[Message]) -> bool:
        """Process and commit ``msgs``; False if the transaction was aborted (and the agent rewound).

        ``unsettled`` are the poll's records not committed yet: ``msgs`` and those after them.
        An abort rewinds their partitions only; the consumer has read no further in any other.
        """
        started = time.perf_counter()
        positions: dict[TP, int] = {}
        # The states this transaction may have changed (None: any, once tick wrote something):
        # an abort restores those only, not every owned partition.
        touched: set[TP] | None = set()
        began = False
        self._failed_deliveries.clear()
        self._written_topics.clear()
        offsets_s = commit_s = 0.0
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
                if touched is not None:
                    touched.add((topic, partition))
                began = self._write(self._outputs(msg, where, now), began, where)
                positions[(topic, partition)] = offset + 1
            if self._assigned:
                kept, touched = touched, None
                ticked = list(self.tick(now))
                if not ticked:  # tick changes state only through the changelog entries it returns
                    touched = kept
                began = self._write(ticked, began)
            if not began and not positions:
                return True
            if not began:
                self._producer.begin_transaction()
            # The records are decided: the paused partitions' read-ahead refills while Kafka
            # commits (the others were fetched in the meantime and are ahead of it in the queue).
            self._resume_paused()
            if positions:
                offsets_s = time.perf_counter()
                with self._calling("send_offsets_to_transaction", OFFSETS_TIMEOUT_S):
                    self._producer.send_offsets_to_transaction(
                        [TopicPartition(t, p, o) for (t, p), o in positions.items()],
                        self._consumer_client.consumer_group_metadata(), OFFSETS_TIMEOUT_S)
                offsets_s = time.perf_counter() - offsets_s
            crash_point(self._s.crash_points_dir, AGENT_BEFORE_COMMIT)
            commit_s = time.perf_counter()
            self._commit()
            commit_s = time.perf_counter() - commit_s
        except RecordFailed as exc:
            log.error("%s: cannot process record %s; it will be set aside", self.name, exc)
            self._poison[exc.where] = exc.error
            self._abort_and_rewind(None, touched, unsettled)
            return False
        except KafkaException as exc:
            log.warning("%s: transaction failed (%s): rewinding to the last commit", self.name, exc)
            self._producer.poll(0)  # serve the delivery reports that say which output failed
            self._abort_and_rewind(exc, touched, unsettled)
            self._producer.poll(0)
            self._blame(len(msgs))
            return False
        if positions:
            self._committed_to.update(positions)
            self._progress.moved(positions, time.monotonic())
        for where in [w for w in self._poison if positions.get(w[:2], -1) > w[2]]:
            del self._poison[where]  # set aside for good
            metrics.DEAD_LETTERS.labels(self.name).inc()
        deferred, self._deferred = self._deferred, []
        self.after_commit(deferred)
        took = time.perf_counter() - started
        metrics.TRANSACTION_SECONDS.labels(self.name).observe(took)
        if took >= SLOW_TRANSACTION_S:
            log.warning("%s: slow transaction: %d records from %d partitions, outputs to %d topics, "
                        "%.1f s (offsets %.1f s, commit %.1f s)%s", self.name, len(msgs), len(positions),
                        len(self._written_topics), took, offsets_s, commit_s,
                        slow_transaction_hint(took, self._s.kafka.session_timeout_ms))
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
        # One watch for all of a record's outputs (a validator record has about ten).
        watch = self._delivery_watch(source) if source is not None else None
        for topic, partition, key, value in outputs:
            if not began:
                self._producer.begin_transaction()
                began = True
            self._written_topics.add(topic)
            kwargs: dict[str, Any] = {"key": key, "value": value}
            if partition is not None:
                kwargs["partition"] = partition
            if watch is not None:
                kwargs["on_delivery"] = watch
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
        """Commit, asking again for COMMIT_RETRY_S while Kafka answers that a repeat can succeed.

        All the attempts are one watched call: each ends within its own timeout, so a commit that
        kept failing that way would stall the agent without the supervisor ever seeing it stuck.
        Past the bound the agent fails, to be restarted: librdkafka keeps such a commit pending
        and refuses to abort it (``_CONFLICT``); the new producer's ``init_transactions``
        completes or aborts it, and the new consumer reads from the committed offsets.
        """
        # The last attempt may begin just before the bound and take its own timeout.
        with self._calling("commit_transaction", COMMIT_RETRY_S + COMMIT_TIMEOUT_S):
            try:
                for attempt in stamina.retry_context(on=_commit_retriable, attempts=None,
                                                     timeout=COMMIT_RETRY_S, wait_initial=0.1,
                                                     wait_max=5.0, wait_jitter=0.1):
                    with attempt:
                        self._producer.commit_transaction(COMMIT_TIMEOUT_S)
            except KafkaException as exc:
                if not _commit_retriable(exc):
                    raise  # abortable (the transaction is aborted and rewound) or fatal
                raise RuntimeError(f"{self.name}: the transaction's commit still failed after "
                                   f"{COMMIT_RETRY_S:.0f} s ({exc.args[0].str()}); restarting with a new "
                                   "producer, which completes or aborts it") from exc

    def _abort_and_rewind(self, exc: KafkaException | None, touched: set[TP] | None,
                          unsettled: list[Message]) -> None:
        """Abort the transaction, restore the states it changed (``touched``; None: all), rewind.

        Aborts are not rare with incremental rebalancing: a member that keeps partitions keeps
        committing while the group rebalances, and a transaction whose offsets carry the group's
        previous generation is refused (ILLEGAL_GENERATION, an abortable error). Restoring only
        the partitions of the aborted records keeps that cheap.

        Only the partitions of ``unsettled`` (the poll's records not committed) are rewound:
        every poll before was committed or rewound, so in any other partition the consumer's
        position is its committed offset already. Asking the group coordinator for the offsets
        of every owned partition instead (4,000 with a thousand operators) timed out after 30 s,
        and the supervisor's restart of the agent caused one more rebalance (docs/operations.md).
        """
        if exc is not None and is_fatal(exc.args[0]):
            # The producer is unusable (fenced, say): the worker restarts the agent afresh.
            raise RuntimeError(f"{self.name}: fatal transaction error: {exc.args[0]}") from exc
        try:
            with self._calling("abort_transaction", ABORT_TIMEOUT_S):
                self._producer.abort_transaction(ABORT_TIMEOUT_S)
        except KafkaException as abort_exc:
            if abort_exc.args[0].code() != KafkaError._STATE:  # no transaction was open
                raise
        self._deferred.clear()
        assigned = list(self._assigned)
        changed = assigned if touched is None else [tp for tp in assigned if tp in touched]
        self.forget(changed)
        self.restore(changed)
        read = {(t, p) for m in unsettled
                if (t := m.topic()) is not None and (p := m.partition()) is not None}
        rewind = sorted(read & set(assigned))
        if not rewind:
            return
        consumer = self._consumer_client
        # The group coordinator may be moving (a broker restarting, a rebalance): seen failing
        # with NOT_COORDINATOR right after an ILLEGAL_GENERATION abort, which restarted the agent.
        for attempt in stamina.retry_context(on=_coordinator_moving, attempts=10, timeout=60.0,
                                             wait_initial=0.2, wait_max=5.0):
            with attempt:
                committed = consumer.committed([TopicPartition(t, p) for t, p in rewind], timeout=30)
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            consumer.seek(TopicPartition(tp.topic, tp.partition, offset))

    # -- partition ownership --

    # Rebalances are incremental (pipeline.agents.loop.ASSIGNMENT_STRATEGY): only the partitions
    # gained are restored, and those kept keep their state. That is exactly-once as before: these
    # callbacks run inside consume(), between transactions, so every output and offset of a
    # revoked partition is committed (or aborted) before another member restores it; and the
    # state kept in memory is what this member's own committed transactions left.

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [tp for tp in ((p.topic, p.partition) for p in partitions) if tp not in self._assigned]
        if not tps:
            return
        started = time.perf_counter()
        self.restore(tps)
        self._assigned.extend(tps)
        self._progress.moved(tps, time.monotonic())  # a new owner's records come after its restore
        log.info("%s: assigned %d more partitions (%d in all), state restored in %.2f s", self.name,
                 len(tps), len(self._assigned), time.perf_counter() - started)

    def revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = {(tp.topic, tp.partition) for tp in partitions}
        self.forget(list(tps))
        if self._catch_up is not None:
            self._catch_up.forget(tps)
            for tp in tps:
                self._pauses.pop(tp, None)
        self._assigned = [tp for tp in self._assigned if tp not in tps]
        for tp in tps:
            self._committed_to.pop(tp, None)
        self._progress.forget(tps)
        if tps:
            log.info("%s: gave up %d partitions (%d kept)", self.name, len(tps), len(self._assigned))
