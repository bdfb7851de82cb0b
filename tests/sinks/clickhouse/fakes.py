"""An in-memory stand-in for the broker and confluent-kafka's Consumer, enough to drive the sink."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from pipeline.agents.clients import Clients

TP = tuple[str, int]
Callback = Callable[[Any, list[TopicPartition]], None]


class Crash(BaseException):
    """Simulates the process dying at a chosen point (not an Exception: nothing catches it)."""


class FakeBroker:
    """Topic logs and one consumer group's committed offsets."""

    def __init__(self) -> None:
        self.logs: dict[TP, list[bytes]] = {}
        self.keys: dict[TP, list[bytes | None]] = {}
        self.committed: dict[TP, int] = {}
        self.commits: list[dict[TP, int]] = []
        self.fail_commit: Callable[[], None] | None = None  # raise from it to fail a commit
        self.lock = threading.Lock()

    def append(self, topic: str, partition: int, value: bytes, key: bytes | None = None) -> int:
        with self.lock:
            log = self.logs.setdefault((topic, partition), [])
            log.append(value)
            self.keys.setdefault((topic, partition), []).append(key)
            return len(log) - 1

    def end(self, tp: TP) -> int:
        return len(self.logs.get(tp, []))

    def consumer(self, conf: dict[str, Any]) -> FakeConsumer:
        return FakeConsumer(self, conf)

    @property
    def clients(self) -> Clients:
        """Clients whose consumer reads this broker (the sink uses no other client)."""

        def unused(*args: Any) -> Any:
            raise AssertionError("the sink uses only a consumer")

        return Clients(producer=unused, consumer=cast(Any, self.consumer), replay=unused,
                       create_topics=unused, stable_offsets=unused, records_from=unused)


class FakeConsumer:
    """The subset of confluent_kafka.Consumer the sink uses; assigns every matching partition."""

    def __init__(self, broker: FakeBroker, conf: dict[str, Any]) -> None:
        self.broker = broker
        self.conf = conf
        self.patterns: list[str] = []
        self.callbacks: dict[str, Callback] = {}
        self.positions: dict[TP, int] = {}
        self.assigned = False
        self.closed = False
        self.consumed = 0

    def subscribe(self, topics: list[str], on_assign: Callback, on_revoke: Callback,
                  on_lost: Callback) -> None:
        self.patterns = topics
        self.callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}

    def _matching(self) -> list[TopicPartition]:
        def match(topic: str) -> bool:
            return any(re.match(p, topic) if p.startswith("^") else p == topic for p in self.patterns)
        return [TopicPartition(t, p) for t, p in sorted(self.broker.logs) if match(t)]

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        assert not self.closed
        if not self.assigned:
            self.assigned = True
            self.callbacks["assign"](self, self._matching())
        out: list[Message] = []
        with self.broker.lock:
            for tp, pos in sorted(self.positions.items()):
                log = self.broker.logs.get(tp, [])
                while pos < len(log) and len(out) < num_messages:
                    out.append(Message(topic=tp[0], partition=tp[1], offset=pos, value=log[pos],
                                       key=self.broker.keys[tp][pos]))
                    pos += 1
                self.positions[tp] = pos
        if not out:
            time.sleep(min(timeout, 0.01))
        self.consumed += len(out)
        return out

    def list_topics(self, timeout: float | None = None) -> Any:
        """Every topic the broker holds (an answer listing all, as ``list_topics()``'s)."""
        return SimpleNamespace(topics=dict.fromkeys(t for t, _ in self.broker.logs))

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        """Add ``partitions`` to those kept (the cooperative protocol's only way to assign)."""
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if tp.offset >= 0:
                self.positions[key] = tp.offset
            elif tp.offset == OFFSET_BEGINNING:
                self.positions[key] = 0
            else:
                self.positions[key] = self.broker.committed.get(key, 0)

    def seek(self, tp: TopicPartition) -> None:
        self.positions[(tp.topic, tp.partition)] = max(tp.offset, 0)

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        got = self.broker.committed
        return [TopicPartition(tp.topic, tp.partition, got.get((tp.topic, tp.partition), -1001))
                for tp in partitions]

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        assert asynchronous is False
        if self.broker.fail_commit is not None:
            self.broker.fail_commit()
        done = {(tp.topic, tp.partition): tp.offset for tp in offsets}
        self.broker.committed.update(done)
        self.broker.commits.append(done)
        return offsets

    def close(self) -> None:
        if self.assigned:
            self.callbacks["revoke"](self, [TopicPartition(t, p) for t, p in self.positions])
        self.closed = True
