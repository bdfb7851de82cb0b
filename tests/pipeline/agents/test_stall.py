from pipeline.agents.stall import describe, waiting


def test_records_past_the_committed_offset_wait() -> None:
    watermarks = {("in", 0): (0, 10), ("in", 1): (0, 10), ("in", 2): (0, 10)}
    committed = {("in", 0): 4, ("in", 1): 9, ("in", 2): 10}
    # 9 of 10: only the commit marker of the last transaction is left, which no consumer is handed.
    assert waiting(committed, watermarks) == {("in", 0): 6}


def test_a_partition_never_committed_starts_at_its_first_offset() -> None:
    # Retention deleted what an idle partition held: nothing waits, though nothing was ever committed.
    assert waiting({}, {("in", 0): (500, 500)}) == {}
    assert waiting({("in", 0): -1001}, {("in", 0): (500, 503)}) == {("in", 0): 3}


def test_the_log_line_names_the_partitions_waiting_most() -> None:
    behind = {("a", 0): 3, ("b", 0): 50, ("c", 1): 7, ("d", 0): 2}
    assert describe(behind, limit=2) == "b/0 (50 records), c/1 (7 records) and 2 more"
    assert describe({("a", 0): 3}) == "a/0 (3 records)"
