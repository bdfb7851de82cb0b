from typing import Any

from pipeline.core.chain import Link, verify
from pipeline.core.processor import Outcome, RecordProcessor
from pipeline.core.state import PartitionState
from pipeline.settings import TopicSettings, ValidationSettings
from schemas import EVENT_BATCH, default_codec
from schemas.codec import encode_event_body
from tests.pipeline.core.test_validation import NOW, REGISTRY, event

TOPIC = "dsom.ingest.op-a"
CODEC = default_codec()


def make_processor() -> RecordProcessor:
    return RecordProcessor(REGISTRY, ValidationSettings(), TopicSettings(), CODEC)


def record(events: list[dict[str, Any]], operator: str = "op-a", source: str = "s1") -> bytes:
    return CODEC.encode(EVENT_BATCH, {"operator_id": operator, "source_id": source,
                                      "sent_at_us": NOW, "events": events})


def run(proc: RecordProcessor, state: PartitionState, offset: int, value: bytes,
        key: bytes = b"s1") -> Outcome:
    return proc.process(state, offset, key, value, NOW)


def statuses(out: Outcome) -> list[tuple[int | None, str, str | None]]:
    assert out.receipts is not None
    return [(r["seq"], r["status"], r["reason"]) for r in out.receipts["receipts"]]


def test_bet_then_win_then_retry() -> None:
    proc, state = make_processor(), PartitionState(TOPIC, 0)
    bet = event(seq=1, bet_ref="b1")
    win = event(seq=2, kind="WIN", bet_ref="b1", amount=30_000, tax_withheld_pit=5_400,
                tax_withheld_military=1_500)
    out = run(proc, state, 0, record([bet, win]))
    assert statuses(out) == [(1, "ACCEPTED", None), (2, "ACCEPTED", None)]
    assert out.archive is not None and len(out.archive["events"]) == 2
    retry = run(proc, state, 1, record([bet, win]))
    assert retry.duplicates == 2 and retry.receipts is None and retry.archive is None


def test_win_without_bet_and_duplicate_bet_ref() -> None:
    proc, state = make_processor(), PartitionState(TOPIC, 0)
    out = run(proc, state, 0, record([
        event(seq=1, kind="WIN", bet_ref="nope", tax_withheld_pit=0, tax_withheld_military=0),
        event(seq=2, bet_ref="b1"),
        event(seq=3, bet_ref="b1"),
    ]))
    assert statuses(out) == [(1, "REJECTED", "unknown_bet"), (2, "ACCEPTED", None),
                             (3, "REJECTED", "duplicate_bet_ref")]


def test_record_level_rejections() -> None:
    proc, state = make_processor(), PartitionState(TOPIC, 0)
    assert statuses(run(proc, state, 0, b'{"json": true}')) == [(None, "REJECTED", "unknown_schema")]
    truncated = record([event()])[:-7]
    assert statuses(run(proc, state, 1, truncated)) == [(None, "REJECTED", "malformed")]
    assert statuses(run(proc, state, 2, record([event()]), key=b"other")) == [
        (None, "REJECTED", "wrong_key")]
    wrong_op = run(proc, state, 3, record([event(seq=1), event(seq=2, bet_ref="b2")], operator="op-b"))
    assert statuses(wrong_op) == [(1, "REJECTED", "wrong_operator"), (2, "REJECTED", "wrong_operator")]
    assert wrong_op.archive is None


def test_archive_chain_verifies_across_records() -> None:
    proc, state = make_processor(), PartitionState(TOPIC, 0)
    links: list[Link] = []
    for offset in range(5):
        events = [event(seq=offset * 3 + i + 1, bet_ref=f"b{offset}-{i}") for i in range(3)]
        out = run(proc, state, offset, record(events))
        assert out.archive is not None
        links += [Link(a["chain_index"], a["prev_hash"], a["hash"], a["receipt_id"],
                       encode_event_body(a["event"])) for a in out.archive["events"]]
    assert verify(links).index == 15
    assert len({link.receipt_id for link in links}) == 15


def test_state_restored_from_changelog_decides_the_same() -> None:
    proc, state = make_processor(), PartitionState(TOPIC, 0)
    log: dict[bytes, bytes | None] = {}
    for offset in range(3):
        out = run(proc, state, offset, record([event(seq=offset * 2 + 1, bet_ref=f"b{offset}"),
                                               event(seq=offset * 2 + 4, bet_ref=f"c{offset}")]))
        log.update(out.changelog)  # a compacted topic keeps the last value per key
    restored = PartitionState(TOPIC, 0)
    for key, value in log.items():
        restored.apply(key, value)
    assert restored.sources == state.sources
    assert restored.chain == state.chain
    assert restored.bets == state.bets
    win = event(seq=100, kind="WIN", bet_ref="b1", tax_withheld_pit=0, tax_withheld_military=0)
    assert statuses(run(proc, restored, 9, record([win, event(seq=1)]))) == [(100, "ACCEPTED", None)]


def test_bets_expire_after_the_horizon() -> None:
    proc, state = make_processor(), PartitionState(TOPIC, 0)
    run(proc, state, 0, record([event(seq=1, bet_ref="old", occurred_at_us=NOW - 6 * 86_400_000_000)]))
    later = NOW + 2 * 86_400_000_000
    win = event(seq=2, kind="WIN", bet_ref="old", occurred_at_us=later - 1,
                tax_withheld_pit=0, tax_withheld_military=0)
    out = proc.process(state, 1, b"s1", record([win]), later)
    assert statuses(out) == [(2, "REJECTED", "unknown_bet")]
    assert any(value is None for _, value in out.changelog)  # the tombstone of the expired batch
