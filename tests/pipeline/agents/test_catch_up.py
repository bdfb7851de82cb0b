"""Which partitions are paused while a poll is decided: those far behind, when others are not."""

from __future__ import annotations

import pytest

from pipeline.agents.catch_up import CatchUp

BACKLOG, LIVE, OTHER = ("ingest.op-c", 0), ("ingest.op-a", 1), ("ingest.op-b", 2)


def test_a_partition_far_behind_is_paused_when_another_is_not() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 100, LIVE: 7}, {BACKLOG: 2_700, LIVE: 9})
    assert catch_up.behind() == {BACKLOG: 2_600}
    assert catch_up.to_pause({BACKLOG, LIVE, OTHER}) == [BACKLOG]


def test_the_threshold_counts_records_still_to_read() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 100}, {BACKLOG: 149})
    assert catch_up.to_pause({BACKLOG, LIVE}) == []
    catch_up.observe({BACKLOG: 100}, {BACKLOG: 150})
    assert catch_up.to_pause({BACKLOG, LIVE}) == [BACKLOG]


def test_nothing_is_paused_when_every_owned_partition_is_behind() -> None:
    """No partition can starve the others then; pausing would only make each read twice."""
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0, LIVE: 0}, {BACKLOG: 500, LIVE: 80})
    assert catch_up.to_pause({BACKLOG, LIVE}) == []
    assert catch_up.to_pause({BACKLOG, LIVE, OTHER}) == [LIVE, BACKLOG]


def test_a_partition_that_caught_up_is_no_longer_paused() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0}, {BACKLOG: 500})
    catch_up.observe({BACKLOG: 480}, {BACKLOG: 500})
    assert catch_up.behind() == {} and catch_up.to_pause({BACKLOG, LIVE}) == []


def test_a_poll_that_did_not_read_a_partition_leaves_its_figure() -> None:
    """Paused, or behind the others' records in the queue: it is still behind."""
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0}, {BACKLOG: 500})
    catch_up.observe({LIVE: 3}, {LIVE: 3})
    assert catch_up.to_pause({BACKLOG, LIVE}) == [BACKLOG]


def test_an_unknown_end_changes_nothing() -> None:
    """librdkafka's cache has no end before the partition's first fetch (OFFSET_INVALID, -1001)."""
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0}, {BACKLOG: 500})
    catch_up.observe({BACKLOG: 400, LIVE: 1}, {BACKLOG: -1001})
    assert catch_up.behind() == {BACKLOG: 500}


def test_partitions_given_up_are_forgotten_and_never_paused() -> None:
    catch_up = CatchUp(50)
    catch_up.observe({BACKLOG: 0}, {BACKLOG: 500})
    assert catch_up.to_pause({LIVE, OTHER}) == []  # no longer owned, not yet forgotten
    catch_up.forget([BACKLOG])
    assert catch_up.behind() == {}


def test_a_threshold_below_one_record_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 record"):
        CatchUp(0)
