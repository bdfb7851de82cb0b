import base64
from typing import Any, Literal

import orjson
import pytest

from pipeline.core.chain import Link, links_of, verify
from pipeline.core.conflicts import content_digest
from pipeline.core.processor import Outcome, Processor, make_processor
from pipeline.core.receipts import receipt_id
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


def windows(state: Any) -> dict[str, tuple[bytes, list[tuple[int, int, int, int]], list[int]]]:
    """Either engine's content windows: {source: (digests oldest first, [(offset, index, seq,
    length)], records gone whose tombstones are still to be written)}."""
    if isinstance(state, PartitionState):
        return {s: (w.digests(), [(o, i, q, n) for o, i, q, n in w.runs], list(w.gone))
                for s, w in state.windows.items()}
    return state.windows()  # type: ignore[no-any-return]


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
    assert retry.duplicates == 2 and retry.archive_value is None and not retry.accepted | retry.rejected
    # each repeat is answered: DUPLICATE, naming the first's receipt; its own ID is where it was sent
    assert statuses(retry) == [(1, "DUPLICATE", None), (2, "DUPLICATE", None)]
    assert firsts(retry) == [receipt_id(TOPIC, 0, 0, 0), receipt_id(TOPIC, 0, 0, 1)]
    assert [r["receipt_id"] for r in receipts_of(retry)["receipts"]] == [
        receipt_id(TOPIC, 0, 1, 0), receipt_id(TOPIC, 0, 1, 1)]
    assert details(retry)[0] == duplicate_detail_of(1, 0, 0)


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
        links += links_of(archive)
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
    assert snapshot(restored) == snapshot(state) and windows(restored) == windows(state)
    assert len(snapshot(state)[1]) == 6
    win = event(seq=100, kind="WIN", bet_ref="b1", tax_withheld_pit=0, tax_withheld_military=0)
    again = run(proc, restored, 9, record([win, event(seq=1, bet_ref="b0")]))
    assert statuses(again) == [(100, "ACCEPTED", None), (1, "DUPLICATE", None)]
    assert firsts(again) == [None, receipt_id(TOPIC, 0, 0, 0)]


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


# -- conflicting re-sends: a decided event ID sent again with other content --

def deposit(seq: int, **changes: Any) -> dict[str, Any]:
    return event(**({"seq": seq, "kind": "DEPOSIT", "bet_ref": None, "operator_ref": f"tx-{seq}"} | changes))


# -- refunds bounded by the stake: refundable = stake - refunds accepted so far --

def refund(seq: int, amount: int, bet_ref: str = "b1", **changes: Any) -> dict[str, Any]:
    return event(seq=seq, kind="REFUND", bet_ref=bet_ref, amount=amount, **changes)


def payout(seq: int, amount: int, bet_ref: str = "b1") -> dict[str, Any]:
    return event(seq=seq, kind="WIN", bet_ref=bet_ref, amount=amount, tax_withheld_pit=0,
                 tax_withheld_military=0)


def details(out: Outcome) -> list[str | None]:
    return [r["detail"] for r in receipts_of(out)["receipts"]]


def firsts(out: Outcome) -> list[str | None]:
    return [r["first_receipt_id"] for r in receipts_of(out)["receipts"]]


def duplicate_detail_of(seq: int, offset: int, index: int) -> str:
    rid = receipt_id(TOPIC, 0, offset, index)
    return f"seq {seq} was already decided (receipt {rid}); this repeat counts nowhere"


def conflict_detail_of(seq: int, offset: int, index: int) -> str:
    rid = receipt_id(TOPIC, 0, offset, index)
    return (f"seq {seq} was already decided with other content (receipt {rid}); that first event "
            "stands: a changed event needs a new seq")


def archived(outs: list[Outcome]) -> list[tuple[int, int]]:
    """(seq, amount) of every event archived by ``outs``."""
    return [(a["event"]["seq"], a["event"]["amount"]) for o in outs if o.archive_value
            for a in archive_of(o)["events"]]


def dig_entries(out: Outcome) -> list[tuple[bytes, Any]]:
    """The outcome's content-digest changelog entries: (key after the prefix, decoded value)."""
    prefix = f"{TOPIC}|0|".encode()
    return [(k[len(prefix):], v if v is None else orjson.loads(v))
            for k, v in out.changelog if k.startswith(prefix + b"dig|")]


@engines
def test_an_identical_retry_is_a_duplicate_a_changed_one_conflicts(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    first = [event(seq=1, bet_ref="b1"), deposit(2), deposit(3, amount=0)]  # seq 3: non_positive_amount
    outs = [run(proc, state, 0, record(first))]
    assert statuses(outs[0]) == [(1, "ACCEPTED", None), (2, "ACCEPTED", None),
                                 (3, "REJECTED", "non_positive_amount")]
    retry = run(proc, state, 1, record(first))  # byte for byte: a plain repeat
    assert retry.duplicates == 3 and retry.archive_value is None and retry.changelog == [
        (f"{TOPIC}|0|seq|s1".encode(), b'{"s":[1],"e":[3],"x":0}')]
    # a rejected event's repeat is a DUPLICATE too: it names the rejection, which stands
    assert statuses(retry) == [(q, "DUPLICATE", None) for q in (1, 2, 3)]
    assert firsts(retry) == [receipt_id(TOPIC, 0, 0, i) for i in range(3)]
    changed = [deposit(2, amount=20_000), event(seq=1, bet_ref="b1"), deposit(3, amount=30_000),
               deposit(4)]
    outs.append(run(proc, state, 2, record(changed)))
    # seq 2 with another amount; seq 1 as it was; seq 3 corrected without a new seq: also a conflict
    assert statuses(outs[-1]) == [(2, "REJECTED", "conflicting_duplicate"), (1, "DUPLICATE", None),
                                  (3, "REJECTED", "conflicting_duplicate"), (4, "ACCEPTED", None)]
    assert [details(outs[-1])[i] for i in (0, 2)] == [conflict_detail_of(2, 0, 1),
                                                      conflict_detail_of(3, 0, 2)]
    assert firsts(outs[-1]) == [receipt_id(TOPIC, 0, 0, i) for i in (1, 0, 2)] + [None]
    assert [r["amount"] for r in receipts_of(outs[-1])["receipts"]] == [20_000, 10_000, 30_000, 10_000]
    assert outs[-1].duplicates == 1 and outs[-1].rejected == {"conflicting_duplicate": 2}
    assert outs[-1].accepted == {"DEPOSIT": 1}
    # a conflicting event sent again is answered again; the first stays the one counted
    outs.append(run(proc, state, 3, record([deposit(2, amount=20_000)])))
    assert statuses(outs[-1]) == [(2, "REJECTED", "conflicting_duplicate")]
    assert details(outs[-1]) == [conflict_detail_of(2, 0, 1)]
    assert outs[-1].archive_value is None
    assert archived(outs) == [(1, 10_000), (2, 10_000), (4, 10_000)]
    assert outs[-1].changelog == [(f"{TOPIC}|0|seq|s1".encode(), b'{"s":[1],"e":[4],"x":0}')]


@engines
def test_a_conflict_in_the_same_record(engine: Engine) -> None:
    """Two events with one seq in one record: the first decides it, the second conflicts (or, if
    identical to the first, is a plain repeat)."""
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    out = run(proc, state, 5, record([deposit(7), deposit(7, amount=1), deposit(8), deposit(7)]))
    assert statuses(out) == [(7, "ACCEPTED", None), (7, "REJECTED", "conflicting_duplicate"),
                             (8, "ACCEPTED", None), (7, "DUPLICATE", None)]
    assert details(out)[1] == conflict_detail_of(7, 5, 0)
    assert details(out)[3] == duplicate_detail_of(7, 5, 0)
    assert out.duplicates == 1 and archived([out]) == [(7, 10_000), (8, 10_000)]
    # the record's entry: events 0 and 2 decided seqs 7 and 8 (two runs), their digests
    [(key, doc)] = dig_entries(out)
    assert key == b"dig|5|s1" and doc["r"] == [[0, 7, 1], [2, 8, 1]]
    assert base64.b64decode(doc["d"]) == b"".join(
        content_digest(encode_event_body(e)) for e in (deposit(7), deposit(8)))


@engines
def test_conflicts_are_found_after_a_restore_from_the_changelog(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state(TOPIC, 0)
    log: dict[bytes, bytes | None] = {}
    for offset in range(4):
        seqs = range(3 * offset + 1, 3 * offset + 4)
        log.update(run(proc, state, offset, record([deposit(q) for q in seqs])).changelog)
    restored = proc.new_state(TOPIC, 0)
    for key, value in log.items():
        restored.apply(key, value)
    assert windows(restored) == windows(state) and snapshot(restored) == snapshot(state)
    out = run(proc, restored, 9, record([deposit(5), deposit(11, amount=3), deposit(13)]))
    assert statuses(out) == [(5, "DUPLICATE", None), (11, "REJECTED", "conflicting_duplicate"),
                             (13, "ACCEPTED", None)]
    assert details(out)[:2] == [duplicate_detail_of(5, 1, 1), conflict_detail_of(11, 3, 1)]
    assert out.duplicates == 1


@engines
def test_repeats_older_than_the_window_are_unnamed_duplicates(engine: Engine) -> None:
    """Only the last ``conflict_window_per_source`` decided events of a source are compared:
    an older seq repeated with other content is a DUPLICATE, as any repeat, whose first
    receipt is not named (nothing says where it was decided)."""
    proc = processor(engine, conflict_window_per_source=3)
    state = proc.new_state(TOPIC, 0)
    run(proc, state, 0, record([deposit(q) for q in (1, 2, 3, 4, 5)]))
    out = run(proc, state, 1, record([deposit(q, amount=7) for q in (1, 2, 3, 4, 5)]))
    assert statuses(out) == ([(q, "DUPLICATE", None) for q in (1, 2)]
                             + [(q, "REJECTED", "conflicting_duplicate") for q in (3, 4, 5)])
    assert firsts(out)[:2] == [None, None] and out.duplicates == 2
    assert details(out)[0] == ("seq 1 was decided before the last 3 events dsom keeps per source, so its "
                               "receipt is not named here (find it by source_id and seq); this repeat "
                               "counts nowhere")
    off = processor(engine, conflict_window_per_source=0)  # none kept: every repeat is silent
    state = off.new_state(TOPIC, 0)
    first = run(off, state, 0, record([deposit(1)]))
    assert dig_entries(first) == []
    out = run(off, state, 1, record([deposit(1, amount=7)]))
    assert out.duplicates == 1 and statuses(out) == [(1, "DUPLICATE", None)] and windows(state) == {}
    assert firsts(out) == [None]


@engines
def test_records_whose_events_left_the_window_are_tombstoned(engine: Engine) -> None:
    proc = processor(engine, conflict_window_per_source=3)
    state = proc.new_state(TOPIC, 0)
    outs = [run(proc, state, offset, record([deposit(q) for q in seqs]))
            for offset, seqs in enumerate([(1, 2), (3, 4), (5, 6), (7,), (8,)])]
    digest = {q: content_digest(encode_event_body(deposit(q))) for q in range(1, 9)}

    def entry(offset: int, runs: list[list[int]], seqs: list[int]) -> tuple[bytes, Any]:
        return (f"dig|{offset}|s1".encode(),
                {"r": runs, "d": base64.b64encode(b"".join(digest[q] for q in seqs)).decode()})

    assert [dig_entries(o) for o in outs] == [
        [entry(0, [[0, 1, 2]], [1, 2])],
        [entry(1, [[0, 3, 2]], [3, 4])],  # seq 1 left: record 0 keeps seq 2
        [(b"dig|0|s1", None), entry(2, [[0, 5, 2]], [5, 6])],  # record 0 left whole
        [(b"dig|1|s1", None), entry(3, [[0, 7, 1]], [7])],
        [entry(4, [[0, 8, 1]], [8])],  # record 2 keeps seq 6
    ]
    assert windows(state) == {"s1": (b"".join(digest[q] for q in (6, 7, 8)),
                                     [(2, 1, 6, 1), (3, 0, 7, 1), (4, 0, 8, 1)], [])}
    # a record larger than the window keeps only its newest events, and says so in its entry
    out = run(proc, state, 5, record([deposit(q) for q in range(9, 14)]))
    newest = b"".join(content_digest(encode_event_body(deposit(q))) for q in (11, 12, 13))
    assert dig_entries(out) == [(b"dig|2|s1", None), (b"dig|3|s1", None), (b"dig|4|s1", None),
                                (b"dig|5|s1", {"r": [[2, 11, 3]], "d": base64.b64encode(newest).decode()})]


@engines
def test_a_shorter_window_on_restore_tombstones_what_it_drops(engine: Engine) -> None:
    """The window's length applies on restore: records a shorter window drops whole have no
    tombstone yet; the source's next record writes them."""
    proc = processor(engine, conflict_window_per_source=4)
    state = proc.new_state(TOPIC, 0)
    log: dict[bytes, bytes | None] = {}
    for offset, seqs in enumerate([(1, 2), (3, 4), (5, 6)]):
        log.update(run(proc, state, offset, record([deposit(q) for q in seqs])).changelog)
    assert [k for k, v in log.items() if b"|dig|" in k and v is not None] == [
        f"{TOPIC}|0|dig|{o}|s1".encode() for o in (1, 2)]  # record 0 left whole, 1 and 2 are live
    shorter = processor(engine, conflict_window_per_source=2)
    restored = shorter.new_state(TOPIC, 0)
    for key, value in log.items():
        restored.apply(key, value)
    assert [(runs, gone) for _, runs, gone in windows(restored).values()] == [([(2, 0, 5, 2)], [1])]
    out = run(shorter, restored, 3, record([deposit(7)]))
    assert dig_entries(out) == [(b"dig|1|s1", None), (b"dig|3|s1", {
        "r": [[0, 7, 1]], "d": base64.b64encode(content_digest(encode_event_body(deposit(7)))).decode()})]
    assert [gone for _, _, gone in windows(restored).values()] == [[]]


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
    assert kinds == [b"seq", b"bets", b"refund", b"refund", b"chain", b"dig"]
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
    # only the seqs decided and their contents (for conflicting re-sends): no bet, refund or chain
    assert [key for key, _ in out.changelog] == [f"{TOPIC}|0|seq|s1".encode(), f"{TOPIC}|0|dig|1|s1".encode()]
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
