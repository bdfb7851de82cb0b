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
    """Either engine's state as plain values: (seq intervals, open bets, chain head)."""
    if isinstance(state, PartitionState):
        return ({s: (q.starts, q.ends, q.expired_below) for s, q in state.sources.items()},
                dict(state.bets), (state.chain.index, state.chain.hash))
    return state.snapshot()


def windows(state: Any) -> dict[str, tuple[bytes, list[tuple[int, int, int, int]]]]:
    """Either engine's content windows: {source: (digests oldest first, [(offset, index, seq, length)])}."""
    if isinstance(state, PartitionState):
        return {s: (w.digests(), [(o, i, q, n) for o, i, q, n in w.runs]) for s, w in state.windows.items()}
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
    assert snapshot(restored) == snapshot(state) and windows(restored) == windows(state)
    assert len(snapshot(state)[1]) == 6
    win = event(seq=100, kind="WIN", bet_ref="b1", tax_withheld_pit=0, tax_withheld_military=0)
    assert statuses(run(proc, restored, 9, record([win, event(seq=1, bet_ref="b0")]))) == [
        (100, "ACCEPTED", None)]


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
