"""Changelog tables: an agent's per-partition state, kept in a compacted changelog topic.

Like faust's tables: each input partition (topic, partition) has a state object; every change
the agent decides is also written, in the same transaction as its outputs, as an entry of the
table's changelog topic. On assignment the state of each new partition is rebuilt by replaying
those entries; on revocation it is dropped.

Entries are keyed ``<topic>|<partition>|...`` and an input partition's entries all live in one
changelog partition, :func:`~pipeline.core.state.state_partition`, so any worker can restore any
input partition by reading one changelog partition; a restore reads the changelog partitions its
input partitions need together, each once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, Protocol, TypeVar

from pipeline.agents.clients import Replay
from pipeline.core.state import state_key_prefix, state_partition

TP = tuple[str, int]
# (topic, partition or None for the key's default, key, value or None for a tombstone)
Output = tuple[str, int | None, bytes, bytes | None]


class Restorable(Protocol):
    def apply(self, key: bytes, value: bytes | None) -> None: ...


S = TypeVar("S", bound=Restorable)


class ChangelogTable(Generic[S]):
    """The states of the input partitions an agent owns, and the changelog that rebuilds them."""

    def __init__(self, changelog: str, partitions: int, factory: Callable[[str, int], S],
                 replay: Replay) -> None:
        self.changelog = changelog
        self._partitions = partitions
        self._factory = factory
        self._replay = replay
        self._states: dict[TP, S] = {}

    def __getitem__(self, tp: TP) -> S:
        return self._states[tp]

    def __len__(self) -> int:
        return len(self._states)

    def items(self) -> Iterable[tuple[TP, S]]:
        return self._states.items()

    def changes(self, tp: TP, entries: Iterable[tuple[bytes, bytes | None]]) -> Iterator[Output]:
        """The outputs that record ``entries`` (keys with ``tp``'s prefix) in the changelog."""
        partition = state_partition(tp[0], tp[1], self._partitions)
        for key, value in entries:
            yield self.changelog, partition, key, value

    def restore(self, tps: Iterable[TP]) -> None:
        """Build a fresh state for each of ``tps`` and replay its changelog entries into it.

        The changelog partitions holding them are read in one replay (one set of clients).
        """
        owners: dict[bytes, S] = {}
        partitions: set[int] = set()
        for topic, partition in tps:
            state = self._states[(topic, partition)] = self._factory(topic, partition)
            partitions.add(state_partition(topic, partition, self._partitions))
            owners[state_key_prefix(topic, partition)] = state
        if not partitions:
            return

        def route(key: bytes, value: bytes | None) -> None:
            owner = owners.get(key[: key.index(b"|", key.index(b"|") + 1) + 1])
            if owner is not None:
                owner.apply(key, value)

        self._replay(self.changelog, sorted(partitions), route)

    def forget(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self._states.pop(tp, None)
