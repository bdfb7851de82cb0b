"""The validator agent: ingest records in; receipts, archive and state changelog out, exactly once.

A thin adapter: the engine ``validation.engine`` names (the compiled one by default, or the
Python reference :class:`~pipeline.core.processor.RecordProcessor`) decides each record into
encoded outputs, and :class:`~pipeline.agents.transactional.TransactionalAgent` commits them with
the consumed offsets in one Kafka transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import KafkaException, Message

from pipeline import metrics
from pipeline.agents.app import app
from pipeline.agents.clients import Clients
from pipeline.agents.topics import ARCHIVE, DEAD_LETTER, INGEST, RECEIPTS, SANDBOX, SANDBOX_RECEIPTS
from pipeline.agents.transactional import TP, Output, TransactionalAgent, now_us
from pipeline.core.admission import SOURCE_ID, admit
from pipeline.core.archive_log import archive_partition
from pipeline.core.model import Reason
from pipeline.core.processor import Outcome, Processor, make_processor
from pipeline.kafka.admin import operator_topics
from pipeline.registry import Registry
from pipeline.settings import Settings
from pipeline.writer_schemas import FolderWriterSchemaStore
from registry.follow import Follower, registry_topic
from schemas import default_codec
from schemas.evolution import WriterSchemas

log = logging.getLogger(__name__)
# How often the registry topic is looked at: well inside the 2 s a suspension may take to apply.
FOLLOW_INTERVAL_S = 0.1


@app.agent(
    group="validator",
    reads=[INGEST, SANDBOX],
    writes=[RECEIPTS, SANDBOX_RECEIPTS, ARCHIVE, DEAD_LETTER],
    tables=["validator-state"],
)
class ValidatorAgent(TransactionalAgent):
    """Validates every operator's ingest records; receipts, archive and dedup state out."""

    def __init__(self, settings: Settings, clock: Callable[[], int] = now_us,
                 clients: Clients | None = None) -> None:
        super().__init__(settings, clock, clients)
        self._codec = default_codec()
        self._registry_mtime = 0.0
        self._writers_mtime = 0.0
        self._registry_checked = self._follower_polled = time.monotonic()
        # Set by prepare(): the follower is a Kafka client, and clients are never made here.
        self._follower: Follower
        self._followed = 0
        self._processor: Processor
        self._writers: WriterSchemas
        self._load_writers()
        self._states = self.table("validator-state", self._new_state)
        self._receipt_topics_ready: set[str] = set()
        self._operators: frozenset[str] | None = None  # the registry's, once loaded

    def consumer_overrides(self) -> dict[str, Any]:
        return {"queued.max.messages.kbytes": self._s.validator_read_ahead_kbytes}

    def catch_up_records(self) -> int:
        return self._s.validator_catch_up_records

    def prepare(self) -> None:
        self._follower = self._follow()
        self._processor = self._load_processor()
        super().prepare()

    def stopped(self) -> None:
        if hasattr(self, "_follower"):
            self._follower.close()

    def _new_state(self, topic: str, partition: int) -> Any:
        # Reloads keep the engine, so a state made by one processor serves the next.
        return self._processor.new_state(topic, partition)

    def restore(self, tps: list[TP]) -> None:
        operators = {self._s.topics.operator_of(t) for t, _ in tps} - self._receipt_topics_ready
        if operators:
            self._clients.create_topics(operator_topics(self._s, sorted(operators)))
            self._receipt_topics_ready |= operators
        super().restore(tps)

    def handle(self, msg: Message, now: int) -> Iterable[Output]:
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        assert topic is not None and partition is not None and offset is not None
        t = self._s.topics
        key, value = msg.key(), msg.value() or b""
        refused = admit(key, value, partition, t.home_partitions(topic), self._s.validation.max_record_bytes)
        if refused is not None:
            out = self._processor.reject_record(topic, partition, offset, refused.reason, refused.detail,
                                                now, _source_of(key))
        else:
            out = self._processor.process(self._states[(topic, partition)], offset, key, value, now)
        return self._outputs_of(out, topic, partition)

    def set_aside(self, msg: Message, error: str, now: int) -> Iterable[Output]:
        """Its dead letter, and a receipt telling the operator that nothing of it was counted."""
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        assert topic is not None and partition is not None and offset is not None
        out = self._processor.reject_record(
            topic, partition, offset, Reason.UNPROCESSABLE,
            "dsom could not process this record and set it aside for investigation; nothing in it "
            "was counted: send its events again in a new record", now, _source_of(msg.key()))
        return [*self._outputs_of(out, topic, partition), self.dead_letter(msg, error, now)]

    def _outputs_of(self, out: Outcome, topic: str, partition: int) -> Iterable[Output]:
        t = self._s.topics
        sandbox = t.is_sandbox(topic)
        self.defer((out, sandbox))
        if out.receipts_value is not None:
            receipts = t.sandbox_receipts(out.operator_id) if sandbox else t.receipts(out.operator_id)
            yield receipts, None, out.receipts_key, out.receipts_value
        if out.archive_value is not None and not sandbox:  # sandbox events never reach GGR or tax
            # All of an operator's chains go to one archive partition: downstream agents that
            # total per operator (GGR, tax statements) then own each operator whole. The key is
            # the chain ID, <ingest topic>/<partition>.
            yield (t.archive, archive_partition(out.operator_id, t.archive_partitions),
                   f"{topic}/{partition}".encode(), out.archive_value)
        yield from self._states.changes((topic, partition), out.changelog)

    def process(self, msgs: list[Message], stop: threading.Event) -> None:
        # Before the records, not only in tick (which runs after them, or once a second when
        # idle): the records of a poll are decided with every change committed before it.
        self._follow_registry()
        super().process(msgs, stop)

    def _follow_registry(self) -> None:
        if time.monotonic() - self._follower_polled >= FOLLOW_INTERVAL_S:
            self._follower_polled = time.monotonic()
            self._follower.poll(0)
            if self._follower.view.changes != self._followed:
                self._reload("the registry topic")

    def tick(self, now: int) -> Iterable[Output]:
        self._follow_registry()
        if time.monotonic() - self._registry_checked > 5:
            self._registry_checked = time.monotonic()
            self._maybe_reload_files()
        return ()

    def after_commit(self, deferred: list[tuple[Outcome, bool]]) -> None:
        for out, sandbox in deferred:
            if sandbox:
                metrics.SANDBOX_EVENTS.labels(out.operator_id).inc(out.events_in)
            else:
                _count(out)

    def _follow(self) -> Follower:
        """Read the registry topic to its end before deciding anything, then follow it."""
        self._clients.create_topics([registry_topic(self._s)])
        follower = Follower(self._s, keep_records=False, consumer=self._clients.consumer)
        started = time.perf_counter()
        n = follower.read_to_end(self._s.registry.follow_timeout_s)
        log.info("registry topic read: %d records, %d operators, in %.1f s", n,
                 len(follower.view.registry().operators), time.perf_counter() - started)
        return follower

    def _load_writers(self) -> None:
        writers = FolderWriterSchemaStore(self._s.writer_schemas_dir)
        self._writers_mtime = writers.changed_at()
        self._writers = writers.load()

    def _load_processor(self) -> Processor:
        """An engine for the followed registry; the file only while the topic holds no operator.

        The file is the fallback of tests and tools that write a registry without the registry
        service (docs/registry.md); once the topic has an operator it is the only source.
        """
        self._followed = self._follower.view.changes
        if not self._follower.view.empty:
            registry = self._follower.view.registry()
        else:
            path = self._s.registry_path
            self._registry_mtime = path.stat().st_mtime if path.exists() else 0.0
            registry = Registry.load(path)
        processor = make_processor(registry, self._s.validation, self._s.topics, self._codec, self._writers)
        self._operators_appeared({o.operator_id for o in registry.operators})
        return processor

    def _operators_appeared(self, operators: set[str]) -> None:
        """Create the topics of operators new to the registry since start-up, and read them at once.

        The consumer would otherwise find their ingest topics only at its periodic metadata
        refresh (``KafkaSettings.metadata_refresh_interval_ms``). Those of start-up are left as
        they are: creating a thousand operators' topics again at every start costs the
        controller, and they were made with the operators (``dsom registry seed``).
        """
        known, self._operators = self._operators, frozenset(operators)
        new = sorted(operators - known) if known is not None else []
        if not new:
            return
        log.info("%d operator(s) new in the registry: %s%s", len(new), ", ".join(new[:5]),
                 ", ..." if len(new) > 5 else "")
        try:
            self._clients.create_topics(operator_topics(self._s, new))
        except (RuntimeError, KafkaException) as exc:  # whoever registered them may create them
            log.error("could not create the topics of new operators %s: %s", ", ".join(new[:5]), exc)
        t = self._s.topics
        self.expect_topics([name for op in new for name in (t.ingest(op), t.sandbox(op))])

    def _reload(self, why: str) -> None:
        started = time.perf_counter()
        try:
            self._processor = self._load_processor()
        except Exception:  # a half-written or invalid file: keep deciding with the last one
            log.exception("could not reload the registry (%s); keeping the last one", why)
            return
        log.info("registry reloaded (%s) in %.1f ms", why, (time.perf_counter() - started) * 1000)

    def _maybe_reload_files(self) -> None:
        path = self._s.registry_path
        writers = FolderWriterSchemaStore(self._s.writer_schemas_dir).changed_at()
        if writers != self._writers_mtime:
            try:
                self._load_writers()
            except Exception:
                log.exception("could not reload the writer schemas; keeping the last ones")
            self._reload("writer schemas")
        elif self._follower.view.empty and path.exists() and path.stat().st_mtime != self._registry_mtime:
            self._reload(str(path))


def _source_of(key: bytes | None) -> str | None:
    """The record key as the receipts' source_id, when it is a valid one."""
    return key.decode() if key is not None and SOURCE_ID.fullmatch(key) else None


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
