"""Which partitions are paused while a poll is decided: those far behind, when another is live."""

from __future__ import annotations

import pytest

from pipeline.agents.catch_up import LIVE_FOR_S, CatchUp

BACKLOG, LIVE, OTHER = ("ingest.op-c", 0), ("ingest.op-a", 1), ("ingest.op-b", 2)
NOW = 1_000.0


def test_a_partition_far_behind_is_paused_while_another_is_live() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 100, LIVE: 7}, {BACKLOG: 2_700, LIVE: 9}, NOW)
    assert catch_up.behind() == {BACKLOG: 2_600}
    assert catch_up.to_pause({BACKLOG, LIVE, OTHER}, NOW) == [BACKLOG]


def test_the_threshold_counts_records_still_to_read() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 100, LIVE: 0}, {BACKLOG: 149, LIVE: 0}, NOW)
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW) == []
    catch_up.observe({BACKLOG: 100}, {BACKLOG: 150}, NOW)
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW) == [BACKLOG]


def test_nothing_is_paused_when_no_partition_with_traffic_is_live() -> None:
    """Every partition read is behind (a saturated bench), the others silent: nobody starves."""
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0, LIVE: 0}, {BACKLOG: 500, LIVE: 80}, NOW)
    assert catch_up.to_pause({BACKLOG, LIVE, OTHER}, NOW) == []  # OTHER owned but never read


def test_a_live_partition_silent_for_long_no_longer_counts() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({LIVE: 5}, {LIVE: 5}, NOW)
    catch_up.observe({BACKLOG: 0}, {BACKLOG: 500}, NOW + 1)
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW + LIVE_FOR_S) == [BACKLOG]
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW + LIVE_FOR_S + 1) == []


def test_a_partition_that_caught_up_is_no_longer_paused_and_is_live() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0, LIVE: 0}, {BACKLOG: 500, LIVE: 0}, NOW)
    catch_up.observe({BACKLOG: 480}, {BACKLOG: 500}, NOW)
    assert catch_up.behind() == {}
    catch_up.observe({LIVE: 0}, {LIVE: 300}, NOW)  # now the other one falls behind
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW) == [LIVE]


def test_a_poll_that_did_not_read_a_partition_leaves_its_figure() -> None:
    """Paused, or behind the others' records in the queue: it is still behind."""
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0}, {BACKLOG: 500}, NOW)
    catch_up.observe({LIVE: 3}, {LIVE: 3}, NOW + 5)
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW + 5) == [BACKLOG]


def test_an_unknown_end_changes_nothing() -> None:
    """librdkafka's cache has no end before the partition's first fetch (OFFSET_INVALID, -1001)."""
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0}, {BACKLOG: 500}, NOW)
    catch_up.observe({BACKLOG: 400, LIVE: 1}, {BACKLOG: -1001}, NOW)
    assert catch_up.behind() == {BACKLOG: 500}
    assert catch_up.to_pause({BACKLOG, LIVE}, NOW) == []  # LIVE's end unknown: not live either


def test_partitions_given_up_are_forgotten_and_never_paused() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0, LIVE: 0}, {BACKLOG: 500, LIVE: 0}, NOW)
    assert catch_up.to_pause({LIVE, OTHER}, NOW) == []  # no longer owned, not yet forgotten
    assert catch_up.to_pause({BACKLOG, OTHER}, NOW) == []  # the live one is another member's
    catch_up.forget([BACKLOG, LIVE])
    assert catch_up.behind() == {}
    catch_up.observe({OTHER: 0}, {OTHER: 0}, NOW)
    assert catch_up.to_pause({BACKLOG, OTHER}, NOW) == []


def test_a_threshold_below_one_record_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 record"):
        CatchUp(0)
