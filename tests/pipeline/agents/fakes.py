"""An in-memory Kafka for agents: topic logs, transactions, a consumer group and its offsets.

Enough of confluent-kafka's Producer and Consumer for the transactional loop: outputs are seen
by readers only once their transaction commits, offsets sent to a transaction are committed
with it, and an aborted transaction leaves nothing. ``fail_next_commit`` makes the next commit
fail as Kafka would after a broker problem (the loop aborts and rewinds), and
``commit_retriable_failures`` makes commits fail as ones worth asking again; ``refuse`` names the
outputs Kafka refuses for good (as too large: their delivery fails and their transaction with it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, cast

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Message, TopicPartition

from pipeline.agents.clients import Clients

TP = tuple[str, int]
Record = tuple[bytes | None, bytes | None]  # key, value


class FakeKafka:
    def __init__(self) -> None:
        self.logs: dict[TP, list[Record]] = {}
        self.committed: dict[TP, int] = {}  # the agent group's offsets
        self.topics_created: list[str] = []
        self.fail_next_commit = False
        self.transactions = 0
        self.aborts = 0
        self.replays: list[TP] = []  # changelog partitions replayed, in order
        self.coordinator_moves = 0  # the next offset lookups fail so (the group coordinator moved)
        self.offset_lookups: list[list[TP]] = []  # the partitions of each committed() call
        self.refuse: Callable[[str, bytes | None], bool] = lambda topic, key: False
        self.consumers: list[FakeConsumer] = []  # every consumer made, in order
        self.paused_at_commit: list[set[TP]] = []  # partitions paused as each commit began
        self.after_poll: Callable[[], None] = lambda: None  # records arriving while a poll is decided
        self.offset_looks = 0
        self.record_reads = 0
        # Offsets past a partition's records that no consumer is handed (commit markers, aborted
        # transactions' records): they count in its last stable offset only.
        self.markers: dict[TP, int] = {}
        self.not_fetched: set[TP] = set()  # partitions whose fetching stopped: polls hand over none
        self.commit_retriable_failures = 0  # the next commits fail as ones worth asking again
        self.commit_attempts = 0
        self.on_commit_attempt: Callable[[], None] = lambda: None
        self.metadata_asks = 0  # list_topics() calls: asks for every topic's metadata

    def append(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        self.logs.setdefault((topic, partition), []).append((key, value))

    def records(self, topic: str) -> list[Record]:
        return [r for (t, _), log in sorted(self.logs.items()) if t == topic for r in log]

    @property
    def clients(self) -> Clients:
        def create(topics: Iterable[Any]) -> None:
            self.topics_created += [t.topic for t in topics]

        return Clients(producer=cast(Any, lambda conf: FakeProducer(self, conf)),
                       consumer=cast(Any, lambda conf: FakeConsumer(self, conf)),
                       replay=self.replay, create_topics=create,
                       stable_offsets=self.stable_offsets, records_from=self.records_from)

    def stable_offsets(self, tps: Sequence[TP]) -> dict[TP, int]:
        self.offset_looks += 1
        return {tp: len(self.logs.get(tp, [])) + self.markers.get(tp, 0) for tp in tps}

    def records_from(self, starts: Mapping[TP, int]) -> set[TP]:
        self.record_reads += 1
        return {tp for tp, start in starts.items() if start < len(self.logs.get(tp, []))}

    def replay(self, topic: str, partitions: Sequence[int],
               apply: Callable[[bytes, bytes | None], None]) -> None:
        for partition in partitions:
            self.replays.append((topic, partition))
            for key, value in self.logs.get((topic, partition), []):
                if key is not None:
                    apply(key, value)


class FakeProducer:
    def __init__(self, kafka: FakeKafka, conf: dict[str, Any]) -> None:
        self.kafka = kafka
        self.conf = conf
        self.pending: list[tuple[str, int, bytes | None, bytes | None]] = []
        self.reports: list[tuple[Any, Message]] = []  # refused outputs' delivery callbacks
        self.offsets: dict[TP, int] = {}
        self.open = False
        self.resumable = False  # a commit failed retriably and awaits being asked again

    def init_transactions(self, timeout: float) -> None:
        pass

    def begin_transaction(self) -> None:
        assert not self.open, "a transaction is open already"
        self.open = True

    def produce(self, topic: str, key: bytes | None = None, value: bytes | None = None,
                partition: int = 0, on_delivery: Any = None) -> None:
        assert self.open, "produce outside a transaction"
        self.pending.append((topic, partition, key, value))
        if self.kafka.refuse(topic, key) and on_delivery is not None:
            msg = Message(topic=topic, partition=partition, key=key, value=value)
            self.reports.append((on_delivery, msg))

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], metadata: Any,
                                    timeout: float) -> None:
        self.offsets.update({(tp.topic, tp.partition): tp.offset for tp in offsets})

    def commit_transaction(self, timeout: float) -> None:
        assert self.open
        self.kafka.commit_attempts += 1
        self.kafka.on_commit_attempt()
        if self.kafka.commit_retriable_failures > 0:
            self.kafka.commit_retriable_failures -= 1
            self.resumable = True  # librdkafka keeps the commit pending, to be asked again
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "commit timed out (fake)", retriable=True))
        self.resumable = False
        self.kafka.paused_at_commit.append(set().union(*(c.paused for c in self.kafka.consumers)))
        if self.kafka.fail_next_commit:
            self.kafka.fail_next_commit = False
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "commit failed (fake)"))
        if self.reports:
            for report, msg in self.reports:
                report(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "message too large (fake)"), msg)
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "an output failed (fake)"))
        for topic, partition, key, value in self.pending:
            self.kafka.append(topic, partition, key, value)
        self.kafka.committed.update(self.offsets)
        self.kafka.transactions += 1
        self._reset()

    def abort_transaction(self, timeout: float) -> None:
        if self.resumable:
            raise KafkaException(KafkaError(KafkaError._CONFLICT, "Conflicting commit_transaction API call "
                                            "is already in progress (fake)"))
        if not self.open:
            raise KafkaException(KafkaError(KafkaError._STATE, "no transaction"))
        self.kafka.aborts += 1
        self._reset()

    def _reset(self) -> None:
        self.pending.clear()
        self.reports.clear()
        self.offsets.clear()
        self.open = False

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


class FakeConsumer:
    """Assigns itself every partition of the subscribed topics on its first poll (or takes ``assign``).

    Later rebalances are incremental, as with the cooperative-sticky strategy: :meth:`rebalance`
    queues the partitions to give up and to gain, and the next poll passes only those to the
    agent's callbacks (the partitions kept stay, with their positions).
    """

    def __init__(self, kafka: FakeKafka, conf: dict[str, Any]) -> None:
        self.kafka = kafka
        kafka.consumers.append(self)
        self.conf = conf
        self.subscriptions: list[str] = []
        self.on_assign: Any = None
        self.on_revoke: Any = None
        self.positions: dict[TP, int] = {}
        self.closed = False
        self.started = False
        self._rebalance: tuple[list[TP], list[TP]] | None = None
        self.assigned = False  # by assign(): no group, no callbacks (the registry's followers)
        self._eof_at: dict[TP, int] = {}
        self.waits: list[float] = []  # each poll's timeout
        self.paused: set[TP] = set()
        self.pauses: list[list[TP]] = []  # each pause() call's partitions
        self.paused_at_poll: list[set[TP]] = []  # partitions still paused when a poll began
        self.seeks_while_paused: list[TP] = []

    def rebalance(self, *, revoke: Iterable[TP] = (), assign: Iterable[TP] = ()) -> None:
        """Give up ``revoke`` and gain ``assign`` at the next poll (one incremental rebalance)."""
        self._rebalance = (list(revoke), list(assign))

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = True
        for tp in partitions:
            self.positions[(tp.topic, tp.partition)] = 0 if tp.offset == OFFSET_BEGINNING else tp.offset

    def subscribe(self, topics: list[str], on_assign: Any, on_revoke: Any, on_lost: Any) -> None:
        self.subscriptions = topics
        self.on_assign, self.on_revoke = on_assign, on_revoke

    def _matches(self, topic: str) -> bool:
        return any(re.fullmatch(s, topic) if s.startswith("^") else s == topic for s in self.subscriptions)

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        assert not self.closed
        self.waits.append(timeout)
        if self.paused:
            self.paused_at_poll.append(set(self.paused))
        if not self.started and not self.assigned:
            tps = [TopicPartition(t, p) for t, p in sorted(self.kafka.logs) if self._matches(t)]
            if tps:
                self.started = True
                self._gain(tps)
        if self._rebalance is not None:
            (revoke, assign), self._rebalance = self._rebalance, None
            if revoke:
                self.on_revoke(self, [TopicPartition(t, p) for t, p in revoke])
                for tp in revoke:
                    del self.positions[tp]
            if assign:
                self._gain([TopicPartition(t, p) for t, p in assign])
        out: list[Message] = []
        for tp, pos in sorted(self.positions.items()):
            if tp in self.paused or tp in self.kafka.not_fetched:
                continue
            log = self.kafka.logs.get(tp, [])
            while pos < len(log) and len(out) < num_messages:
                key, value = log[pos]
                out.append(Message(topic=tp[0], partition=tp[1], offset=pos, key=key, value=value))
                pos += 1
            self.positions[tp] = pos
            if self.conf.get("enable.partition.eof") and pos == len(log) and self._eof_at.get(tp) != pos:
                self._eof_at[tp] = pos
                out.append(Message(topic=tp[0], partition=tp[1], offset=pos,
                                   error=KafkaError(KafkaError._PARTITION_EOF)))
        self.kafka.after_poll()
        return out

    def _gain(self, tps: list[TopicPartition]) -> None:
        """on_assign, then what confluent-kafka does when it returns: add them at their commits."""
        self.on_assign(self, tps)
        for tp in tps:
            key = (tp.topic, tp.partition)
            assert key not in self.positions, f"{key} assigned twice"
            self.positions[key] = self.kafka.committed.get(key, 0)

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        if self.kafka.coordinator_moves:
            self.kafka.coordinator_moves -= 1
            raise KafkaException(KafkaError(KafkaError.NOT_COORDINATOR, "Broker: Not coordinator (fake)"))
        self.kafka.offset_lookups.append([(tp.topic, tp.partition) for tp in partitions])
        got = self.kafka.committed
        return [TopicPartition(tp.topic, tp.partition, got.get((tp.topic, tp.partition), -1001))
                for tp in partitions]

    def seek(self, tp: TopicPartition) -> None:
        if (tp.topic, tp.partition) in self.paused:
            self.seeks_while_paused.append((tp.topic, tp.partition))
        self.positions[(tp.topic, tp.partition)] = 0 if tp.offset == OFFSET_BEGINNING else tp.offset

    # librdkafka drops a paused partition's read-ahead and fetches again from the record after
    # the last one a poll returned (or from a seek's offset): this consumer reads nothing ahead,
    # so its positions are already that.
    def pause(self, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        assert all(tp in self.positions for tp in tps), "paused a partition not assigned"
        self.pauses.append(tps)
        self.paused.update(tps)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused.difference_update((tp.topic, tp.partition) for tp in partitions)

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float | None = None,
                              cached: bool = False) -> tuple[int, int]:
        return 0, len(self.kafka.logs.get((tp.topic, tp.partition), []))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = True) -> list[TopicPartition]:
        """A non-transactional agent's commit (the delivery loop, the sinks)."""
        self.kafka.committed.update({(tp.topic, tp.partition): tp.offset for tp in offsets})
        return offsets

    def list_topics(self, timeout: float | None = None) -> Any:
        """Every topic the fake holds or created (an answer listing all, as ``list_topics()``'s)."""
        self.kafka.metadata_asks += 1
        names = {t for t, _ in self.kafka.logs} | set(self.kafka.topics_created)
        return SimpleNamespace(topics=dict.fromkeys(names))

    def consumer_group_metadata(self) -> object:
        return object()

    def close(self) -> None:
        if self.positions and not self.closed and not self.assigned:
            self.on_revoke(self, [TopicPartition(t, p) for t, p in self.positions])
        self.closed = True
