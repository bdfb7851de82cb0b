from pipeline.agents.stall import Progress, describe, past_committed


def test_committed_records_ending_past_the_committed_offset() -> None:
    stable = {("in", 0): 10, ("in", 1): 10, ("in", 2): 0, ("in", 3): 500}
    committed = {("in", 0): 4, ("in", 1): 10, ("in", 3): -1001}
    # Never committed: from 0 (retention may have removed those: the read finds none then).
    assert past_committed(committed, stable) == {("in", 0): 4, ("in", 3): 0}


def test_progress_counts_only_the_time_the_loop_was_polling() -> None:
    progress = Progress(gap_s=5.0)
    a, b = ("in", 0), ("in", 1)
    progress.tick(0.0)
    progress.moved([a, b], 0.0)
    for t in range(1, 101):  # polls a second apart: 100 s of polling
        progress.tick(float(t))
    progress.moved([b], 100.0)
    assert progress.idle([a, b], 100.0, limit_s=90.0) == [a]
    progress.tick(160.0)  # a restore held the loop 60 s: not counted
    assert progress.idle([a, b], 160.0, limit_s=90.0) == [a]
    assert progress.idle([a, b], 160.0, limit_s=101.0) == []


def test_a_partition_held_back_on_purpose_is_not_idle() -> None:
    progress = Progress(gap_s=5.0)
    a = ("in", 0)
    progress.moved([a], 0.0)
    progress.held([a], 50.0)  # paused while a poll was decided: a backlog giving way
    assert progress.idle([a], 100.0, limit_s=90.0) == []
    progress.moved([a], 100.0)  # looked at
    assert progress.idle([a], 200.0, limit_s=90.0) == [a]
    progress.forget([a])
    assert progress.idle([a], 300.0, limit_s=90.0) == []  # not owned: nothing known


def test_the_log_line_names_the_partitions_waiting_most() -> None:
    waiting = {("a", 0): 3, ("b", 0): 50, ("c", 1): 7, ("d", 0): 2}
    stable = {("a", 0): 4, ("b", 0): 60, ("c", 1): 100, ("d", 0): 3}
    assert describe(waiting, stable, limit=2) == ("c/1 (committed to 7, records to 100), "
                                                  "b/0 (committed to 50, records to 60) and 2 more")
