import random

from pipeline.core.dedup import Seen, SeqSet


def test_in_order_traffic_keeps_one_interval() -> None:
    s = SeqSet()
    for seq in range(1, 10_001):
        assert s.check(seq) is Seen.NEW
        s.add(seq)
    assert s.starts == [1] and s.ends == [10_000]
    assert s.check(5_000) is Seen.DUPLICATE
    assert s.open_gaps == 0


def test_out_of_order_fills_gaps_and_merges() -> None:
    s = SeqSet()
    for seq in (1, 2, 5, 6, 9):
        s.add(seq)
    assert s.open_gaps == 2
    for seq in (3, 4, 7, 8):
        assert s.check(seq) is Seen.NEW
        s.add(seq)
    assert (s.starts, s.ends) == ([1], [9])


def test_random_order_is_exact_against_a_set() -> None:
    rng = random.Random(7)
    seqs = [rng.randint(1, 3000) for _ in range(6000)]
    s, truth = SeqSet(), set()
    for seq in seqs:
        expected = Seen.DUPLICATE if seq in truth else Seen.NEW
        assert s.check(seq) is expected
        if expected is Seen.NEW:
            s.add(seq)
            truth.add(seq)
    assert sum(e - b + 1 for b, e in zip(s.starts, s.ends, strict=True)) == len(truth)


def test_closing_gaps_bounds_memory_and_rejects_late_fills() -> None:
    s = SeqSet()
    for seq in range(2, 200, 2):  # every odd seq missing: 99 gaps incl. the leading one
        s.add(seq)
    assert s.open_gaps == 99
    s.close_oldest_gaps(10)
    assert s.open_gaps == 10
    assert len(s.starts) <= 11
    assert s.check(1) is Seen.GAP_EXPIRED  # forgotten gap: rejected, never silently dropped
    assert s.check(2) is Seen.GAP_EXPIRED  # forgotten decided seq: also answered, not dropped
    assert s.check(199) is Seen.NEW
    assert s.check(198) is Seen.DUPLICATE


def test_state_round_trip() -> None:
    s = SeqSet()
    for seq in (1, 2, 3, 7, 9):
        s.add(seq)
    s.close_oldest_gaps(1)
    assert SeqSet.from_state(s.to_state()) == s


def test_take_is_check_then_add() -> None:
    import random

    from pipeline.core.dedup import SeqSet

    rng = random.Random(11)
    fast, slow = SeqSet(), SeqSet()
    for _ in range(5000):
        seq = rng.choice([fast.ends[-1] + 1 if fast.ends else 1, rng.randint(1, 400)])
        expected = slow.check(seq)
        if expected.name == "NEW":
            slow.add(seq)
        assert fast.take(seq) is expected
        assert (fast.starts, fast.ends) == (slow.starts, slow.ends)
        if rng.random() < 0.01:
            fast.close_oldest_gaps(3)
            slow.close_oldest_gaps(3)
