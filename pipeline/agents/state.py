"""Restoring partitioned agent state from a changelog topic."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Protocol

from pipeline.core.state import state_key_prefix, state_partition
from pipeline.kafka.changelog import replay
from pipeline.settings import Settings


class Restorable(Protocol):
    def apply(self, key: bytes, value: bytes | None) -> None: ...


def restore_from_changelog(settings: Settings, changelog: str, tps: Iterable[tuple[str, int]],
                           factory: Callable[[str, int], Restorable]) -> dict[tuple[str, int], Restorable]:
    """Build a state per (topic, partition) and replay its changelog entries into it.

    Entries are keyed ``<topic>|<partition>|...`` and live in changelog partition
    :func:`~pipeline.core.state.state_partition`; each changelog partition is read once.
    """
    states: dict[tuple[str, int], Restorable] = {}
    by_changelog_partition: dict[int, dict[bytes, Restorable]] = defaultdict(dict)
    for topic, partition in tps:
        state = states[(topic, partition)] = factory(topic, partition)
        cp = state_partition(topic, partition, settings.topics.state_partitions)
        by_changelog_partition[cp][state_key_prefix(topic, partition)] = state

    for cp, owners in by_changelog_partition.items():

        def route(key: bytes, value: bytes | None, owners: dict[bytes, Restorable] = owners) -> None:
            prefix = key[: key.index(b"|", key.index(b"|") + 1) + 1]
            owner = owners.get(prefix)
            if owner is not None:
                owner.apply(key, value)

        replay(settings.kafka, changelog, cp, route, group=settings.topics.reader_group)
    return states
