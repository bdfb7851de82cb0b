"""The raw event walker (the strict check) and the archive writer agree byte for byte with fastavro."""

from __future__ import annotations

from typing import Any

from pipeline.core.chain import links_of, verify
from schemas import ARCHIVE_BATCH, EVENT_BATCH, default_codec
from schemas.codec import encode_event_body, load_type
from schemas.raw import _string, encode_archive_batch, event_bodies, zigzag
from tests.pipeline.core.test_processor import Engine, archive_of, engines, processor, statuses
from tests.pipeline.core.test_validation import NOW, event

CODEC = default_codec()


def batch(events: list[dict[str, Any]]) -> bytes:
    return CODEC.encode(EVENT_BATCH, {"operator_id": "op-a", "source_id": "s1", "sent_at_us": NOW,
                                      "events": events})


def by_hand(bodies: list[bytes], blocks: list[int] | None = None, sized: bool = False,
            size_error: int = 0) -> bytes:
    """An EventBatch written by hand: ``bodies`` in one block, or in blocks of the given sizes;
    ``sized``: each block with its byte size (a negative count), off by ``size_error``."""
    head = load_type(EVENT_BATCH).header + _string("op-a") + _string("s1") + zigzag(NOW)
    out, i = [head], 0
    for count in blocks or ([len(bodies)] if bodies else []):
        items = b"".join(bodies[i:i + count])
        out += [zigzag(-count) + zigzag(len(items) + size_error) if sized else zigzag(count), items]
        i += count
    return b"".join([*out, b"\x00"])


EVENTS = [
    event(seq=1),
    event(seq=2**40, amount=-5, operator_ref="ґанок-юнікод " * 3, round_ref=None, bet_ref=None),
    event(seq=3, kind="WIN", tax_withheld_pit=0, tax_withheld_military=2**62, occurred_at_us=-1),
    event(seq=4, equipment_id="", establishment_id="x" * 300),
]


def test_event_bodies_are_the_canonical_encodings() -> None:
    assert event_bodies(batch(EVENTS)) == [encode_event_body(e) for e in EVENTS]
    assert event_bodies(batch([event()])) == [encode_event_body(event())]
    assert event_bodies(by_hand([])) == []


def test_blocks_are_strict_and_walk_to_the_same_bodies() -> None:
    bodies = [encode_event_body(e) for e in EVENTS]
    assert event_bodies(by_hand(bodies)) == bodies
    for blocks in ([2, 2], [1, 1, 1, 1], [3, 1]):
        assert event_bodies(by_hand(bodies, blocks)) == bodies
        assert event_bodies(by_hand(bodies, blocks, sized=True)) == bodies
    for error in (-1, 1, -len(b"".join(bodies[:2])) - 1):
        assert event_bodies(by_hand(bodies, [2, 2], sized=True, size_error=error)) is None


def test_anything_not_strict_is_none() -> None:
    bodies = [encode_event_body(e) for e in EVENTS]
    overlong_seq = b"\x82\x00" + bodies[0][1:]  # seq 1 written in two bytes
    assert CODEC.decode(by_hand([overlong_seq]))[1]["events"][0]["seq"] == 1  # valid Avro all the same
    assert event_bodies(by_hand([overlong_seq])) is None
    assert event_bodies(batch(EVENTS)[:-3]) is None  # truncated
    assert event_bodies(batch(EVENTS) + b"\x00") is None  # trailing
    head = load_type(EVENT_BATCH).header
    overlong_length = by_hand(bodies).replace(head + b"\x08op-a", head + b"\x88\x00op-a", 1)
    assert CODEC.decode(overlong_length)[1]["operator_id"] == "op-a"
    assert event_bodies(overlong_length) is None
    sent = zigzag(NOW)
    overlong_sent = by_hand(bodies).replace(sent, sent[:-1] + bytes([sent[-1] | 0x80, 0]), 1)
    assert CODEC.decode(overlong_sent)[1]["sent_at_us"] == NOW
    assert event_bodies(overlong_sent) is None
    overlong_count = by_hand(bodies)[:-len(b"".join(bodies)) - 2] + b"\x88\x00" + b"".join(bodies) + b"\x00"
    assert CODEC.decode(overlong_count)[1]["events"] and event_bodies(overlong_count) is None


def test_values_fastavro_reads_differently_are_not_strict() -> None:
    canonical = encode_event_body(event(seq=1, kind="WITHDRAWAL", bet_ref=None, game_type=None))
    assert canonical[:7] == b"\x02\x08tx-1\x08"  # seq 1, operator_ref "tx-1", kind 4
    negative = canonical[:6] + b"\x01" + canonical[7:]  # kind as index -1: the last, WITHDRAWAL_CANCELLED
    assert CODEC.decode(by_hand([negative]))[1]["events"][0]["kind"] == "WITHDRAWAL_CANCELLED"
    assert event_bodies(by_hand([negative])) is None
    wrapped = b"\xff" * 10 + b"\x01" + canonical[1:]  # an 11-byte seq: fastavro wraps it
    CODEC.decode(by_hand([wrapped]))
    assert event_bodies(by_hand([wrapped])) is None
    beyond = b"\x80" * 9 + b"\x02" + canonical[1:]  # 10 bytes, the last 0x02: 2**64, read as 0
    assert CODEC.decode(by_hand([beyond]))[1]["events"][0]["seq"] == 0
    assert event_bodies(by_hand([beyond])) is None
    widest = zigzag(-2**63) + canonical[1:]  # 10 bytes, the last 0x01: strict
    assert len(zigzag(-2**63)) == 10 and event_bodies(by_hand([widest])) == [widest]
    out_of_range = canonical[:6] + b"\x0c" + canonical[7:]  # kind 6 (fastavro refuses it too)
    assert event_bodies(by_hand([out_of_range])) is None


@engines
def test_an_overlong_number_is_malformed(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state("dsom.ingest.op-a", 0)
    value = by_hand([b"\x82\x00" + encode_event_body(event(seq=1))[1:]])
    out = proc.process(state, 0, b"s1", value, NOW)
    assert statuses(out) == [(None, "REJECTED", "malformed")]
    assert out.archive_value is None and out.changelog == []


@engines
def test_the_archive_writer_matches_fastavro(engine: Engine) -> None:
    proc = processor(engine)
    state = proc.new_state("dsom.ingest.op-a", 0)
    out = proc.process(state, 7, b"s1", batch([event(seq=i + 1, bet_ref=f"b{i}") for i in range(5)]), NOW)
    archive = archive_of(out)
    assert len(archive["events"]) == 5
    written = out.archive_value
    assert written == CODEC.encode(ARCHIVE_BATCH, archive)
    bodies = [encode_event_body(a["event"]) for a in archive["events"]]
    assert written == encode_archive_batch(archive, bodies)
    _, back = CODEC.decode(written)
    assert back["link_rule"] == 2
    assert verify(links_of(back)).index == 5


def test_simulated_traffic_walks_like_fastavro_encodes() -> None:
    from pipeline.operator.fleet import demo_registry
    from pipeline.operator.simulator import simulate_fleet

    for op, sim in simulate_fleet(demo_registry(1), seed=3, batches=40, batch_size=50, bad_share=0.2):
        if sim.raw is None:
            value = CODEC.encode(EVENT_BATCH, {"operator_id": op, "source_id": sim.source_id,
                                               "sent_at_us": NOW, "events": sim.events})
            assert event_bodies(value) == [encode_event_body(e) for e in sim.events]


@engines
def test_the_receipt_writer_matches_fastavro(engine: Engine) -> None:
    from schemas import RECEIPT_BATCH
    from schemas.raw import encode_receipt_batch

    proc = processor(engine)
    state = proc.new_state("dsom.ingest.op-a", 0)
    events = [event(seq=1, bet_ref="b1"), event(seq=2, amount=-3, operator_ref="ґ" * 70),
              event(seq=3, kind="WIN", bet_ref="zz", tax_withheld_pit=0, tax_withheld_military=0)]
    outs = [proc.process(state, 0, b"s1", batch(events), NOW),
            proc.process(state, 1, b"s1", b"\xc3\x01junk", NOW),  # record-level: nulls everywhere
            proc.process(state, 2, b"other", batch([event(seq=9)]), NOW)]
    decoded = []
    for out in outs:
        assert out.receipts_value is not None
        _, receipts = CODEC.decode(out.receipts_value)
        assert out.receipts_value == encode_receipt_batch(receipts) == CODEC.encode(RECEIPT_BATCH, receipts)
        decoded.append(receipts)
    assert {r["status"] for rb in decoded for r in rb["receipts"]} == {"ACCEPTED", "REJECTED"}
