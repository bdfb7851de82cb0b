"""The compiled engine decides exactly as the Python reference: same bytes, same state, same log."""

from __future__ import annotations

import random
import re
import zlib
from typing import Any

import pytest

from pipeline.core.native import player_ref_rules
from pipeline.core.personal_data import personal_data_hint
from pipeline.core.processor import Outcome, Processor, make_processor
from pipeline.core.validation import PLAYER_REF
from pipeline.registry import Licence, Operator, Registry
from pipeline.settings import DAY_US, TopicSettings, ValidationSettings
from schemas import EVENT, EVENT_BATCH, RECEIPT_BATCH, default_codec
from schemas.codec import load_type
from schemas.raw import zigzag
from tests.pipeline.core.player_refs import OPAQUE, PERSONAL, PSEUDONYMS, adversarial
from tests.pipeline.core.test_processor import ENGINES, snapshot
from tests.pipeline.core.test_validation import NOW, REGISTRY, event
from tests.pipeline.operator.conftest import REGISTRY as DEMO_REGISTRY
from tests.pipeline.operator.conftest import run_fleet

CODEC = default_codec()
TOPICS = TopicSettings()
TOPIC = "dsom.ingest.op-a"
FIELDS = load_type(EVENT).schema["fields"]
HOUR = 3_600_000_000


class Pair:
    """Both engines, each with its own states and compacted changelog, fed the same records."""

    def __init__(self, registry: Registry = REGISTRY, **validation: Any) -> None:
        self.validation = validation
        self.procs: dict[str, Processor] = {}
        self.reload(registry)
        self.states: dict[str, dict[tuple[str, int], Any]] = {e: {} for e in ENGINES}
        self.logs: dict[str, dict[bytes, bytes | None]] = {e: {} for e in ENGINES}
        self.outcomes: list[Outcome] = []

    def reload(self, registry: Registry) -> None:
        """A new registry (as the agent's reload does): new processors, the same states."""
        self.procs = {e: make_processor(registry, ValidationSettings(engine=e, **self.validation),  # type: ignore[arg-type]
                                        TOPICS, CODEC) for e in ENGINES}

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


def receipts(out: Outcome) -> list[tuple[int | None, str | None, str | None]]:
    assert out.receipts_value is not None
    name, batch = CODEC.decode(out.receipts_value)
    assert name == RECEIPT_BATCH
    return [(r["seq"], r["reason"], r["detail"]) for r in batch["receipts"]]


# -- hand-written encodings --

def overlong(n: int) -> bytes:
    """``n`` as an Avro long one byte longer than needed (valid, not canonical)."""
    z = zigzag(n)
    return z[:-1] + bytes([z[-1] | 0x80, 0])


def write_event(ev: dict[str, Any], overlong_in: tuple[str, ...] = (),
                negative_in: tuple[str, ...] = ()) -> bytes:
    """An Event's Avro bytes; numbers, lengths and indexes of the named fields overlong, or the
    named enums' and unions' indexes negative (fastavro counts those from the end)."""
    out = b""
    for f in FIELDS:
        name, t, v = f["name"], f["type"], ev[f["name"]]

        def num(n: int, name: str = name) -> bytes:
            return overlong(n) if name in overlong_in else zigzag(n)

        def text(s: str) -> bytes:
            return num(len(s.encode())) + s.encode()

        if t == "long":
            out += num(v)
        elif t == "string":
            out += text(v)
        elif isinstance(t, dict):  # an enum
            i = t["symbols"].index(v)
            out += zigzag(i - len(t["symbols"])) if name in negative_in else num(i)
        else:  # ["null", x]
            branch = 0 if v is None else 1
            out += zigzag(branch - 2) if name in negative_in else num(branch)
            if v is not None:
                out += num(v) if t[1] == "long" else text(v)
    return out


def batch(bodies: list[bytes], operator: str = "op-a", source: str = "s1",
          blocks: list[int] | None = None, negative_counts: bool = False) -> bytes:
    """An EventBatch written by hand around ``bodies``, in blocks of the given sizes."""
    out = load_type(EVENT_BATCH).header + zigzag(len(operator.encode())) + operator.encode()
    out += zigzag(len(source.encode())) + source.encode() + zigzag(NOW)
    i = 0
    for size in blocks or ([len(bodies)] if bodies else []):
        items = b"".join(bodies[i:i + size])
        out += (zigzag(-size) + zigzag(len(items))) if negative_counts else zigzag(size)
        out += items
        i += size
    return out + b"\x00"


def events(*evs: dict[str, Any]) -> bytes:
    return batch([write_event(e) for e in evs])


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

def test_every_valid_avro_encoding_decides_as_the_canonical_one() -> None:
    pair = Pair()
    bet, deposit = event(seq=1, bet_ref="b1"), event(seq=2, kind="DEPOSIT", bet_ref=None)
    plain = pair.feed(events(bet, deposit))
    forms = [
        batch([write_event(bet), write_event(deposit)], blocks=[1, 1]),
        batch([write_event(bet), write_event(deposit)], negative_counts=True),
        batch([write_event(bet), write_event(deposit)], blocks=[1, 1], negative_counts=True),
        batch([write_event(bet, overlong_in=("seq",)), write_event(deposit)]),
        batch([write_event(bet, overlong_in=("operator_ref", "kind", "bet_ref", "amount")),
               write_event(deposit, overlong_in=("tax_withheld_pit", "channel"))]),
        batch([write_event(bet, negative_in=("kind", "channel", "site_id")), write_event(deposit)]),
        batch([write_event(bet), write_event(deposit, negative_in=("bet_ref", "licence_kind"))]),
    ]
    for i, value in enumerate(forms):
        pair2 = Pair()
        out = pair2.feed(value)
        assert out.receipts_value is not None and plain.receipts_value is not None
        got, want = CODEC.decode(out.receipts_value)[1], CODEC.decode(plain.receipts_value)[1]
        assert got["receipts"] == want["receipts"], i
        assert out.archive_value == plain.archive_value, i  # the canonical bytes are archived and chained
        pair.feed(value)  # and as retries against the first state: duplicates
    pair.assert_same_state()


def test_a_number_beyond_64_bits_is_read_as_fastavro_wraps_it() -> None:
    pair = Pair()
    body = write_event(event(seq=1))
    out = pair.feed(batch([b"\xff" * 10 + b"\x01" + body[1:], body]))
    assert receipts(out)[0] == (-2**63, "invalid_sequence", f"seq {-2**63} must be >= 1")
    pair.assert_same_state()


@pytest.mark.parametrize("value", [
    b'{"json": true}',
    b"\xc3\x01" + bytes(8) + b"\x02",
    load_type(RECEIPT_BATCH).header + b"\x02",  # a known schema, not accepted on ingest
    events(event())[:-9],  # truncated
    events(event()) + b"\x00",  # trailing bytes
    batch([write_event(event(operator_ref="x")).replace(b"\x02x", b"\x02\xff", 1)]),  # bad UTF-8
    batch([write_event(event(operator_ref="xy")).replace(b"\x04xy", b"\x04\xed\xa0", 1)]),  # surrogate
    batch([write_event(event())[:6] + b"\x0a" + write_event(event())[7:]]),  # kind index 5
    batch([write_event(event())]).replace(b"\x08op-a", b"\x08op-\xff", 1),  # bad UTF-8 in the header
    b"\xc3\x01",
])
def test_records_that_do_not_decode_are_rejected_with_fastavros_words(value: bytes) -> None:
    pair = Pair()
    out = pair.feed(value)
    [(seq, reason, _)] = receipts(out)
    assert seq is None and reason in ("unknown_schema", "malformed")
    assert out.changelog == [] and pair.logs["python"] == {}


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


WEIRD = ["it's", 'say "hi"', "both ' and \"", "ставка №1", "tab\tnew\nline\x00\x1f\x7f", "back\\slash",
         "\u2028\U0001f600", "é" * 64]


def test_repr_details_and_json_escapes_match() -> None:
    pair = Pair()
    seq = iter(range(1, 1000))
    for ref in WEIRD:
        pair.feed(events(event(seq=next(seq), bet_ref=ref), event(seq=next(seq), bet_ref=ref),
                         win(seq=next(seq), bet_ref=ref), win(seq=next(seq), bet_ref=ref + "?"),
                         event(seq=next(seq), kind="REFUND", bet_ref="x" + ref),
                         event(seq=next(seq), currency=ref), event(seq=next(seq), licence_id=ref),
                         event(seq=next(seq), operator_ref=ref, round_ref=ref, bet_ref=ref + ref)))
    pair.assert_same_state()
    restored = Pair()
    for e in ENGINES:  # the escaped JSON reads back
        st = restored.states[e][(TOPIC, 0)] = restored.procs[e].new_state(TOPIC, 0)
        for key, value in pair.logs[e].items():
            st.apply(key, value)
    assert snapshot(restored.states["native"][(TOPIC, 0)]) == snapshot(pair.states["python"][(TOPIC, 0)])


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
    ]
    for i, changes in enumerate(cases):
        pair.feed(events(event(seq=2 * i + 1, bet_ref=f"b{i}") | {"seq": 2 * i + 1} | changes,
                         event(seq=2 * i + 2, bet_ref=f"c{i}", player_ref="fine_player_1")))
    pair.assert_same_state()
    reasons = {r for o in pair.outcomes for r in o.rejected}
    assert len(reasons) >= 15, reasons


def mutated(rng: random.Random, ref: str) -> str:
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
            refs.append(mutated(rng, rng.choice(examples) if rng.random() < 0.5 else adversarial(rng)))
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


def test_native_state_reports_its_memory() -> None:
    pair = Pair()
    pair.feed(events(*[event(seq=i, bet_ref=f"bet-{i:06d}") for i in range(1, 401)]))
    st = pair.states["native"][(TOPIC, 0)]
    memory = st.memory()
    assert memory["open_bets"] == 400 and memory["sources"] == 1 and memory["intervals"] == 1
    assert 400 * (4 + 10 + 4 + 8) < memory["bets"] < 400 * 80  # keys, ends, table entries; no more


def test_mutated_records_decide_alike() -> None:
    """Random byte flips, insertions, deletions: whatever fastavro makes of the bytes, both agree."""
    rng = random.Random(2026)
    pair = Pair()
    outcomes: set[str] = set()
    for n in range(3000):
        s = 10 * n + 1
        good = batch([write_event(event(seq=s + i, bet_ref=f"b{s + i % 2}", operator_ref="ґ" * i))
                      for i in range(3)] + [write_event(win(seq=s + 3, bet_ref=f"b{s}"))],
                     blocks=[3, 1], negative_counts=n % 2 == 0)
        value = bytearray(good)
        for _ in range(rng.randint(1, 2)):
            at = rng.randrange(2 if rng.random() < 0.05 else 10, len(value))
            op = rng.randrange(4)
            if op == 0:
                value[at] = rng.randrange(256)
            elif op == 1:
                value.insert(at, rng.randrange(256))
            elif op == 2:
                del value[at]
            else:
                value[at] ^= 1 << rng.randrange(8)
        out = pair.feed(bytes(value))
        outcomes |= set(out.rejected) | set(out.accepted)
    pair.assert_same_state()
    assert {"malformed", "unknown_schema", "BET", "WIN", "unknown_bet"} <= outcomes, outcomes
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
