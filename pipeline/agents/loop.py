"""The consumer loop every agent shares: its group, its subscriptions, partition ownership, stop.

An agent's class extends this (the transactional agents through
:class:`~pipeline.agents.transactional.TransactionalAgent`, the ClickHouse sink directly) and
says what to do with each poll's records and with partitions it gains and loses. Its group and
its subscriptions come from its declaration (:mod:`pipeline.agents.app`), and its consumer from
an injected factory (:mod:`pipeline.agents.clients`).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from pipeline.agents.app import AgentSpec, Topic
from pipeline.agents.clients import Clients, kafka_clients
from pipeline.kafka.config import FatalErrors, consumer_config
from pipeline.kafka.discovery import TopicDiscovery
from pipeline.settings import Settings

log = logging.getLogger(__name__)
POLL_TIMEOUT_S = 0.1
# Incremental rebalancing: a membership change moves only the partitions that must move, and a
# member keeps (and does not restore) the rest. With the eager default every rebalance revoked
# and re-restored every partition of every member: 41 to 56 s of changelog replay per worker with
# a million events decided (docs/operations.md). Every member of a group must use the same
# protocol: a worker running the eager one cannot join (stop them all to upgrade).
ASSIGNMENT_STRATEGY = "cooperative-sticky"
# The longest an agent's loop waits for a metadata answer it asked for (pipeline.kafka.discovery):
# seconds with thousands of topics on a loaded cluster; a later ask tries again.
DISCOVERY_TIMEOUT_S = 10.0


class ConsumerLoop(ABC):
    """Consume in the declared group until stopped; subclasses handle records and ownership."""

    spec: ClassVar[AgentSpec]  # set by @app.agent (or assigned for an agent declared elsewhere)
    max_records = 500

    def __init__(self, settings: Settings, clients: Clients | None = None) -> None:
        self._s = settings
        self._clients = clients if clients is not None else kafka_clients(settings)
        self._fatal = FatalErrors(self.spec.name)
        self._consumer: Consumer | None = None
        self._discovery = TopicDiscovery(give_up_s=settings.kafka.metadata_refresh_interval_ms / 1000)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def group(self) -> str:
        return self.spec.consumer_group(self._s.topics)

    def consumer_overrides(self) -> dict[str, Any]:
        return {}

    # -- what a subclass provides --

    def prepare(self) -> None:  # noqa: B027 - an optional hook
        """Called once before subscribing: create topics, tables, clients."""

    @abstractmethod
    def process(self, msgs: list[Message], stop: threading.Event) -> None:
        """Handle one poll's records (possibly none: time-driven work goes here too)."""

    def finish(self) -> None:  # noqa: B027 - an optional hook
        """Called once when stop is set, before the consumer is closed (flush what is pending)."""

    def stopped(self) -> None:  # noqa: B027 - an optional hook
        """Called once the loop ends, however it ends, before the consumer is closed."""

    def poll_timeout(self) -> float:
        return POLL_TIMEOUT_S

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:  # noqa: B027
        """Partitions gained, only those (their state is to be restored before their records arrive).

        Rebalances are incremental (:data:`ASSIGNMENT_STRATEGY`): the partitions already owned are
        kept and not passed again. confluent-kafka adds ``partitions`` to the assignment after
        this returns (``incremental_assign``) unless the agent does it itself, with offsets.
        """

    def revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:  # noqa: B027
        """Partitions given up in a rebalance, only those (their work can still be committed)."""

    def lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions taken away (another member may own them already); by default, as revoked."""
        self.revoked(consumer, partitions)

    # -- the loop --

    def consumer(self) -> Consumer:
        """The agent's consumer, created on first use (never in a constructor)."""
        if self._consumer is None:
            self._consumer = self._clients.consumer(consumer_config(self._s.kafka, self.group, **{
                "error_cb": self._fatal,
                # No static membership (group.instance.id): after its session times out (a broker
                # restart), librdkafka's static member is fenced by its own rejoin, and the fatal
                # error can leave a call such as send_offsets_to_transaction blocked for good
                # (librdkafka #3437). A restarted worker then waits one session timeout for its
                # partitions instead.
                "max.poll.interval.ms": 300000,
                "partition.assignment.strategy": ASSIGNMENT_STRATEGY,
                **self.consumer_overrides(),
            }))
        return self._consumer

    def expect_topics(self, topics: Iterable[str]) -> None:
        """``topics``, which this agent reads by pattern, exist now or soon: find them at once.

        Without this a new topic is found by the consumer's periodic metadata refresh only
        (``KafkaSettings.metadata_refresh_interval_ms``, a minute by default).
        """
        self._discovery.expect(topics, time.monotonic())

    @property
    def awaited_topics(self) -> frozenset[str]:
        """Topics expected and not seen yet in the consumer's metadata."""
        return self._discovery.waiting

    def _discover(self, consumer: Consumer) -> None:
        """Ask for every topic's metadata when topics are awaited: the subscription then takes them in.

        librdkafka re-evaluates a pattern subscription on any answer that lists every topic,
        the application's ``list_topics()`` included (``rd_kafka_cgrp_metadata_update_check``).
        """
        if not self._discovery.due(time.monotonic()):
            return
        try:
            present: Iterable[str] = consumer.list_topics(timeout=DISCOVERY_TIMEOUT_S).topics
        except KafkaException as exc:  # asked again later, less often
            log.debug("%s: metadata for awaited topics unavailable: %s", self.name, exc)
            present = ()
        seen = self._discovery.asked(set(present), time.monotonic())
        if seen:
            log.info("%s: %d awaited topic(s) found: %s%s", self.name, len(seen),
                     ", ".join(sorted(seen)[:5]), ", ..." if len(seen) > 5 else "")

    def run(self, stop: threading.Event) -> None:
        self.prepare()
        consumer = self.consumer()
        consumer.subscribe(self.spec.subscriptions(self._s.topics), on_assign=self.assigned,
                           on_revoke=self.revoked, on_lost=self.lost)
        # Topics read by pattern because their writer creates them, maybe after this started.
        self.expect_topics(topic.full_name(self._s.topics) for topic in self.spec.reads
                           if isinstance(topic, Topic) and topic.late)
        try:
            while not stop.is_set():
                msgs = consumer.consume(self.max_records, timeout=self.poll_timeout())
                self._fatal.check()  # fatal errors librdkafka reports only to its error callback
                self.process(msgs, stop)
                self._discover(consumer)
            self.finish()
        finally:
            try:
                self.stopped()
            finally:
                self.close_consumer()

    def close_consumer(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                consumer.close()
            except RuntimeError:
                pass  # closed already (an abandoned agent's consumer, closed from another thread)
