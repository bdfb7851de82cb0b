"""The Kafka clients an agent uses, as factories: the real ones by default, fakes in unit tests.

Agents never construct clients themselves, so the transaction loop, its rewinds and its state
restores are tested without a broker (tests/pipeline/agents/fakes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.changelog import replay
from pipeline.kafka.offsets import Offsets
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
    # Where partitions' committed records end, and which hold one past an offset (pipeline.kafka.offsets).
    stable_offsets: Callable[[Sequence[tuple[str, int]]], dict[tuple[str, int], int]]
    records_from: Callable[[Mapping[tuple[str, int], int]], set[tuple[str, int]]]


def kafka_clients(settings: Settings) -> Clients:
    """The real clients, for ``settings``' broker."""

    def replay_partitions(topic: str, partitions: Sequence[int],
                          apply: Callable[[bytes, bytes | None], None]) -> None:
        replay(settings.kafka, topic, partitions, apply, group=settings.topics.reader_group)

    offsets = Offsets(settings.kafka, settings.topics.reader_group)
    return Clients(producer=Producer, consumer=Consumer, replay=replay_partitions,
                   create_topics=lambda topics: ensure_topics(settings, topics),
                   stable_offsets=offsets.stable, records_from=offsets.records_from)
