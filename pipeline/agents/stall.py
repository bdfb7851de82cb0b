"""Whether an agent has stalled: records wait in its partitions and it has committed none for long.

The supervisor (pipeline.agents.supervision) replaces an agent blocked in a Kafka call, but an
agent whose consumer simply stops handing over records blocks in nothing: it polls, finds
nothing, and ticks. A stall of that kind was seen once after a broker restart (docs/operations.md,
"A worker that stops making progress"). So an agent that has committed nothing for a while asks
Kafka where its partitions end; if records wait past its committed offsets, it fails, and the
supervisor restarts it with a new consumer, which joins the group afresh and fetches from the
committed offsets: nothing is skipped, and nothing is counted twice (the transactions did not commit).

Pure: the agent passes the offsets (pipeline.agents.transactional).
"""

from __future__ import annotations

from collections.abc import Mapping

TP = tuple[str, int]

# A topic written in transactions ends with a commit marker no consumer is handed: a partition
# read to its end is one record short of it. Two or more past the committed offset is a record.
WAITING_RECORDS = 2


def waiting(committed: Mapping[TP, int], watermarks: Mapping[TP, tuple[int, int]]) -> dict[TP, int]:
    """The partitions with records past their committed offset, and how many (markers included).

    ``watermarks`` are each partition's first and last-stable offsets; a partition without a
    committed offset (negative, or missing) starts at its first, as the agents' consumers do.
    """
    behind = {}
    for tp, (low, high) in watermarks.items():
        start = committed.get(tp, -1)
        if start < 0:
            start = low
        if high - start >= WAITING_RECORDS:
            behind[tp] = high - start
    return behind


def describe(waiting_records: Mapping[TP, int], limit: int = 3) -> str:
    """The partitions waiting the most, for a log line: ``topic/partition (N records)``."""
    worst = sorted(waiting_records.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    more = len(waiting_records) - len(worst)
    text = ", ".join(f"{t}/{p} ({n} records)" for (t, p), n in worst)
    return text + (f" and {more} more" if more > 0 else "")
