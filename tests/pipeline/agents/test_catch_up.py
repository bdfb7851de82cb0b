"""Which partitions are paused while a poll is decided: those far behind, when a live one waits."""

from __future__ import annotations

import pytest

from pipeline.agents.catch_up import LIVE_FOR_S, CatchUp

BACKLOG, LIVE, OTHER = ("ingest.op-c", 0), ("ingest.op-a", 1), ("ingest.op-b", 2)
NOW = 1_000.0
ENDS = {BACKLOG: 2_700, LIVE: 9, OTHER: 0}  # as the consumer last saw them


def end_of(tp: tuple[str, int]) -> int:
    return ENDS.get(tp, -1001)


def test_a_partition_far_behind_is_paused_while_a_live_one_has_records_waiting() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 100, LIVE: 7}, ENDS, NOW)
    assert catch_up.behind() == {BACKLOG: 2_600}
    assert catch_up.to_pause({BACKLOG, LIVE, OTHER}, NOW, end_of) == [BACKLOG]


def test_nothing_is_paused_while_the_live_partitions_have_nothing_waiting() -> None:
    """Caught up and idle (the tail of a saturated bench): nobody starves, and a pause refetches."""
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 100, LIVE: 9}, ENDS, NOW)
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW, end_of) == []
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW, lambda tp: 10 if tp == LIVE else -1) == [BACKLOG]


def test_the_threshold_counts_records_still_to_read() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 2_651, LIVE: 7}, ENDS, NOW)
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW, end_of) == []  # 49 behind
    catch_up.observe({BACKLOG: 2_650}, ENDS, NOW)
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW, end_of) == [BACKLOG]  # 50


def test_nothing_is_paused_when_no_partition_with_traffic_is_live() -> None:
    """Every partition read is behind (a saturated bench), the others silent: nobody starves."""
    catch_up = CatchUp(5)
    catch_up.observe({BACKLOG: 0, LIVE: 0}, ENDS, NOW)
    assert catch_up.to_pause({BACKLOG, LIVE, OTHER}, NOW, end_of) == []  # OTHER owned, never read


def test_a_live_partition_read_long_ago_no_longer_counts() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({LIVE: 7}, ENDS, NOW)
    catch_up.observe({BACKLOG: 0}, ENDS, NOW + 1)
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW + LIVE_FOR_S, end_of) == [BACKLOG]
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW + LIVE_FOR_S + 1, end_of) == []


def test_a_partition_that_caught_up_is_no_longer_paused_and_is_live() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0, LIVE: 7}, ENDS, NOW)
    catch_up.observe({BACKLOG: 2_690}, ENDS, NOW)
    assert catch_up.behind() == {}
    catch_up.observe({LIVE: 0}, {LIVE: 300}, NOW)  # now the other one falls behind
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW, lambda tp: 2_700) == [LIVE]


def test_a_poll_that_did_not_read_a_partition_leaves_its_figure() -> None:
    """Paused, or behind the others' records in the queue: it is still behind."""
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0}, ENDS, NOW)
    catch_up.observe({LIVE: 3}, ENDS, NOW + 5)
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW + 5, end_of) == [BACKLOG]


def test_an_unknown_end_changes_nothing() -> None:
    """librdkafka's cache has no end before the partition's first fetch (OFFSET_INVALID, -1001)."""
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0}, ENDS, NOW)
    catch_up.observe({BACKLOG: 400, LIVE: 1}, {BACKLOG: -1001}, NOW)
    assert catch_up.behind() == {BACKLOG: 2_700}
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW, end_of) == []  # LIVE's end unknown: not live


def test_partitions_given_up_are_forgotten_and_never_paused() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0, LIVE: 7}, ENDS, NOW)
    assert catch_up.to_pause({LIVE, OTHER}, NOW, end_of) == []  # no longer owned, not yet forgotten
    assert catch_up.to_pause({BACKLOG, OTHER}, NOW, end_of) == []  # the live one is another member's
    catch_up.forget([BACKLOG, LIVE])
    assert catch_up.behind() == {}


def test_a_threshold_below_one_record_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 record"):
        CatchUp(0)
