from typing import Any, Literal

import pytest

from pipeline.core.chain import Link, verify
from pipeline.core.processor import Outcome, Processor, make_processor
from pipeline.core.state import PartitionState
from pipeline.settings import TopicSettings, ValidationSettings
from schemas import ARCHIVE_BATCH, EVENT_BATCH, RECEIPT_BATCH, default_codec
from schemas.codec import encode_event_body
from tests.pipeline.core.test_validation import NOW, REGISTRY, event

TOPIC = "dsom.ingest.op-a"
CODEC = default_codec()
Engine = Literal["python", "native"]
ENGINES: tuple[Engine, ...] = ("python", "native")
engines = pytest.mark.parametrize("engine", ENGINES)


def processor(engine: Engine = "python", **validation: Any) -> Processor:
    settings = ValidationSettings(engine=engine, **validation)
    return make_processor(REGISTRY, settings, TopicSettings(), CODEC)


def record(events: list[dict[str, Any]], operator: str = "op-a", source: str = "s1") -> bytes:
    return CODEC.encode(EVENT_BATCH, {"operator_id": operator, "source_id": source,
                                      "sent_at_us": NOW, "events": events})


def run(proc: Processor, state: Any, offset: int, value: bytes, key: bytes = b"s1") -> Outcome:
    return proc.process(state, offset, key, value, NOW)


def receipts_of(out: Outcome) -> dict[str, Any]:
    """The ReceiptBatch the outcome carries, decoded."""
    assert out.receipts_value is not None
    name, batch = CODEC.decode(out.receipts_value)
    assert name == RECEIPT_BATCH and out.receipts_key == (batch["source_id"] or "").encode()
    return batch


def archive_of(out: Outcome) -> dict[str, Any]:
    assert out.archive_value is not None
    name, batch = CODEC.decode(out.archive_value)
    assert name == ARCHIVE_BATCH
    return batch


def statuses(out: Outcome) -> list[tuple[int | None, str, str | None]]:
    return [(r["seq"], r["status"], r["reason"]) for r in receipts_of(out)["receipts"]]


def snapshot(state: Any) -> Any:
    """Either engine's state as plain values: (seq intervals, open bets, chain head); each open
    bet as (offset of its batch, stake or None, kopecks refunded so far)."""
    if isinstance(state, PartitionState):
        assert state.stakes.keys() <= state.bets.keys() and state.refunded.keys() <= state.bets.keys()
        bets = {k: (offset, state.stakes.get(k), state.refunded.get(k, 0))
                for k, offset in state.bets.items()}
        return ({s: (q.starts, q.ends, q.expired_below) for s, q in state.sources.items()},
                bets, (state.chain.index, state.chain.hash))
    return state.snapshot()


@engines
def test_bet_then_win_then_retry(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    bet = event(seq=1, bet_ref="b1")
    win = event(seq=2, kind="WIN", bet_ref="b1", amount=30_000, tax_withheld_pit=5_400,
                tax_withheld_military=1_500)
    out = run(proc, state, 0, record([bet, win]))
    assert statuses(out) == [(1, "ACCEPTED", None), (2, "ACCEPTED", None)]
    assert len(archive_of(out)["events"]) == 2
    assert out.accepted == {"BET": 1, "WIN": 1} and out.events_in == 2
    retry = run(proc, state, 1, record([bet, win]))
    assert retry.duplicates == 2 and retry.receipts_value is None and retry.archive_value is None


@engines
def test_win_without_bet_and_duplicate_bet_ref(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    out = run(proc, state, 0, record([
        event(seq=1, kind="WIN", bet_ref="nope", tax_withheld_pit=0, tax_withheld_military=0),
        event(seq=2, bet_ref="b1"),
        event(seq=3, bet_ref="b1"),
    ]))
    assert statuses(out) == [(1, "REJECTED", "unknown_bet"), (2, "ACCEPTED", None),
                             (3, "REJECTED", "duplicate_bet_ref")]
    assert [r["detail"] for r in receipts_of(out)["receipts"]] == [
        "WIN references bet_ref 'nope', which this source has not placed (or placed beyond the bet horizon)",
        None, "bet_ref 'b1' was already used by an accepted BET"]
    assert out.rejected == {"unknown_bet": 1, "duplicate_bet_ref": 1}


@engines
def test_record_level_rejections(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    assert statuses(run(proc, state, 0, b'{"json": true}')) == [(None, "REJECTED", "unknown_schema")]
    truncated = record([event()])[:-7]
    assert statuses(run(proc, state, 1, truncated)) == [(None, "REJECTED", "malformed")]
    assert statuses(run(proc, state, 2, record([event()]), key=b"other")) == [
        (None, "REJECTED", "wrong_key")]
    wrong_op = run(proc, state, 3, record([event(seq=1), event(seq=2, bet_ref="b2")], operator="op-b"))
    assert statuses(wrong_op) == [(1, "REJECTED", "wrong_operator"), (2, "REJECTED", "wrong_operator")]
    assert wrong_op.archive_value is None
    assert statuses(run(proc, state, 4, record([]))) == [(None, "REJECTED", "empty_batch")]
    small = processor(engine, max_events_per_batch=2)
    too_large = run(small, state, 5, record([event(seq=i) for i in range(5, 8)]))
    assert statuses(too_large) == [(None, "REJECTED", "batch_too_large")]
    assert receipts_of(too_large)["receipts"][0]["detail"] == "3 events; at most 2"
    assert too_large.events_in == 3 and too_large.changelog == []


@engines
def test_archive_chain_verifies_across_records(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    links: list[Link] = []
    for offset in range(5):
        events = [event(seq=offset * 3 + i + 1, bet_ref=f"b{offset}-{i}") for i in range(3)]
        archive = archive_of(run(proc, state, offset, record(events)))
        assert archive["chain_id"] == f"{TOPIC}/0"
        links += [Link(a["chain_index"], a["prev_hash"], a["hash"], a["receipt_id"],
                       encode_event_body(a["event"])) for a in archive["events"]]
    assert verify(links).index == 15
    assert len({link.receipt_id for link in links}) == 15


@engines
def test_state_restored_from_changelog_decides_the_same(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    log: dict[bytes, bytes | None] = {}
    for offset in range(3):
        out = run(proc, state, offset, record([event(seq=offset * 2 + 1, bet_ref=f"b{offset}"),
                                               event(seq=offset * 2 + 4, bet_ref=f"c{offset}")]))
        log.update(out.changelog)  # a compacted topic keeps the last value per key
    restored = proc.new_state(TOPIC, 0)
    for key, value in log.items():
        restored.apply(key, value)
    assert snapshot(restored) == snapshot(state)
    assert len(snapshot(state)[1]) == 6
    win = event(seq=100, kind="WIN", bet_ref="b1", tax_withheld_pit=0, tax_withheld_military=0)
    assert statuses(run(proc, restored, 9, record([win, event(seq=1)]))) == [(100, "ACCEPTED", None)]


@engines
def test_bets_expire_after_the_horizon(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    run(proc, state, 0, record([event(seq=1, bet_ref="old", occurred_at_us=NOW - 6 * 86_400_000_000)]))
    later = NOW + 2 * 86_400_000_000
    win = event(seq=2, kind="WIN", bet_ref="old", occurred_at_us=later - 1,
                tax_withheld_pit=0, tax_withheld_military=0)
    out = proc.process(state, 1, b"s1", record([win]), later)
    assert statuses(out) == [(2, "REJECTED", "unknown_bet")]
    assert (f"{TOPIC}|0|bets|0".encode(), None) in out.changelog  # the tombstone of the expired batch
    assert snapshot(state)[1] == {}


def test_a_refusal_the_diagnosis_cannot_explain_is_logged(monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """The fast path refusing a record the diagnosis finds strict is a bug of ours: the record is
    still rejected (its partition moves on), with a detail that asks to resend, and an error log."""
    from pipeline.core import processor as module

    monkeypatch.setattr(module, "event_bodies", lambda value: None)
    proc = processor("python")
    out = run(proc, proc.new_state(TOPIC, 0), 3, record([event()]))
    assert statuses(out) == [(None, "REJECTED", "malformed")]
    assert receipts_of(out)["receipts"][0]["detail"] == module.UNDECODABLE
    assert "its diagnosis finds it strict" in caplog.text and out.changelog == []


# -- refunds bounded by the stake: refundable = stake - refunds accepted so far --

def refund(seq: int, amount: int, bet_ref: str = "b1", **changes: Any) -> dict[str, Any]:
    return event(seq=seq, kind="REFUND", bet_ref=bet_ref, amount=amount, **changes)


def payout(seq: int, amount: int, bet_ref: str = "b1") -> dict[str, Any]:
    return event(seq=seq, kind="WIN", bet_ref=bet_ref, amount=amount, tax_withheld_pit=0,
                 tax_withheld_military=0)


def details(out: Outcome) -> list[str | None]:
    return [r["detail"] for r in receipts_of(out)["receipts"]]


def refund_key(bet_offset: int, bet_ref: str = "b1") -> bytes:
    return f"{TOPIC}|0|refund|{bet_offset}|{bet_ref}".encode()


@engines
def test_a_refund_above_the_stake_is_rejected(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    bet = run(proc, state, 0, record([event(seq=1, bet_ref="b1", amount=20_000)]))
    assert (f"{TOPIC}|0|bets|0".encode(), f'[["s1","b1",{NOW - 1_000_000},20000]]'.encode()) in bet.changelog
    out = run(proc, state, 1, record([refund(2, 20_001), refund(3, 20_000)]))
    assert statuses(out) == [(2, "REJECTED", "refund_exceeds_stake"), (3, "ACCEPTED", None)]
    assert details(out)[0] == ("refund of 20001 kopecks exceeds the 20000 kopecks still refundable on "
                               "bet_ref 'b1' (stake 20000 kopecks, refunded 0 kopecks)")
    assert out.rejected == {"refund_exceeds_stake": 1} and out.accepted == {"REFUND": 1}
    assert (refund_key(0), b"20000") in out.changelog
    assert snapshot(state)[1] == {("s1", "b1"): (0, 20_000, 20_000)}


@engines
def test_partial_refunds_up_to_the_stake_then_no_more(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    run(proc, state, 0, record([event(seq=1, bet_ref="b1", amount=20_000)]))
    first = run(proc, state, 1, record([refund(2, 5_000)]))
    assert statuses(first) == [(2, "ACCEPTED", None)] and (refund_key(0), b"5000") in first.changelog
    # 5,000 + 15,000 = the stake: refundable 0 after it, so even one kopeck more is refused.
    out = run(proc, state, 2, record([refund(3, 15_001), refund(4, 15_000), refund(5, 1)]))
    assert statuses(out) == [(3, "REJECTED", "refund_exceeds_stake"), (4, "ACCEPTED", None),
                             (5, "REJECTED", "refund_exceeds_stake")]
    assert details(out)[0] == ("refund of 15001 kopecks exceeds the 15000 kopecks still refundable on "
                               "bet_ref 'b1' (stake 20000 kopecks, refunded 5000 kopecks)")
    assert details(out)[2] == ("refund of 1 kopecks exceeds the 0 kopecks still refundable on "
                               "bet_ref 'b1' (stake 20000 kopecks, refunded 20000 kopecks)")
    assert [e for e in out.changelog if b"|refund|" in e[0]] == [(refund_key(0), b"20000")]
    assert snapshot(state)[1][("s1", "b1")] == (0, 20_000, 20_000)


@engines
def test_a_payout_does_not_change_what_is_refundable(engine: Engine) -> None:
    """A dead heat: half the stake void (refunded), half a winning bet paid out above the stake."""
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    run(proc, state, 0, record([event(seq=1, bet_ref="b1", amount=10_000)]))
    out = run(proc, state, 1, record([payout(2, 15_000), refund(3, 5_000), refund(4, 5_001),
                                      refund(5, 4_999), payout(6, 1_000)]))
    assert statuses(out) == [(2, "ACCEPTED", None), (3, "ACCEPTED", None),
                             (4, "REJECTED", "refund_exceeds_stake"), (5, "ACCEPTED", None),
                             (6, "ACCEPTED", None)]
    assert details(out)[2] == ("refund of 5001 kopecks exceeds the 5000 kopecks still refundable on "
                               "bet_ref 'b1' (stake 10000 kopecks, refunded 5000 kopecks)")
    assert snapshot(state)[1][("s1", "b1")] == (0, 10_000, 9_999)


@engines
def test_a_refund_in_the_same_record_as_its_bet(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    out = run(proc, state, 7, record([refund(1, 100, bet_ref="b2"), event(seq=2, bet_ref="b1", amount=10_000),
                                      refund(3, 4_000), event(seq=4, bet_ref="b2", amount=300),
                                      refund(5, 6_001), refund(6, 300, bet_ref="b2"), refund(7, 6_000)]))
    assert statuses(out) == [(1, "REJECTED", "unknown_bet"), (2, "ACCEPTED", None), (3, "ACCEPTED", None),
                             (4, "ACCEPTED", None), (5, "REJECTED", "refund_exceeds_stake"),
                             (6, "ACCEPTED", None), (7, "ACCEPTED", None)]
    # The bets entry first, then each refunded bet once, in the order first refunded, at its total.
    kinds = [key.split(b"|")[2] for key, _ in out.changelog]
    assert kinds == [b"seq", b"bets", b"refund", b"refund", b"chain"]
    assert out.changelog[2:4] == [(refund_key(7), b"10000"), (refund_key(7, "b2"), b"300")]
    assert snapshot(state)[1] == {("s1", "b1"): (7, 10_000, 10_000), ("s1", "b2"): (7, 300, 300)}


@engines
def test_a_rejected_refund_changes_nothing(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    run(proc, state, 0, record([event(seq=1, bet_ref="b1", amount=10_000), refund(2, 2_500)]))
    bets_before = snapshot(state)[1]
    out = run(proc, state, 1, record([refund(3, 7_501), refund(4, 10_000)]))
    assert [r for _, _, r in statuses(out)] == ["refund_exceeds_stake"] * 2
    assert out.archive_value is None
    assert [key for key, _ in out.changelog] == [f"{TOPIC}|0|seq|s1".encode()]  # only the seqs decided
    assert snapshot(state)[1] == bets_before == {("s1", "b1"): (0, 10_000, 2_500)}
    assert statuses(run(proc, state, 2, record([refund(5, 7_500)]))) == [(5, "ACCEPTED", None)]


@engines
def test_a_restored_state_still_bounds_refunds(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    log: dict[bytes, bytes | None] = {}
    for offset, events in enumerate([[event(seq=1, bet_ref="b1", amount=10_000), refund(2, 1_000)],
                                     [event(seq=3, bet_ref="b2", amount=500)], [refund(4, 5_000)]]):
        log.update(run(proc, state, offset, record(events)).changelog)
    assert log[refund_key(0)] == b"6000" and refund_key(1, "b2") not in log
    restored = proc.new_state(TOPIC, 0)
    for key, value in log.items():
        restored.apply(key, value)
    assert snapshot(restored) == snapshot(state)
    assert snapshot(restored)[1] == {("s1", "b1"): (0, 10_000, 6_000), ("s1", "b2"): (1, 500, 0)}
    out = run(proc, restored, 3, record([refund(5, 4_001), refund(6, 4_000), refund(7, 501, bet_ref="b2")]))
    assert statuses(out) == [(5, "REJECTED", "refund_exceeds_stake"), (6, "ACCEPTED", None),
                             (7, "REJECTED", "refund_exceeds_stake")]
    assert details(out)[0] == ("refund of 4001 kopecks exceeds the 4000 kopecks still refundable on "
                               "bet_ref 'b1' (stake 10000 kopecks, refunded 6000 kopecks)")


@engines
def test_bets_logged_without_a_stake_restore_with_refunds_unbounded(engine: Engine) -> None:
    """Entries written before stakes were kept ([source, bet_ref, time]): the stake is unknown."""
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    state.apply(f"{TOPIC}|0|bets|0".encode(), f'[["s1","b1",{NOW - 1_000_000}]]'.encode())
    state.apply(f"{TOPIC}|0|seq|s1".encode(), b'{"s":[1],"e":[1],"x":0}')
    assert snapshot(state)[1] == {("s1", "b1"): (0, None, 0)}
    out = run(proc, state, 1, record([refund(2, 50_000), refund(3, 50_000), payout(4, 1_000)]))
    assert statuses(out) == [(2, "ACCEPTED", None), (3, "ACCEPTED", None), (4, "ACCEPTED", None)]
    assert not [key for key, _ in out.changelog if b"|refund|" in key]  # nothing to bound: not kept
    assert snapshot(state)[1] == {("s1", "b1"): (0, None, 0)}


@engines
def test_expiry_tombstones_the_refund_entries(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    log: dict[bytes, bytes | None] = {}
    old = NOW - 6 * 86_400_000_000
    for offset, events in enumerate([
        [event(seq=1, bet_ref="a", occurred_at_us=old), event(seq=2, bet_ref="b", occurred_at_us=old),
         event(seq=3, bet_ref="c", occurred_at_us=old), refund(4, 100, bet_ref="c", occurred_at_us=old)],
        [refund(5, 200, bet_ref="a")],
        [event(seq=6, bet_ref="d"), refund(7, 300, bet_ref="d")],
    ]):
        log.update(run(proc, state, offset, record(events)).changelog)
    later = NOW + 2 * 86_400_000_000  # the first batch's bets are beyond the horizon, not the third's
    out = proc.process(state, 3, b"s1", record([refund(8, 1, bet_ref="a", occurred_at_us=later - 1)]), later)
    assert statuses(out) == [(8, "REJECTED", "unknown_bet")]
    assert out.changelog[:3] == [(f"{TOPIC}|0|bets|0".encode(), None), (refund_key(0, "a"), None),
                                 (refund_key(0, "c"), None)]
    log.update(out.changelog)
    assert snapshot(state)[1] == {("s1", "d"): (2, 10_000, 300)}
    restored = proc.new_state(TOPIC, 0)
    for key, value in log.items():
        restored.apply(key, value)
    assert snapshot(restored) == snapshot(state)
    assert {k for k, v in log.items() if v is not None and b"|refund|" in k} == {refund_key(2, "d")}
