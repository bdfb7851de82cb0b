"""The compiled engine decides exactly as the Python reference: same bytes, same state, same log."""

from __future__ import annotations

import io
import random
import re
import zlib
from collections import Counter
from typing import Any

import dsom_native
import orjson
import pytest
from fastavro import schemaless_writer

from pipeline.core.chain import LINK_RULE, Provenance, links_of
from pipeline.core.native import player_ref_rules
from pipeline.core.personal_data import personal_data_hint
from pipeline.core.processor import Outcome, Processor, make_processor
from pipeline.core.validation import PLAYER_REF
from pipeline.registry import Licence, Operator, Registry, Stop
from pipeline.settings import DAY_US, TopicSettings, ValidationSettings
from schemas import EVENT, EVENT_BATCH, RECEIPT_BATCH, default_codec
from schemas.codec import HEADER_LEN, encode_event_body, load_type, schema_versions
from schemas.diagnose import diagnose
from schemas.evolution import WriterSchemas, check_writer
from schemas.raw import zigzag
from tests.pipeline.core.player_refs import OPAQUE, PERSONAL, PSEUDONYMS, adversarial
from tests.pipeline.core.test_processor import ENGINES, snapshot, windows
from tests.pipeline.core.test_validation import NOW, REGISTRY, event
from tests.pipeline.operator.conftest import REGISTRY as DEMO_REGISTRY
from tests.pipeline.operator.conftest import run_fleet
from tests.schemas.avro_variants import code_of, offset_of, varint, write_event
from tests.schemas.test_evolution import (
    HAMBA_TIMESTAMP_FP,
    batch_json,
    with_extra_field,
    with_timestamp,
    write,
)

CODEC = default_codec()
TOPICS = TopicSettings()
TOPIC = "dsom.ingest.op-a"
HOUR = 3_600_000_000


class Pair:
    """Both engines, each with its own states and compacted changelog, fed the same records."""

    def __init__(self, registry: Registry = REGISTRY, writers: WriterSchemas | None = None,
                 **validation: Any) -> None:
        self.validation = validation
        self.writers = writers
        self.procs: dict[str, Processor] = {}
        self.reload(registry)
        self.states: dict[str, dict[tuple[str, int], Any]] = {e: {} for e in ENGINES}
        self.logs: dict[str, dict[bytes, bytes | None]] = {e: {} for e in ENGINES}
        self.outcomes: list[Outcome] = []

    def reload(self, registry: Registry) -> None:
        """A new registry (as the agent's reload does): new processors, the same states."""
        self.procs = {e: make_processor(registry, ValidationSettings(engine=e, **self.validation),  # type: ignore[arg-type]
                                        TOPICS, CODEC, self.writers) for e in ENGINES}

    def feed(self, value: bytes, key: bytes | None = b"s1", now: int = NOW, topic: str = TOPIC,
             partition: int = 0) -> Outcome:
        outs = {}
        for e in ENGINES:
            states = self.states[e]
            if (topic, partition) not in states:
                states[(topic, partition)] = self.procs[e].new_state(topic, partition)
            offset = len(self.outcomes)
            outs[e] = self.procs[e].process(states[(topic, partition)], offset, key, value, now)
            self.logs[e].update(outs[e].changelog)
        assert_same(outs["python"], outs["native"])
        self.outcomes.append(outs["python"])
        return outs["python"]

    def assert_same_state(self) -> None:
        assert self.states["python"].keys() == self.states["native"].keys()
        for tp, st in self.states["python"].items():
            assert snapshot(st) == snapshot(self.states["native"][tp]), tp
            assert windows(st) == windows(self.states["native"][tp]), tp
        assert self.logs["python"] == self.logs["native"]


def assert_same(py: Outcome, native: Outcome) -> None:
    """Field by field, decoding receipts first, so a failure says what differs."""
    if py.receipts_value != native.receipts_value:
        assert py.receipts_value is not None and native.receipts_value is not None
        assert CODEC.decode(py.receipts_value) == CODEC.decode(native.receipts_value)
    assert py.receipts_value == native.receipts_value
    assert py.archive_value == native.archive_value
    assert py.changelog == native.changelog
    assert py == native


def receipts(out: Outcome, duplicates: bool = False) -> list[tuple[int | None, str | None, str | None]]:
    """(seq, reason, detail) of each receipt; a DUPLICATE's only when ``duplicates`` (its reason
    then reads "DUPLICATE")."""
    assert out.receipts_value is not None
    name, batch = CODEC.decode(out.receipts_value)
    assert name == RECEIPT_BATCH
    return [(r["seq"], r["reason"] or ("DUPLICATE" if r["status"] == "DUPLICATE" else None), r["detail"])
            for r in batch["receipts"] if duplicates or r["status"] != "DUPLICATE"]


# -- hand-written encodings (write_event: an Event with any bytes in place of a number) --

def batch(bodies: list[bytes], operator: str = "op-a", source: str = "s1",
          blocks: list[int] | None = None, negative_counts: bool = False, size_error: int = 0) -> bytes:
    """An EventBatch written by hand around ``bodies``, in blocks of the given sizes; with
    ``negative_counts``, each block's byte size follows its count, off by ``size_error``."""
    out = load_type(EVENT_BATCH).header + zigzag(len(operator.encode())) + operator.encode()
    out += zigzag(len(source.encode())) + source.encode() + zigzag(NOW)
    i = 0
    for size in blocks or ([len(bodies)] if bodies else []):
        items = b"".join(bodies[i:i + size])
        out += (zigzag(-size) + zigzag(len(items) + size_error)) if negative_counts else zigzag(size)
        out += items
        i += size
    return out + b"\x00"


def events(*evs: dict[str, Any]) -> bytes:
    return batch([write_event(e) for e in evs])


FIRST = len(batch([b""])) - 1  # where the first event starts in a record of one block


def malformed(out: Outcome, value: bytes) -> str:
    """The detail of ``out``, which must reject record ``value`` as malformed with its diagnosis."""
    [(seq, reason, detail)] = receipts(out)
    assert (seq, reason) == (None, "malformed") and detail is not None
    assert detail == diagnose(value, EVENT_BATCH)
    assert out.changelog == [] and out.archive_value is None
    return detail


def win(**changes: Any) -> dict[str, Any]:
    return event(**({"kind": "WIN", "tax_withheld_pit": 0, "tax_withheld_military": 0} | changes))


# -- simulated traffic --

def test_simulated_traffic_with_every_defect_decides_the_same() -> None:
    """Bad events, bad records, duplicates, retries and late batches over 25 days (bets expire)."""
    _, sent = run_fleet(seed=11, batches=600, batch_size=30, bad_share=0.1, duplicate_share=0.1,
                        late_share=0.1, bad_record_share=0.05)
    pair = Pair(DEMO_REGISTRY)
    reasons: set[str] = set()
    for i, s in enumerate(sent):
        b = s.batch
        value = b.raw if b.raw is not None else CODEC.encode(EVENT_BATCH, {
            "operator_id": s.operator_id, "source_id": b.source_id, "sent_at_us": s.now_us,
            "events": b.events})
        now = s.now_us + i * HOUR  # a simulated hour per record: the bet horizon passes
        out = pair.feed(value, b.source_id.encode(), now, TOPICS.ingest(s.operator_id),
                        zlib.crc32(b.source_id.encode()) % 3)
        reasons |= set(out.rejected)
    pair.assert_same_state()
    assert len(reasons) >= 12, reasons
    assert any(v is None for v in pair.logs["python"].values())  # expired bet batches


def test_each_engine_restores_from_the_others_changelog() -> None:
    _, sent = run_fleet(seed=12, batches=400, batch_size=30, bad_share=0.05, duplicate_share=0.1)
    values = [(s, s.batch.raw if s.batch.raw is not None else CODEC.encode(EVENT_BATCH, {
        "operator_id": s.operator_id, "source_id": s.batch.source_id, "sent_at_us": s.now_us,
        "events": s.batch.events})) for s in sent]
    pair = Pair(DEMO_REGISTRY)
    for s, value in values[:250]:
        pair.feed(value, s.batch.source_id.encode(), s.now_us, TOPICS.ingest(s.operator_id))
    pair.assert_same_state()
    # Cross over: each engine's states rebuilt from the other engine's changelog.
    crossed = Pair(DEMO_REGISTRY)
    for mine, other in (("python", "native"), ("native", "python")):
        for tp in pair.states[other]:
            st = crossed.states[mine][tp] = crossed.procs[mine].new_state(*tp)
            for key, value in pair.logs[other].items():
                if key.startswith(f"{tp[0]}|{tp[1]}|".encode()):
                    st.apply(key, value)
    crossed.outcomes = list(pair.outcomes)  # offsets continue
    crossed.logs = {e: dict(pair.logs[e]) for e in ENGINES}
    crossed.assert_same_state()
    for s, value in values[250:]:
        args = (value, s.batch.source_id.encode(), s.now_us, TOPICS.ingest(s.operator_id))
        assert pair.feed(*args) == crossed.feed(*args)
    crossed.assert_same_state()
    pair.assert_same_state()


# -- hand-made edge cases --

def test_array_blocks_decide_as_one_block() -> None:
    """Several blocks, and blocks with their byte size (a negative count), are valid Avro."""
    pair = Pair()
    bet, deposit = event(seq=1, bet_ref="b1"), event(seq=2, kind="DEPOSIT", bet_ref=None)
    bodies = [write_event(bet), write_event(deposit)]
    plain = pair.feed(batch(bodies))
    forms = [batch(bodies, blocks=[1, 1]), batch(bodies, negative_counts=True),
             batch(bodies, blocks=[1, 1], negative_counts=True)]
    for i, value in enumerate(forms):
        out = Pair().feed(value)
        assert receipts(out) == receipts(plain), i
        assert out.archive_value == plain.archive_value, i  # the bytes as sent, archived and chained
        pair.feed(value)  # and as retries against the first state: duplicates
    pair.assert_same_state()


# -- strict decoding: every non-strict encoding is malformed, in both engines, with one detail --

# Zig-zag codes at every varint length boundary (the largest of k bytes, the smallest of k + 1),
# the codes of the values 2**(7k) - 1 and 2**(7k), and the widest longs, -2**63 and 2**63 - 1.
EDGE_CODES = sorted({c for k in range(1, 10) for c in (2**(7 * k) - 1, 2**(7 * k), code_of(2**(7 * k) - 1),
                                                         code_of(2**(7 * k)))} | {0, 1, 2**64 - 1, 2**64 - 2})
STRICT_CODES = [c for c in EDGE_CODES if c < 2**64]
# Codes beyond 64 bits: a 10th byte above 1 (2**64 + 10 is seq 2**63 + 5, which wrapped to 5),
# 11 and 12 bytes (2**70 kopecks, once stored as 64).
WIDE_CODES = [c for c in EDGE_CODES if c >= 2**64] + [2**64 + 10, 2**70 - 1, code_of(2**70), 2**77]


def not_strict(code: int) -> list[bytes]:
    """``code`` (a strict one) written one byte too long, and padded to 10 and to 11 bytes."""
    n = len(varint(code))
    return list(dict.fromkeys(varint(code, k) for k in (n + 1, 10, 11) if k > n))


def feed_not_strict(pair: Pair, ev: dict[str, Any], key: str, forms: list[bytes]) -> None:
    """Each form in place of ``ev``'s number ``key``: malformed, naming the field and its offset."""
    field = key.split(":")[0]
    at = FIRST + offset_of(ev, key)
    for form in forms:
        value = batch([write_event(ev, {key: form})])
        detail = malformed(pair.feed(value), value)
        assert detail.startswith(f"events[0].{field} at byte {at}: "), (form.hex(), detail)


@pytest.mark.parametrize("key", ["seq", "amount", "occurred_at_us", "tax_withheld_pit:value"])
def test_a_long_at_every_length_boundary(key: str) -> None:
    pair = Pair()
    seqs = iter(range(1, 1000))
    for code in STRICT_CODES:  # strict: decoded, and decided by the rules alike
        value = (code >> 1) ^ -(code & 1)
        ev = win(seq=next(seqs), bet_ref="nope") | {key.split(":")[0]: value}
        out = pair.feed(events(ev))
        assert "malformed" not in out.rejected and out.events_in == 1
        feed_not_strict(pair, ev, key, not_strict(code))
    feed_not_strict(pair, win(seq=next(seqs)), key, [varint(c) for c in WIDE_CODES])
    pair.assert_same_state()


@pytest.mark.parametrize("length", [0, 63, 64, 8191, 8192])
def test_a_string_length_at_every_length_boundary(length: int) -> None:
    pair = Pair()
    ev = event(seq=1, operator_ref="x" * length, bet_ref="y" * length)
    assert "malformed" not in pair.feed(events(ev)).rejected  # strict: decided by the rules
    for key in ("operator_ref", "bet_ref:value", "player_ref"):
        n = len(ev[key.split(":")[0]].encode())
        forms = not_strict(code_of(n)) + [varint(code_of(n) + 2**64), varint(code_of(-1)),
                                          varint(code_of(-n - 1)), varint(code_of(-2**63)), varint(2**64 - 2)]
        feed_not_strict(pair, ev, key, forms)  # overlong, beyond 64 bits, negative, beyond the record
    pair.assert_same_state()


@pytest.mark.parametrize(("key", "count"), [("kind", 6), ("licence_kind", 5), ("channel", 3), ("site_id", 2),
                                            ("tax_withheld_pit", 2), ("equipment_id", 2)])
def test_an_index_out_of_range_or_not_strict(key: str, count: int) -> None:
    """Enum indexes and union branches: negative (fastavro counts those from the end), too
    large, overlong, beyond 64 bits."""
    pair = Pair()
    ev = win(seq=1)
    index = offset_of(ev, key)
    code = write_event(ev)[index]
    forms = not_strict(code) + [varint(code + 2**64), varint(code_of(-1)), varint(code_of(-count)),
                                varint(code_of(count)), varint(code_of(64)), varint(2**64 - 1)]
    feed_not_strict(pair, ev, key, forms)
    pair.assert_same_state()


def test_block_counts_and_byte_sizes() -> None:
    pair = Pair()
    bodies = [write_event(event(seq=1)), write_event(event(seq=2, bet_ref="b2"))]
    items = b"".join(bodies)
    head = batch([])[:-1]
    valid = [head + zigzag(-2) + zigzag(len(items)) + items + b"\x00",
             head + zigzag(-1) + zigzag(len(bodies[0])) + bodies[0] + zigzag(1) + bodies[1] + b"\x00"]
    bad_counts = [*not_strict(code_of(2)), varint(code_of(2) + 2**64), varint(code_of(3)),
                  varint(code_of(2**63 - 1))]
    bad_sizes = [*not_strict(code_of(len(items))), varint(code_of(len(items) - 1)),
                 varint(code_of(len(items) + 1)), varint(code_of(-1)), varint(code_of(len(items)) + 2**64),
                 varint(code_of(2**40))]
    not_strict_records = ([head + c + items + b"\x00" for c in bad_counts]
                          + [head + zigzag(-2) + s + items + b"\x00" for s in bad_sizes]
                          + [head + zigzag(-2) + zigzag(len(items) + 1) + items + b"\x00\x00"]
                          + [head + zigzag(2) + items + c + b"\x00" for c in (b"\x80\x00", varint(2**64))])
    for value in not_strict_records:  # (a count of 3 runs out of items: events[2] is missing)
        assert malformed(pair.feed(value), value).startswith("events"), value.hex()
    assert [r[1] for r in receipts(pair.feed(valid[0]))] == [None, None]
    assert pair.feed(valid[1]).duplicates == 2
    pair.assert_same_state()


def test_the_batch_header_is_strict() -> None:
    pair = Pair()
    good = events(event(seq=1))
    head = load_type(EVENT_BATCH).header
    forms = [good.replace(head + b"\x08op-a", head + varint(8, 2) + b"op-a", 1),
             good.replace(b"\x04s1", varint(4, 10) + b"s1", 1),
             good.replace(zigzag(NOW), varint(code_of(NOW), 9), 1),
             good.replace(zigzag(NOW), varint(code_of(NOW) + 2**64), 1)]
    for value, field in zip(forms, ["operator_id", "source_id", "sent_at_us", "sent_at_us"], strict=True):
        assert malformed(pair.feed(value), value).startswith(f"{field} at byte "), field
    assert receipts(pair.feed(good)) == [(1, None, None)]
    pair.assert_same_state()


def test_the_issues_cases() -> None:
    """Issue 12: a 2**70 amount was stored as 64; seq 2**64 + 5 became 5, and the genuine seq 5
    was then dropped as a repeat, with no receipt; an amount of 2**63 was non_positive_amount."""
    pair = Pair()
    ev = event(seq=5, bet_ref="b5")
    value = batch([write_event(ev, {"amount": varint(code_of(2**70))})])
    assert malformed(pair.feed(value), value) == (
        f"events[0].amount at byte {FIRST + offset_of(ev, 'amount')}: number longer than 10 bytes "
        "(Avro long is at most 64 bits)")
    value = batch([write_event(ev, {"seq": varint(code_of(2**64 + 5))})])
    assert malformed(pair.feed(value), value) == (
        f"events[0].seq at byte {FIRST}: number beyond 64 bits (the 10th byte of an Avro long is at most "
        "0x01, here 0x04)")
    value = batch([write_event(ev, {"amount": varint(code_of(2**63))})])
    assert "number beyond 64 bits" in malformed(pair.feed(value), value)
    genuine = pair.feed(events(ev))
    assert receipts(genuine) == [(5, None, None)] and genuine.accepted == {"BET": 1}
    pair.assert_same_state()


@pytest.mark.parametrize("value", [
    b'{"json": true}',
    b"\xc3\x01" + bytes(8) + b"\x02",
    load_type(RECEIPT_BATCH).header + b"\x02",  # a known schema, not accepted on ingest
    b"\xc3\x01",
])
def test_records_of_no_known_schema(value: bytes) -> None:
    pair = Pair()
    [(seq, reason, _)] = receipts(pair.feed(value))
    assert (seq, reason) == (None, "unknown_schema") and pair.logs["python"] == {}


@pytest.mark.parametrize(("value", "detail"), [
    (events(event())[:-9],
     f"events[0].occurred_at_us at byte {FIRST + offset_of(event(), 'occurred_at_us')}: "
     "the record ends inside this number"),
    (events(event()) + b"\x00",
     f"EventBatch at byte {len(events(event()))}: 1 byte after the end of the record"),
    (batch([write_event(event(operator_ref="x")).replace(b"\x02x", b"\x02\xff", 1)]),
     f"events[0].operator_ref at byte {FIRST + 2}: string is not UTF-8 (invalid start byte: 0xff)"),
    (batch([write_event(event(operator_ref="xy")).replace(b"\x04xy", b"\x04\xed\xa0", 1)]),
     f"events[0].operator_ref at byte {FIRST + 2}: string is not UTF-8 (invalid continuation byte: 0xed)"),
    (batch([write_event(event(), {"kind": zigzag(6)})],),
     f"events[0].kind at byte {FIRST + 6}: enum index 6 out of range (EventKind has 6 symbols: 0 to 5)"),
    (batch([write_event(event())]).replace(b"\x08op-a", b"\x08op-\xff", 1),
     f"operator_id at byte {HEADER_LEN + 4}: string is not UTF-8 (invalid start byte: 0xff)"),
])
def test_records_that_do_not_decode_are_malformed_with_a_diagnosis(value: bytes, detail: str) -> None:
    pair = Pair()
    assert malformed(pair.feed(value), value) == detail
    assert pair.logs["python"] == {}


@pytest.mark.parametrize(("key", "source"), [
    (None, "s1"), (b"s2", "s1"), (b"s\xff1", "s1"), (b"s\xff1", "s\ufffd1"), (b"\xe2\x82", "\ufffd"),
    (b"", ""), ("ключ".encode(), "ключ"),
])
def test_record_keys(key: bytes | None, source: str) -> None:
    Pair().feed(batch([write_event(event())], source=source), key=key)


def test_record_level_rejections() -> None:
    pair = Pair(max_events_per_batch=3)
    assert receipts(pair.feed(events()))[0][1] == "empty_batch"
    assert receipts(pair.feed(events(*[event(seq=i) for i in range(1, 5)])))[0][1] == "batch_too_large"
    wrong = pair.feed(batch([write_event(event(seq=1)), write_event(event(seq=2))], operator="op-'b\"ґ"))
    assert receipts(wrong)[0][2] == """batch claims operator 'op-\\'b"ґ' on op-a's topic"""
    assert pair.feed(batch([], operator="op-b")).receipts_value is None  # wrong operator, no events
    pair.assert_same_state()


def test_gaps_close_and_late_fills_expire() -> None:
    pair = Pair(max_open_gaps_per_source=2)
    for seqs in ([1], [5], [10, 11], [20], [30], [3], [7], [12], [31, 29, 28], [0, -1, 2**62], [1], [15],
                 [40], [40]):
        out = pair.feed(events(*[event(seq=s, kind="DEPOSIT", bet_ref=None) for s in seqs]))
        pair.assert_same_state()
    assert out.duplicates == 1
    assert any(r[1] == "sequence_gap_expired" for o in pair.outcomes if o.receipts_value for r in receipts(o))


def test_bets_expire_and_their_wins_are_unknown() -> None:
    pair = Pair()
    old = NOW - 6 * DAY_US
    pair.feed(events(event(seq=1, bet_ref="old", occurred_at_us=old), event(seq=2, bet_ref="new")))
    pair.feed(events(event(seq=3, bet_ref="older", occurred_at_us=old - HOUR)), now=NOW + HOUR)
    pair.feed(events(event(seq=4, bet_ref="mid", occurred_at_us=old + HOUR)), now=NOW + 2 * HOUR)
    later = NOW + DAY_US + 2 * HOUR
    out = pair.feed(events(win(seq=5, bet_ref="old", occurred_at_us=later - 1),
                           win(seq=6, bet_ref="mid", occurred_at_us=later - 1),
                           win(seq=7, bet_ref="new", occurred_at_us=later - 1)), now=later)
    # A batch's bets expire together, with its newest: "old" stays while "new" does.
    assert [r[1] for r in receipts(out)] == [None, "unknown_bet", None]
    assert sum(v is None for _, v in out.changelog) == 2
    out = pair.feed(events(win(seq=8, bet_ref="old", occurred_at_us=NOW + 8 * DAY_US)), now=NOW + 8 * DAY_US)
    assert [r[1] for r in receipts(out)] == ["unknown_bet"]
    pair.assert_same_state()


def test_random_bets_refunds_and_payouts_decide_alike_across_restores() -> None:
    """Bets, partial and excessive refunds, payouts, expiry; every 40 records each engine's state is
    rebuilt from the other's changelog, once as if it had been written before stakes were kept."""
    import random

    rng = random.Random(612)
    pair = Pair(bet_horizon_us=2 * DAY_US)
    seq, now, restores = 0, NOW, 0
    bets: list[tuple[str, int]] = []  # (bet_ref, stake)
    seen: Counter[str] = Counter()
    for n in range(480):
        now += rng.randrange(HOUR)
        evs = []
        for _ in range(rng.randint(1, 8)):
            seq += 1
            t = now - rng.randrange(HOUR)
            roll = rng.random()
            if roll < 0.3 or not bets:
                bets.append((f"b{seq}", rng.randrange(1, 20_000)))
                evs.append(event(seq=seq, bet_ref=bets[-1][0], amount=bets[-1][1], occurred_at_us=t))
                continue
            ref, stake = rng.choice(bets[-40:] if rng.random() < 0.9 else bets)  # old ones expired
            if roll < 0.85:
                amount = rng.randint(1, stake) if rng.random() < 0.85 else stake + rng.randint(1, 100)
                evs.append(event(seq=seq, kind="REFUND", bet_ref=ref, amount=amount, occurred_at_us=t))
            else:
                evs.append(win(seq=seq, bet_ref=ref, amount=rng.randint(1, 3 * stake), occurred_at_us=t))
        out = pair.feed(events(*evs), now=now)
        seen.update(out.rejected)
        seen.update(out.accepted)
        if n % 40 == 39:
            restores += 1
            before = {e: {tp: snapshot(st) for tp, st in pair.states[e].items()} for e in ENGINES}
            if restores == 3:  # as if every bets entry had been written before stakes were kept
                for log in pair.logs.values():
                    for key, value in log.items():
                        if value is not None and b"|bets|" in key:
                            log[key] = orjson.dumps([bet[:3] for bet in orjson.loads(value)])
            for mine, other in (("python", "native"), ("native", "python")):
                st = pair.states[mine][(TOPIC, 0)] = pair.procs[mine].new_state(TOPIC, 0)
                for key, value in pair.logs[other].items():
                    st.apply(key, value)
            pair.assert_same_state()
            if restores != 3:
                assert {e: {tp: snapshot(st) for tp, st in pair.states[e].items()} for e in ENGINES} == before
    assert seen["refund_exceeds_stake"] > 50 and seen["REFUND"] > 200 and seen["unknown_bet"] > 20, seen
    assert any(v is None and b"|refund|" in k for k, v in pair.logs["python"].items())  # expired refunds


WEIRD = ["it's", 'say "hi"', "both ' and \"", "ставка №1", "tab\tnew\nline\x00\x1f\x7f", "back\\slash",
         "\u2028\U0001f600", "é" * 64, "pipe|in|ref|"]


def test_repr_details_and_json_escapes_match() -> None:
    pair = Pair()
    seq = iter(range(1, 1000))
    for ref in WEIRD:
        pair.feed(events(event(seq=next(seq), bet_ref=ref), event(seq=next(seq), bet_ref=ref),
                         win(seq=next(seq), bet_ref=ref), win(seq=next(seq), bet_ref=ref + "?"),
                         event(seq=next(seq), kind="REFUND", bet_ref="x" + ref),
                         event(seq=next(seq), kind="REFUND", bet_ref=ref, amount=10_001),
                         event(seq=next(seq), kind="REFUND", bet_ref=ref, amount=1),
                         event(seq=next(seq), currency=ref), event(seq=next(seq), licence_id=ref),
                         event(seq=next(seq), operator_ref=ref, round_ref=ref, bet_ref=ref + ref)))
    pair.assert_same_state()
    restored = Pair()
    for e in ENGINES:  # the escaped JSON reads back
        st = restored.states[e][(TOPIC, 0)] = restored.procs[e].new_state(TOPIC, 0)
        for key, value in pair.logs[e].items():
            st.apply(key, value)
    assert snapshot(restored.states["native"][(TOPIC, 0)]) == snapshot(pair.states["python"][(TOPIC, 0)])
    refunded = {ref: bet[2] for (_, ref), bet in snapshot(restored.states["native"][(TOPIC, 0)])[1].items()}
    assert {ref: refunded.get(ref) for ref in WEIRD} == dict.fromkeys(WEIRD, 1)  # refund keys read back
    assert sum(o.rejected["refund_exceeds_stake"] for o in pair.outcomes) == len(WEIRD)


PLAYER_REFS = ["p_ABCDEFGH23", "12345678", "123456789", "1234-5678-90", "+380 50 123 45 67",
               " 380501234567 ", "ivan@x.ua", "Іван Петренко", "short", "a" * 64, "a" * 65,
               "abc def ghi", "abcdéfgh", "١٢٣٤٥٦٧٨٩", "_________", "--------", "(050)1234567",
               "abcdefgh\n", "ab\u00a0cdefgh", "\u2003abcdefgh", "abcd1234567890", "a-b_c-d_e",
               "ab123456789", "12345678-9_x", "x12345678-123456789", "4111-1111-1111-1111",
               "380_67_123_45_67", "31847_10691", "ivan_petrenko_1985", "OlenaKovalenko1990",
               "ivan_petrenko_gmail_com", "name_at_ukr_net", "ivanpetrenko",
               "8f14e45f-ceea-467f-a0b1-3c9d2e1f0a77", "deadbeef0671234567",
               "ua213223130000026007233566001", "usr-1985", "ZYO675736236TZLF"]


def test_every_stateless_rule_matches() -> None:
    pair = Pair()
    s = ValidationSettings()
    cases: list[dict[str, Any]] = [{"player_ref": p} for p in PLAYER_REFS] + [
        {"licence_id": "LIC-NOPE"}, {"licence_kind": "BOOKMAKING"},
        {"licence_id": "LIC-SH-1", "licence_kind": "SLOT_HALL", "channel": "ESTABLISHMENT",
         "establishment_id": "e1"},
        {"channel": "ESTABLISHMENT", "establishment_id": "e1"}, {"channel": "APP"},
        {"channel": "APP", "app_id": ""}, {"site_id": ""}, {"site_id": None},
        {"amount": 0}, {"amount": -1}, {"amount": s.max_amount_kopecks},
        {"amount": s.max_amount_kopecks + 1}, {"amount": 2**63 - 1}, {"amount": -2**63},
        {"currency": "USD"}, {"currency": "uah"}, {"currency": ""},
        {"occurred_at_us": NOW + s.future_skew_us}, {"occurred_at_us": NOW + s.future_skew_us + 1},
        {"occurred_at_us": NOW - s.late_window_us}, {"occurred_at_us": NOW - s.late_window_us - 1},
        {"occurred_at_us": 2**63 - 1}, {"occurred_at_us": -2**63},
        {"operator_ref": "ґ" * 128}, {"operator_ref": "ґ" * 129}, {"establishment_id": "x" * 129},
        {"round_ref": "x" * 128}, {"bet_ref": "x" * 129}, {"game_type": "g" * 200},
        {"bet_ref": None}, {"bet_ref": ""}, {"game_type": None}, {"game_type": ""},
        {"kind": "DEPOSIT", "bet_ref": None, "game_type": None},
        {"kind": "WITHDRAWAL", "tax_withheld_pit": 0}, {"kind": "DEPOSIT", "tax_withheld_military": 0},
        {"kind": "WIN"}, {"kind": "WIN", "tax_withheld_pit": 1}, {"kind": "WIN", "tax_withheld_military": 1},
        {"kind": "WIN", "tax_withheld_pit": -1, "tax_withheld_military": 0},
        {"kind": "WIN", "tax_withheld_pit": 5_000, "tax_withheld_military": 5_000},
        {"kind": "WIN", "tax_withheld_pit": 5_000, "tax_withheld_military": 5_001},
        {"kind": "WIN", "tax_withheld_pit": 2**63 - 1, "tax_withheld_military": 2**63 - 1},
        {"kind": "REFUND", "bet_ref": "nope"}, {"kind": "WIN", "game_type": None, "tax_withheld_pit": 0},
        {"kind": "WITHDRAWAL_CANCELLED", "bet_ref": None, "game_type": None},
        {"kind": "WITHDRAWAL_CANCELLED", "tax_withheld_pit": 0, "tax_withheld_military": 0},
        {"kind": "WITHDRAWAL_CANCELLED", "amount": 0}, {"kind": "WITHDRAWAL_CANCELLED", "channel": "APP"},
        {"kind": "WITHDRAWAL_CANCELLED", "player_ref": "ivan_petrenko_1985"},
    ]
    for i, changes in enumerate(cases):
        pair.feed(events(event(seq=2 * i + 1, bet_ref=f"b{i}") | {"seq": 2 * i + 1} | changes,
                         event(seq=2 * i + 2, bet_ref=f"c{i}", player_ref="fine_player_1")))
    pair.assert_same_state()
    reasons = {r for o in pair.outcomes for r in o.rejected}
    assert len(reasons) >= 15, reasons


def test_an_older_producers_records_decide_as_before_and_a_new_kind_is_theirs_to_use() -> None:
    """EventBatch version 1 (five kinds) is read as it is by both engines: the same decisions and
    archive as the same events in version 2; its sixth kind index is out of its range (malformed);
    version 2's WITHDRAWAL_CANCELLED is a wallet event like WITHDRAWAL."""
    v1, v2 = schema_versions(EVENT_BATCH)[-2:]
    assert (v1.version, v2.version) == (1, 2)
    evs = [event(seq=1, bet_ref="b1"), event(seq=2, kind="WITHDRAWAL", bet_ref=None, game_type=None),
           event(seq=3, kind="DEPOSIT", bet_ref=None, game_type=None, tax_withheld_pit=0)]

    def written(avro_type: Any, records: list[dict[str, Any]]) -> bytes:
        buf = io.BytesIO()
        buf.write(avro_type.header)
        schemaless_writer(buf, avro_type.schema, {"operator_id": "op-a", "source_id": "s1",
                                                  "sent_at_us": NOW, "events": records})
        return buf.getvalue()

    old, new = Pair(), Pair()
    got_old, got_new = old.feed(written(v1, evs)), new.feed(written(v2, evs))
    assert got_old == got_new and got_old.accepted == Counter({"BET": 1, "WITHDRAWAL": 1})
    assert written(v1, evs)[HEADER_LEN:] == written(v2, evs)[HEADER_LEN:]  # the same bytes after the header
    old.assert_same_state()
    fourth = event(seq=4, kind="WITHDRAWAL", bet_ref=None, game_type=None)
    sixth = written(v1, [fourth])
    at = len(sixth) - 1 - len(encode_event_body(fourth)) + offset_of(fourth, "kind")
    assert sixth[at:at + 1] == zigzag(4)
    forged = sixth[:at] + zigzag(5) + sixth[at + 1:]  # WITHDRAWAL (4) made index 5 in a version 1 record
    assert forged != sixth and len(forged) == len(sixth)
    detail = malformed(old.feed(forged), forged)
    assert "enum index 5 out of range (EventKind has 5 symbols: 0 to 4)" in detail
    cancelled = new.feed(written(v2, [event(seq=5, kind="WITHDRAWAL_CANCELLED", bet_ref=None, game_type=None),
                                      event(seq=6, kind="WITHDRAWAL_CANCELLED", bet_ref=None,
                                            game_type=None, tax_withheld_pit=1, tax_withheld_military=0)]))
    assert cancelled.accepted == Counter({"WITHDRAWAL_CANCELLED": 1})
    assert receipts(cancelled)[1][:2] == (6, "field_not_allowed")
    new.assert_same_state()


def mutated_ref(rng: random.Random, ref: str) -> str:
    """``ref`` with one to four characters inserted, deleted or replaced."""
    chars = list(ref)
    for _ in range(rng.randint(1, 4)):
        at, c = rng.randrange(len(chars) + 1), rng.choice("_-0123456789abcdefABCDEFxyzXYZ")
        op = rng.randrange(3)
        if op == 0 or not chars:
            chars.insert(at, c)
        elif op == 1:
            del chars[min(at, len(chars) - 1)]
        else:
            chars[min(at, len(chars) - 1)] = c
    return "".join(chars)


def generated_refs(rng: random.Random, n: int) -> list[str]:
    """Pseudonyms of every kind, personal data and mutations of both, adversarial mixes, and
    strings of a small alphabet where separators, digits and hex letters meet often."""
    examples = [r for r, _ in PERSONAL] + OPAQUE
    makers = list(PSEUDONYMS.values())
    refs = examples + PLAYER_REFS
    while len(refs) < n:
        kind = rng.randrange(4)
        if kind == 0:
            refs.append(rng.choice(makers)(rng))
        elif kind == 1:
            refs.append(adversarial(rng))
        elif kind == 2:
            refs.append(mutated_ref(rng, rng.choice(examples) if rng.random() < 0.5 else adversarial(rng)))
        else:
            refs.append("".join(rng.choices("aZx_-0123456789AFfcUuaT", k=rng.randint(6, 66))))
    return refs


def test_the_fast_path_never_passes_a_ref_python_rejects() -> None:
    """The property the compiled engine rests on: ``plain`` says yes only where the Python rules
    (personal data, then the characters) pass; and it does say yes to ordinary pseudonyms."""
    rules = player_ref_rules()
    rng = random.Random(77)
    fast = 0
    for ref in generated_refs(rng, 120_000):
        if rules.plain(ref):
            fast += 1
            assert personal_data_hint(ref) is None and PLAYER_REF.fullmatch(ref), ref
    assert fast > 40_000  # not vacuous
    for make in PSEUDONYMS.values():  # every pseudonym of these kinds stays on the fast path...
        refs = [make(rng) for _ in range(5_000)]
        slow = [r for r in refs if not rules.plain(r)]
        # ...but an 8-40 digit hex or a zero-padded counter that happens to be all decimal digits
        # and holds 9 of them, or a year: Python reads those.
        assert all(re.search(r"(?<![0-9a-f])[0-9]{9,}(?![0-9a-f])|(?<![0-9])(19|20)[0-9]{2}(?![0-9])", r)
                   for r in slow), slow


def test_both_engines_decide_generated_refs_alike() -> None:
    """Byte-identical receipts, archive and state for refs the fast path passes and refs only
    Python can judge, personal data among them."""
    pair = Pair()
    refs = generated_refs(random.Random(78), 6_000)
    seen: set[str] = set()
    for start in range(0, len(refs), 500):
        chunk = refs[start:start + 500]
        out = pair.feed(events(*(event(seq=start + i + 1, bet_ref=f"b{start + i}", player_ref=r)
                                 for i, r in enumerate(chunk))))
        seen |= set(out.rejected) | set(out.accepted)
    pair.assert_same_state()
    assert {"personal_data", "invalid_player_ref", "BET"} <= seen, seen


def test_a_registry_reload_changes_decisions_alike() -> None:
    pair = Pair()
    evs = [event(seq=1, licence_id="LIC-BK-1", licence_kind="BOOKMAKING", bet_ref="x"),
           event(seq=2, bet_ref="y")]
    assert [r[1] for r in receipts(pair.feed(events(*evs)))] == ["unknown_licence", None]
    pair.reload(Registry(operators=(Operator(operator_id="op-a", name="A", licences=(
        Licence(licence_id="LIC-OC-1", kind="ONLINE_CASINO", valid_to_us=NOW - DAY_US),
        Licence(licence_id="LIC-BK-1", kind="BOOKMAKING", valid_from_us=NOW - 2 * DAY_US),
    )),)))
    bk = {"licence_id": "LIC-BK-1", "licence_kind": "BOOKMAKING"}
    evs = [event(seq=3, bet_ref="x", **bk), event(seq=4, bet_ref="z"), event(seq=5, bet_ref="y", **bk)]
    assert [r[1] for r in receipts(pair.feed(events(*evs)))] == [
        None, "licence_inactive", "duplicate_bet_ref"]
    pair.assert_same_state()


def test_a_suspension_rejects_alike_by_the_events_time() -> None:
    """Suspended and revoked stretches: licence_suspended inside them, accepted on either side."""
    stops = (Stop(status="suspended", from_us=NOW - 3 * DAY_US, to_us=NOW - 2 * DAY_US),
             Stop(status="revoked", from_us=NOW - 1000))
    pair = Pair(Registry(operators=(Operator(operator_id="op-a", name="A", licences=(
        Licence(licence_id="LIC-OC-1", kind="ONLINE_CASINO", valid_to_us=NOW + DAY_US, stops=stops),)),)))
    times = [NOW - 3 * DAY_US - 1, NOW - 3 * DAY_US, NOW - 2 * DAY_US - 1, NOW - 2 * DAY_US,
             NOW - 1001, NOW - 1000, NOW + DAY_US]
    out = pair.feed(events(*(event(seq=i + 1, bet_ref=f"b{i}", occurred_at_us=t)
                             for i, t in enumerate(times))))
    assert [r[1] for r in receipts(out)] == [
        None, "licence_suspended", "licence_suspended", None, None, "licence_suspended", "licence_inactive"]
    pair.assert_same_state()


def test_native_state_reports_its_memory() -> None:
    pair = Pair()
    pair.feed(events(*[event(seq=i, bet_ref=f"bet-{i:06d}") for i in range(1, 401)]))
    st = pair.states["native"][(TOPIC, 0)]
    memory = st.memory()
    assert memory["open_bets"] == 400 and memory["sources"] == 1 and memory["intervals"] == 1
    assert memory["refunded_bets"] == 0
    assert 400 * (4 + 10 + 4 + 8 + 8) < memory["bets"] < 400 * 88  # keys, ends, stakes, table entries
    # What was refunded is kept for refunded bets only: a handle and an amount, 16 bytes, in a table.
    pair.feed(events(*[event(seq=400 + i, kind="REFUND", bet_ref=f"bet-{i:06d}", amount=100)
                       for i in range(1, 101)]))
    refunded = st.memory()
    assert refunded["open_bets"] == 400 and refunded["refunded_bets"] == 100
    assert 100 * 16 < refunded["bets"] - memory["bets"] < 100 * 48


ROUNDS = 1500
FIELD_TYPES = {f["name"]: f["type"] for f in load_type(EVENT).schema["fields"]}
# Amounts with codes at varint length boundaries (2**(7k - 1) - 1 takes k bytes, 2**(7k - 1) one more).
EDGE_AMOUNTS = [1, 63, 64, 8_191, 8_192, 2**20 - 1, 2**20, 2**27 - 1, 2**27, 2**33]
EDGE_TEXTS = ["", "x" * 63, "x" * 64, "ґ" * 32, "ґ" * 64]  # 0, 63, 64, 64 and 128 bytes


def bet_ref(seq: int) -> str:
    """A reference no one- or two-byte mutation of another turns into (a checksum in it)."""
    return f"b{seq}-{zlib.crc32(str(seq).encode()) % 99_991}"


def number_of(ev: dict[str, Any], key: str) -> int:
    """The integer ``write_event`` writes for the number ``key`` names (as in its ``raw``)."""
    name, _, inner = key.partition(":")
    t, v = FIELD_TYPES[name], ev[name]
    if isinstance(t, list) and not inner:
        return 0 if v is None else 1
    if isinstance(t, dict):
        return int(t["symbols"].index(v))
    return len(v.encode()) if isinstance(v, str) else int(v)


def number_keys(ev: dict[str, Any]) -> list[str]:
    keys = list(FIELD_TYPES)
    return keys + [f"{k}:value" for k, t in FIELD_TYPES.items() if isinstance(t, list) and ev[k] is not None]


def not_strict_copy(evs: list[dict[str, Any]], rng: random.Random, **layout: Any) -> bytes:
    """The record of ``evs`` with one number not strict, though with the old decoders (which
    dropped bits beyond 64 and counted negative indexes from the end) most read the same."""
    if layout["negative_counts"] and rng.random() < 0.2:
        return batch([write_event(e) for e in evs], size_error=rng.choice((-1, 1)), **layout)
    i = rng.randrange(len(evs))
    key = rng.choice(number_keys(evs[i]))
    n = number_of(evs[i], key)
    forms = [*not_strict(code_of(n)), varint(code_of(n) + 2**64 * rng.randrange(1, 64))]
    t = FIELD_TYPES[key.partition(":")[0]]
    if isinstance(t, dict) and ":" not in key:
        forms.append(varint(code_of(n - len(t["symbols"]))))
    raw = {key: rng.choice(forms)}
    return batch([write_event(e, raw if j == i else None) for j, e in enumerate(evs)], **layout)


def mutated(value: bytes, rng: random.Random) -> bytes:
    """``value`` with one or two random bit flips, byte changes, insertions or deletions."""
    out = bytearray(value)
    for _ in range(rng.randint(1, 2)):
        at = rng.randrange(2 if rng.random() < 0.05 else HEADER_LEN, len(out))
        op = rng.randrange(4)
        if op == 0:
            out[at] = rng.randrange(256)
        elif op == 1:
            out.insert(at, rng.choice((0x00, 0x80, 0xff, rng.randrange(256))))  # 0x80: a varint longer
        elif op == 2:
            del out[at]
        else:
            out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def test_bad_records_among_good_ones_lose_no_event() -> None:
    """Each round, a good record of source s1 (four events, seqs 10n + 1 to 10n + 4), with values
    and lengths at varint boundaries; before it, its copy with one number not strict and a
    truncation (a botched first send); after it, a mutated copy (a corrupted retry), and a mutated
    record whose intact form is never sent (seqs 10n + 5 to 10n + 8). Both engines agree byte for
    byte; every record is answered, every event in it that decodes too; an event whose seq was
    decided is a DUPLICATE, or conflicting_duplicate if its bytes differ; every good event is
    accepted exactly once, by its good record, unless a mutant decided its seq first."""
    rng = random.Random(2026)
    pair = Pair()
    accepted: Counter[int | None] = Counter()
    decided: set[int] = set()  # good seqs decided so far
    claimed: set[int] = set()  # good seqs a mutant decided before their good record came
    everything: set[int] = set()  # every seq decided so far
    conflicts = 0
    outcomes: set[str] = set()
    for n in range(ROUNDS):
        s = 10 * n + 1
        good_events = [event(seq=s, bet_ref=bet_ref(s), amount=rng.choice(EDGE_AMOUNTS),
                             operator_ref=rng.choice(EDGE_TEXTS)),
                       event(seq=s + 1, bet_ref=bet_ref(s + 1), round_ref=rng.choice(EDGE_TEXTS)),
                       event(seq=s + 2, kind="DEPOSIT", bet_ref=None, amount=rng.choice(EDGE_AMOUNTS)),
                       win(seq=s + 3, bet_ref=bet_ref(s), amount=rng.choice(EDGE_AMOUNTS))]
        layout = {"blocks": [3, 1], "negative_counts": n % 2 == 0}
        good = batch([write_event(e) for e in good_events], **layout)
        lost = batch([write_event(event(seq=s + 4 + i, bet_ref=f"x{s + i % 2}", operator_ref="ґ" * i))
                      for i in range(3)] + [write_event(win(seq=s + 7, bet_ref=f"x{s}"))], **layout)
        botched = [not_strict_copy(good_events, rng, **layout), good[:rng.randrange(HEADER_LEN, len(good))]]
        for value in [*botched, good, mutated(good, rng), mutated(lost, rng)]:
            out = pair.feed(value)
            outcomes |= set(out.rejected) | set(out.accepted)
            assert out.receipts_value is not None, "a record without an answer"
            answered = receipts(out, duplicates=True)
            assert len(answered) == out.events_in or answered[0][0] is None  # or rejected whole
            repeats = {q for q, reason, _ in answered if reason == "DUPLICATE"}
            assert repeats <= everything and len(repeats) <= out.duplicates
            got = receipts(out)
            conflicting = {q for q, reason, _ in got if reason == "conflicting_duplicate"}
            assert conflicting <= everything
            conflicts += len(conflicting)
            got = [r for r in got if r[1] != "conflicting_duplicate"]
            everything |= {q for q, _, _ in got if q is not None and q > 0}
            if value in botched:
                malformed(out, value)
            elif value is good:
                assert got == [(q, None, None) for q in range(s, s + 4) if q not in claimed], got
                decided |= set(range(s, s + 4))
            else:  # a mutant: it may decide seqs no record decided yet, good ones of later rounds too
                seqs = {q for q, _, _ in got if q is not None}
                assert not seqs & decided
                claimed |= {q for q in seqs if 0 < q <= 10 * ROUNDS and (q - 1) % 10 < 4}
            accepted.update(q for q, reason, _ in got if reason is None)
    pair.assert_same_state()
    assert set(accepted.values()) == {1}  # no event accepted twice
    good_seqs = {10 * n + 1 + i for n in range(ROUNDS) for i in range(4)}
    assert all(accepted[q] == 1 for q in good_seqs - claimed)
    assert len(claimed) < len(good_seqs) // 100, len(claimed)
    assert {"malformed", "unknown_schema", "BET", "WIN", "unknown_bet",
            "conflicting_duplicate"} <= outcomes, outcomes
    assert conflicts > ROUNDS // 10, conflicts  # corrupted retries that still decode, with an event changed
    assert len(outcomes) >= 10, outcomes


def test_a_decoder_disagreement_rejects_the_record_instead_of_stopping_the_partition() -> None:
    proc = make_processor(REGISTRY, ValidationSettings(engine="native"), TOPICS, CODEC)

    class Refuses:  # the compiled decoder refusing even the canonical re-encoding (a bug)
        def process(self, *args: Any) -> None:
            return None

    proc._native = Refuses()  # type: ignore[attr-defined]
    state = proc.new_state(TOPIC, 0)
    out = proc.process(state, 7, b"s1", events(event(seq=1)), NOW)
    [(seq, reason, detail)] = receipts(out)
    assert (seq, reason) == (None, "malformed") and detail is not None and "send it again" in detail
    assert out.archive_value is None and out.changelog == [] and out.rejected == {"malformed": 1}


# -- conflicting re-sends --

@pytest.mark.parametrize("window", [1, 5, 64])
def test_conflicting_resends_decide_the_same_and_restore_alike(window: int) -> None:
    """Two sources sending new seqs (with gaps, filled later), rejected events, identical retries
    and changed re-sends of recent and old seqs, duplicates within a record. Both engines agree
    on every output and on their windows; each restores the other's changelog, compacted or
    whole, or compacted and shuffled, to the same windows, and then decides as the original."""
    rng = random.Random(window)
    pair = Pair(conflict_window_per_source=window)
    sent: dict[str, list[dict[str, Any]]] = {"s1": [], "s2": []}  # events sent, by source
    top = {"s1": 0, "s2": 0}
    gaps: dict[str, list[int]] = {"s1": [], "s2": []}
    records: list[tuple[bytes, bytes]] = []
    for _ in range(300):
        source = rng.choice(["s1", "s2"])
        evs: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 6)):
            r = rng.random()
            if r < 0.45 or not sent[source]:
                skip = rng.choice([0, 0, 0, 1, 2])
                gaps[source] += range(top[source] + 1, top[source] + 1 + skip)
                top[source] += skip + 1
                seq = top[source]
            elif r < 0.55 and gaps[source]:
                seq = gaps[source].pop(rng.randrange(len(gaps[source])))
            else:  # a re-send of an event sent before, recent or old, as it was or changed
                before = sent[source][-rng.randint(1, min(len(sent[source]), 3 * window + 3))]
                evs.append(before if rng.random() < 0.5 else before | {"amount": before["amount"] + 1})
                continue
            amount = 0 if rng.random() < 0.1 else rng.randint(1, 9) * 100  # some rejected
            evs.append(event(seq=seq, kind="DEPOSIT", bet_ref=None, amount=amount, operator_ref=f"t{seq}"))
        if rng.random() < 0.1:
            evs.append(evs[0] | {"amount": evs[0]["amount"] + 7})  # one seq twice in a record
        sent[source] += evs
        records.append((batch([write_event(e) for e in evs], source=source), source.encode()))
    for value, key in records[:200]:
        pair.feed(value, key)
    pair.assert_same_state()
    reasons = Counter(r for o in pair.outcomes for r in o.rejected.elements())
    assert reasons["conflicting_duplicate"] > 5 and sum(o.duplicates for o in pair.outcomes) > 20, reasons
    whole = [entry for o in pair.outcomes for entry in o.changelog]  # before compaction
    assert any(v is None for k, v in whole if b"|dig|" in k)
    shuffled = list(pair.logs["python"].items())
    rng.shuffle(shuffled)  # a compacted log in any order: each live record's entry once
    for mine, other in (("python", "native"), ("native", "python")):
        for log in (pair.logs[other].items(), whole, shuffled):
            st = pair.procs[mine].new_state(TOPIC, 0)
            for k, v in log:
                st.apply(k, v)
            assert windows(st) == windows(pair.states[mine][(TOPIC, 0)])
    crossed = Pair(conflict_window_per_source=window)
    for mine, other in (("python", "native"), ("native", "python")):
        st = crossed.states[mine][(TOPIC, 0)] = crossed.procs[mine].new_state(TOPIC, 0)
        for k, v in pair.logs[other].items():
            st.apply(k, v)
    crossed.outcomes = list(pair.outcomes)  # offsets continue
    crossed.logs = {e: dict(pair.logs[e]) for e in ENGINES}
    for value, key in records[200:]:
        assert pair.feed(value, key) == crossed.feed(value, key)
    crossed.assert_same_state()
    pair.assert_same_state()


def test_records_of_registered_writer_schemas_are_resolved_and_decided_alike() -> None:
    """A Go writer's schema (occurred_at_us as timestamp-micros: another fingerprint there) and
    one with an extra optional field, registered: their records are resolved into dsom's
    EventBatch first, so both engines decide the same bytes; what is archived is dsom's encoding,
    and a re-send in any of the schemas is a DUPLICATE of the first."""
    go, extra = with_timestamp(batch_json()), with_extra_field(batch_json())
    registered = [check_writer("op-a", orjson.dumps(s).decode()) for s in (go, extra)]
    pair = Pair(writers=WriterSchemas(registered))
    extra_fp = registered[1].fingerprints[0]

    def record(*events: dict[str, Any]) -> dict[str, Any]:
        return {"operator_id": "op-a", "source_id": "s1", "sent_at_us": NOW, "events": list(events)}

    bet, dep = event(seq=1, bet_ref="b1"), event(seq=2, kind="DEPOSIT", bet_ref=None)
    out = pair.feed(write(go, record(bet), bytes.fromhex(HAMBA_TIMESTAMP_FP)))
    assert out.accepted == {"BET": 1}
    noted = write(extra, record(dep | {"cashier_note": "till 4"}), extra_fp)
    out = pair.feed(noted)
    assert out.accepted == {"DEPOSIT": 1}
    archived = CODEC.decode(out.archive_value or b"")[1]["events"]
    assert [a["event"] for a in archived] == [dep]  # the extra field is not dsom's: not kept
    assert out.archive_value and encode_event_body(dep) in out.archive_value
    go_again = write(go, record(bet), bytes.fromhex(HAMBA_TIMESTAMP_FP))
    for again in (noted, batch([write_event(bet)]), go_again):
        assert [r[1] for r in receipts(pair.feed(again), duplicates=True)] == ["DUPLICATE"]
    # Another operator's registration is not this operator's; a broken body names the schema
    [(seq, reason, detail)] = receipts(Pair(writers=WriterSchemas(
        [check_writer("op-b", orjson.dumps(extra).decode())])).feed(noted))
    assert (seq, reason) == (None, "unknown_schema") and detail and (
        f"unknown schema fingerprint {extra_fp.hex()} (Java prints {extra_fp[::-1].hex()}): not dsom's "
        "EventBatch; register your writer schema: dsom schema register --operator op-a FILE") == detail
    [(seq, reason, detail)] = receipts(pair.feed(noted[:-3]))
    assert reason == "malformed" and detail and f"writer schema you registered as {extra_fp.hex()}" in detail
    pair.assert_same_state()


def test_the_compiled_validator_returns_a_frozen_typed_decision() -> None:
    validator = make_processor(REGISTRY, ValidationSettings(engine="native"), TOPICS, CODEC)
    state = validator.new_state(TOPIC, 0)
    got = validator._native.process(state, "op-a", 0, b"s1", batch([write_event(event(seq=1))]), NOW)  # type: ignore[attr-defined]
    assert isinstance(got, dsom_native.Decision)
    assert (got.receipts_key, got.events_in, got.duplicates, got.accepted, got.rejected) == (
        b"s1", 1, 0, {"BET": 1}, {})
    assert got.receipts is not None and got.archive is not None and got.changelog
    with pytest.raises(AttributeError):
        got.events_in = 2  # type: ignore[misc]


def test_both_engines_link_every_event_to_its_operator_source_and_ingest_position() -> None:
    """Link rule 2, byte for byte in both engines: a record on another partition, offset or
    source gives other links, and each engine's archive verifies by the rule it names."""
    pair = Pair()
    for i, (source, partition) in enumerate([("s1", 0), ("s2", 0), ("s1", 0), ("s3", 1)]):
        evs = [event(seq=i * 10 + j + 1, bet_ref=f"b{i}-{j}") for j in range(3)]
        out = pair.feed(CODEC.encode(EVENT_BATCH, {"operator_id": "op-a", "source_id": source,
                                                   "sent_at_us": NOW, "events": evs}),
                        source.encode(), partition=partition)
        assert out.archive_value is not None
        _, archived = CODEC.decode(out.archive_value)
        assert archived["link_rule"] == LINK_RULE
        links = links_of(archived)
        provenance = Provenance("op-a", source, TOPIC, partition, i)
        assert [link.hash for link in links] == [
            provenance.link_hash(link.prev_hash, link.index, link.seq, link.receipt_id, link.event_body)
            for link in links]
    pair.assert_same_state()
