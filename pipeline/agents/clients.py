"""The Kafka clients an agent uses, as factories: the real ones by default, fakes in unit tests.

Agents never construct clients themselves, so the transaction loop, its rewinds and its state
restores are tested without a broker (tests/pipeline/agents/fakes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.changelog import replay
from pipeline.kafka.offsets import watermarks
from pipeline.settings import Settings

# Feed every committed (key, value) of some partitions of one changelog to the callback.
Replay = Callable[[str, Sequence[int], Callable[[bytes, bytes | None], None]], None]


@dataclass(frozen=True)
class Clients:
    """How an agent reaches Kafka."""

    producer: Callable[[dict[str, Any]], Producer]
    consumer: Callable[[dict[str, Any]], Consumer]
    replay: Replay
    create_topics: Callable[[Iterable[NewTopic]], None]
    # First and last-stable offsets of many partitions at once (pipeline.kafka.offsets).
    watermarks: Callable[[Sequence[tuple[str, int]]], dict[tuple[str, int], tuple[int, int]]]


def kafka_clients(settings: Settings) -> Clients:
    """The real clients, for ``settings``' broker."""

    def replay_partitions(topic: str, partitions: Sequence[int],
                          apply: Callable[[bytes, bytes | None], None]) -> None:
        replay(settings.kafka, topic, partitions, apply, group=settings.topics.reader_group)

    return Clients(producer=Producer, consumer=Consumer, replay=replay_partitions,
                   create_topics=lambda topics: ensure_topics(settings, topics),
                   watermarks=lambda tps: watermarks(settings.kafka, tps))
