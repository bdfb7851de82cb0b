"""Whether an agent has stalled: records wait in its partitions and it has committed none for long.

The supervisor (pipeline.agents.supervision) replaces an agent blocked in a Kafka call, but an
agent whose consumer simply stops handing over records blocks in nothing: it polls, finds
nothing, and ticks. A stall of that kind was seen once after a broker restart (docs/operations.md,
"A worker that stops making progress"). So an agent that has committed nothing in a partition
for a while, while it was polling, asks Kafka where that partition's committed records end; if
they end past its committed offset, it reads from there with a consumer of its own, and only
if a record is there does it fail, for the supervisor to restart it with a new consumer (which
joins the group afresh and fetches from the committed offsets: nothing is skipped, and nothing
is counted twice, since the transactions did not commit). The read is needed because offsets a
consumer is never handed also lie past a partition read to its end: the commit markers of
transactions, several producers' interleaved (every validator writes the operator's archive
partition), and aborted transactions' records.

Pure: the agent passes the offsets and the times (pipeline.agents.transactional).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

TP = tuple[str, int]


def past_committed(committed: Mapping[TP, int], stable: Mapping[TP, int]) -> dict[TP, int]:
    """The partitions whose committed records end past the committed offset, with that offset.

    ``stable`` are last stable offsets; a partition never committed (negative, or missing)
    starts at 0, as the agents' consumers do (retention may have removed those records: the
    read finds none then).
    """
    out = {}
    for tp, end in stable.items():
        start = max(committed.get(tp, -1), 0)
        if end > start:
            out[tp] = start
    return out


class Progress:
    """When each owned partition last moved, counted in the time the agent's loop was polling.

    An iteration of the loop longer than ``gap_s`` (a restore in a rebalance, a commit retried,
    a rewind, this watch's own look) does not count: the records of a partition that waited
    behind it are not a stall, and the first polls after it hand over only a batch.
    """

    def __init__(self, gap_s: float) -> None:
        self.gap_s = gap_s
        self._moved: dict[TP, float] = {}
        self._held: dict[TP, float] = {}  # paused on purpose (a backlog giving way), when last
        self._last: float | None = None

    def tick(self, now: float) -> None:
        """The loop came round again at ``now``."""
        if self._last is not None and now - self._last > self.gap_s:
            skipped = now - self._last
            self._moved = {tp: at + skipped for tp, at in self._moved.items()}
        self._last = now

    def moved(self, tps: Iterable[TP], now: float) -> None:
        """Gained, committed, or looked at and found with nothing waiting."""
        for tp in tps:
            self._moved[tp] = now

    def held(self, tps: Iterable[TP], now: float) -> None:
        """Paused while a poll was decided: not handed over on purpose."""
        for tp in tps:
            self._held[tp] = now

    def forget(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self._moved.pop(tp, None)
            self._held.pop(tp, None)

    def idle(self, owned: Collection[TP], now: float, limit_s: float) -> list[TP]:
        """The owned partitions that have not moved for ``limit_s`` and were not held meanwhile."""
        out = []
        for tp in owned:
            moved = self._moved.get(tp, now)
            if now - moved >= limit_s and self._held.get(tp, -1.0) < moved:
                out.append(tp)
        return out


def describe(waiting_from: Mapping[TP, int], stable: Mapping[TP, int], limit: int = 3) -> str:
    """The partitions waiting the most, for a log line: ``topic/partition (from N, ends at M)``."""
    worst = sorted(waiting_from, key=lambda tp: (waiting_from[tp] - stable.get(tp, 0), tp))[:limit]
    more = len(waiting_from) - len(worst)
    text = ", ".join(f"{t}/{p} (committed to {waiting_from[(t, p)]}, records to {stable.get((t, p), '?')})"
                     for t, p in worst)
    return text + (f" and {more} more" if more > 0 else "")
