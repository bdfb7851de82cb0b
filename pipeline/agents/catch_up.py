"""Which partitions a consumer stops fetching while it decides a poll: those catching up.

An agent's consumer hands over records first in, first out over all its partitions, and
librdkafka stops fetching *every* partition while that queue holds ``queued.max.messages.kbytes``
(librdkafka's ``rd_kafka_toppar_fetch_decide``: the check is on the consumer's one queue). A
partition with a backlog behind it (an operator back from an outage, sending 30 hours at full
speed) refills the queue the moment a poll takes from it: the other partitions' records wait
behind it, and their fetches find the queue full (docs/operations.md, "Backlog after an
outage"). So while a poll is decided, the partitions with at least ``threshold`` records still
to read are paused, provided an owned partition is live (read lately with fewer behind) and
has records the polls have not handed over yet: librdkafka then drops their read-ahead from the
queue and the others are fetched into it, ahead of the backlog. They are resumed before the
transaction commits, so their read-ahead refills during the commit's wait.

Pure: the agent passes what its polls read and the consumer's cached high watermarks, and
pauses and resumes (pipeline.agents.transactional).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping

TP = tuple[str, int]


# How long a partition read with few records behind counts as live: one that may wait behind a
# backlog. Longer than a backlog's transactions (seconds), so a live partition is still one when
# its next records come; an operator silent that long has nothing waiting to starve.
LIVE_FOR_S = 30.0


class CatchUp:
    """The owned partitions a poll found at least ``threshold`` records behind their end."""

    def __init__(self, threshold: int) -> None:
        if threshold < 1:
            raise ValueError(f"a catch-up threshold is at least 1 record, not {threshold}")
        self.threshold = threshold
        self._behind: dict[TP, int] = {}  # partition -> records still to read, at its last poll
        # partition -> when a poll last read it with few behind, and up to which offset
        self._live: dict[TP, tuple[float, int]] = {}

    def observe(self, read_to: Mapping[TP, int], ends: Mapping[TP, int], now: float) -> None:
        """At ``now`` (seconds), a poll read each partition of ``read_to`` up to that offset.

        ``ends`` are their ends; one not known (librdkafka's cache has none yet: negative, or
        missing) leaves the partition's last figure as it was.
        """
        for tp, offset in read_to.items():
            end = ends.get(tp, -1)
            if end < 0:
                continue
            if end - offset >= self.threshold:
                self._behind[tp] = end - offset
                self._live.pop(tp, None)
            else:
                self._behind.pop(tp, None)
                self._live[tp] = (now, offset)

    def behind(self) -> dict[TP, int]:
        """The partitions catching up, with how many records each had still to read."""
        return dict(self._behind)

    def to_pause(self, owned: Collection[TP], now: float, end_of: Callable[[TP], int]) -> list[TP]:
        """The owned partitions catching up, if an owned live partition has records waiting.

        A live partition was read in the last :data:`LIVE_FOR_S` with fewer than ``threshold``
        records behind; ``end_of`` gives its end as the consumer last saw it (negative: not
        known). Records beyond what the polls read are waiting for their turn, behind the
        backlog's in the queue or in fetches the full queue holds back. When no live partition
        has any (every partition with traffic is behind, as in a saturated bench, or the live
        ones are idle), nobody is starved and pausing would only make the consumer fetch its
        read-ahead twice.
        """
        behind = sorted(tp for tp in self._behind if tp in owned)
        if not behind:
            return []
        for tp, (at, read_to) in self._live.items():
            if tp in owned and now - at <= LIVE_FOR_S and end_of(tp) > read_to:
                return behind
        return []

    def forget(self, tps: Iterable[TP]) -> None:
        """Partitions no longer owned (a rebalance took them)."""
        for tp in tps:
            self._behind.pop(tp, None)
            self._live.pop(tp, None)
