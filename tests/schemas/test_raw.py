"""The raw event walker and the archive writer agree byte for byte with fastavro."""

from __future__ import annotations

from typing import Any

from pipeline.core.chain import Link, verify
from pipeline.core.state import PartitionState
from schemas import ARCHIVE_BATCH, EVENT_BATCH, default_codec
from schemas.codec import encode_event_body, load_type
from schemas.raw import _string, encode_archive_batch, event_bodies, zigzag
from tests.pipeline.core.test_processor import make_processor, statuses
from tests.pipeline.core.test_validation import NOW, event

CODEC = default_codec()


def batch(events: list[dict[str, Any]]) -> bytes:
    return CODEC.encode(EVENT_BATCH, {"operator_id": "op-a", "source_id": "s1", "sent_at_us": NOW,
                                      "events": events})


def by_hand(bodies: list[bytes], blocks: list[int] | None = None) -> bytes:
    """An EventBatch written by hand: ``bodies`` in one block, or in blocks of the given sizes."""
    head = load_type(EVENT_BATCH).header + _string("op-a") + _string("s1") + zigzag(NOW)
    out, i = [head], 0
    for size in blocks or ([len(bodies)] if bodies else []):
        out += [zigzag(size), *bodies[i:i + size]]
        i += size
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


def test_anything_unusual_is_left_to_re_encoding() -> None:
    bodies = [encode_event_body(e) for e in EVENTS]
    assert event_bodies(by_hand(bodies)) == bodies
    assert event_bodies(by_hand(bodies, blocks=[2, 2])) is None  # two blocks
    overlong_seq = b"\x82\x00" + bodies[0][1:]  # seq 1 written in two bytes
    assert CODEC.decode(by_hand([overlong_seq]))[1]["events"][0]["seq"] == 1  # valid Avro all the same
    assert event_bodies(by_hand([overlong_seq])) is None
    assert event_bodies(batch(EVENTS)[:-3]) is None  # truncated


def test_an_overlong_number_is_archived_and_chained_canonically() -> None:
    proc, state = make_processor(), PartitionState("dsom.ingest.op-a", 0)
    ev = event(seq=1)
    value = by_hand([b"\x82\x00" + encode_event_body(ev)[1:]])
    out = proc.process(state, 0, b"s1", value, NOW)
    assert statuses(out) == [(1, "ACCEPTED", None)]
    assert out.archive_bodies == [encode_event_body(ev)]


def test_the_archive_writer_matches_fastavro() -> None:
    proc, state = make_processor(), PartitionState("dsom.ingest.op-a", 0)
    out = proc.process(state, 7, b"s1", batch([event(seq=i + 1, bet_ref=f"b{i}") for i in range(5)]), NOW)
    assert out.archive is not None and len(out.archive_bodies) == 5
    written = encode_archive_batch(out.archive, out.archive_bodies)
    assert written == CODEC.encode(ARCHIVE_BATCH, out.archive)
    _, back = CODEC.decode(written)
    links = [Link(a["chain_index"], a["prev_hash"], a["hash"], a["receipt_id"], encode_event_body(a["event"]))
             for a in back["events"]]
    assert verify(links).index == 5


def test_simulated_traffic_walks_like_fastavro_encodes() -> None:
    from pipeline.operator.fleet import demo_registry
    from pipeline.operator.simulator import simulate_fleet

    for op, sim in simulate_fleet(demo_registry(1), seed=3, batches=40, batch_size=50, bad_share=0.2):
        if sim.raw is None:
            value = CODEC.encode(EVENT_BATCH, {"operator_id": op, "source_id": sim.source_id,
                                               "sent_at_us": NOW, "events": sim.events})
            assert event_bodies(value) == [encode_event_body(e) for e in sim.events]


def test_the_receipt_writer_matches_fastavro() -> None:
    from schemas import RECEIPT_BATCH
    from schemas.raw import encode_receipt_batch

    proc, state = make_processor(), PartitionState("dsom.ingest.op-a", 0)
    events = [event(seq=1, bet_ref="b1"), event(seq=2, amount=-3, operator_ref="ґ" * 70),
              event(seq=3, kind="WIN", bet_ref="zz", tax_withheld_pit=0, tax_withheld_military=0)]
    outs = [proc.process(state, 0, b"s1", batch(events), NOW),
            proc.process(state, 1, b"s1", b"\xc3\x01junk", NOW),  # record-level: nulls everywhere
            proc.process(state, 2, b"other", batch([event(seq=9)]), NOW)]
    for out in outs:
        assert out.receipts is not None
        assert encode_receipt_batch(out.receipts) == CODEC.encode(RECEIPT_BATCH, out.receipts)
    assert {r["status"] for out in outs for r in out.receipts["receipts"]} == {"ACCEPTED", "REJECTED"}
