from registry.core.history import Version, as_of, overlaps, timeline


def v(seq: int, frm: int, to: int | None, rec: int, status: str = "active") -> Version:
    return Version(seq, "licence", "L", "op", frm, to, rec, {"status": status})


def test_a_later_version_overrides_only_its_own_interval() -> None:
    history = [v(1, 0, None, 10), v(2, 50, 80, 20, "suspended")]
    segs = timeline(history)
    assert [(s.start_us, s.end_us, s.version.seq) for s in segs] == [(0, 50, 1), (50, 80, 2), (80, None, 1)]
    assert as_of(history, 60).seq == 2  # type: ignore[union-attr]
    assert as_of(history, 90).seq == 1  # type: ignore[union-attr]


def test_as_known_at_an_earlier_instant_ignores_what_was_recorded_later() -> None:
    history = [v(1, 0, None, 10), v(2, 50, None, 20, "suspended")]
    assert as_of(history, 60, known_at_us=15).seq == 1  # type: ignore[union-attr]
    assert as_of(history, 60, known_at_us=20).seq == 2  # type: ignore[union-attr]
    assert as_of(history, 60, known_at_us=5) is None


def test_recording_order_not_list_order_decides() -> None:
    history = [v(2, 0, None, 20, "revoked"), v(1, 0, None, 10)]
    assert as_of(history, 5).seq == 2  # type: ignore[union-attr]


def test_gaps_are_times_the_entity_was_not_registered() -> None:
    assert as_of([v(1, 10, 20, 1)], 25) is None and as_of([v(1, 10, 20, 1)], 9) is None


def test_overlaps() -> None:
    assert overlaps(0, 10, 9, None) and not overlaps(0, 10, 10, 20) and overlaps(5, None, 0, None)
