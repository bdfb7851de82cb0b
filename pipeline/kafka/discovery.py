"""When a pattern-subscribed consumer should ask for every topic's metadata itself.

A consumer subscribed by regular expression learns of a new matching topic only from a metadata
answer that lists every topic of the cluster: its periodic refresh
(``topic.metadata.refresh.interval.ms``, :attr:`KafkaSettings.metadata_refresh_interval_ms`), or
a ``list_topics()`` the application makes on it (librdkafka re-evaluates the subscription on any
full answer, ``rd_kafka_cgrp_metadata_update_check``). With thousands of topics each such answer
costs the brokers real CPU, so the periodic refresh is slow, and an agent that learns of topics it
is about to read (a new operator's, a topic its writer creates after the reader started) asks
for them itself, soon and then less and less often, until it has seen them or the periodic
refresh would have found them anyway. Pure logic: the agent loop does the asking.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

FIRST_S = 0.5  # the first ask: a topic just created is in the brokers' metadata within moments
GROWTH = 2.0  # each later ask waits twice as long as the one before


@dataclass
class TopicDiscovery:
    """The topics a consumer waits to see in its metadata, and when to ask for it next.

    ``give_up_s``: how long to keep asking for a topic that does not appear (its creator may be
    late or gone); after that the periodic refresh finds it, so this is that refresh's interval.
    """

    give_up_s: float
    first_s: float = FIRST_S
    _waiting: dict[str, float] = field(default_factory=dict)  # topic -> when it was expected
    _next_at: float | None = None
    _step_s: float = 0.0

    def expect(self, topics: Iterable[str], now: float) -> None:
        """``topics`` are about to exist (or exist already): ask soon, whatever was planned."""
        new = [t for t in topics if t not in self._waiting]
        if not new:
            return
        for topic in new:
            self._waiting[topic] = now
        self._step_s = self.first_s
        self._next_at = min(self._next_at, now + self._step_s) if self._next_at is not None \
            else now + self._step_s

    @property
    def waiting(self) -> frozenset[str]:
        return frozenset(self._waiting)

    def due(self, now: float) -> bool:
        """Whether to ask for every topic's metadata now."""
        return self._next_at is not None and now >= self._next_at

    def asked(self, present: Collection[str], now: float) -> frozenset[str]:
        """After an ask, with the topics its answer listed (none if it failed): those seen now."""
        seen = frozenset(t for t in self._waiting if t in present)
        for topic in list(self._waiting):
            if topic in seen or now - self._waiting[topic] >= self.give_up_s:
                del self._waiting[topic]
        if not self._waiting:
            self._next_at = None
            return seen
        self._step_s = min(self._step_s * GROWTH, self.give_up_s)
        self._next_at = now + self._step_s
        return seen
