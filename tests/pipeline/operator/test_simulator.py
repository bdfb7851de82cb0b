from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from pipeline.core.model import ALLOWED_CHANNELS, Channel, LicenceKind
from pipeline.core.processor import make_processor
from pipeline.core.tax import apply_rate
from pipeline.core.validation import personal_data_hint
from pipeline.operator.fleet import PROFILES, demo_registry
from pipeline.operator.simulator import Fleet, OperatorSimulator, simulate_fleet
from pipeline.settings import DAY_US, TopicSettings, ValidationSettings
from schemas import EVENT_BATCH, MalformedRecordError, UnknownSchemaError, default_codec
from schemas.codec import EVENT, load_type
from tests.pipeline.operator.conftest import NOW, REGISTRY, Sent, run_fleet

Traffic = tuple[Fleet, list[Sent]]
FIELDS = {f["name"] for f in load_type(EVENT).schema["fields"]}


def new_events(traffic: Traffic) -> list[tuple[Sent, dict[str, Any]]]:
    """Every new event (one decided by dsom), in sending order, with its record."""
    seen: set[tuple[str, str, int]] = set()
    out = []
    for s in traffic[1]:
        for ev in s.batch.events:
            key = (s.operator_id, s.batch.source_id, ev["seq"])
            if (s.batch.source_id, ev["seq"]) in s.batch.expected and key not in seen:
                seen.add(key)
                out.append((s, ev))
    return out


def accepted(traffic: Traffic) -> list[tuple[Sent, dict[str, Any]]]:
    return [(s, ev) for s, ev in new_events(traffic)
            if s.batch.expected[(s.batch.source_id, ev["seq"])] == ("ACCEPTED", None)]


def test_same_seed_same_traffic() -> None:
    def shape(sent: list[Sent]) -> list[Any]:
        return [(s.operator_id, s.batch.source_id, s.batch.events, s.batch.raw, s.batch.expected,
                 s.batch.expected_record_reason, s.batch.duplicates) for s in sent]

    a, b = run_fleet(seed=9, batches=100)[1], run_fleet(seed=9, batches=100)[1]
    assert shape(a) == shape(b)
    assert shape(run_fleet(seed=10, batches=100)[1]) != shape(a)


def test_simulate_fleet_takes_operators_in_turn() -> None:
    batches = list(simulate_fleet(REGISTRY, seed=1, batches=10, clock=lambda: NOW, batch_size=10))
    ops = [op for op, _ in batches]
    assert ops == [o.operator_id for o in REGISTRY.operators] * 2
    assert all(b.operator_id == op for op, b in batches)


def test_every_event_has_every_field_and_encodes(traffic: Traffic) -> None:
    codec = default_codec()
    for s in traffic[1]:
        for ev in s.batch.events:
            assert set(ev) == FIELDS
            assert all(isinstance(ev[k], int) for k in ("seq", "amount", "occurred_at_us"))
            assert all(ev[k] is None or isinstance(ev[k], int)
                       for k in ("tax_withheld_pit", "tax_withheld_military"))
        if s.batch.events:
            record = {"operator_id": s.operator_id, "source_id": s.batch.source_id, "sent_at_us": s.now_us,
                      "events": s.batch.events}
            _, back = codec.decode(codec.encode(EVENT_BATCH, record), expect=EVENT_BATCH)
            assert back == record


def test_expected_outcomes_cover_every_new_event_exactly_once(traffic: Traffic) -> None:
    fleet, sent = traffic
    decided: set[tuple[str, str, int]] = set()
    for s in sent:
        b = s.batch
        in_batch = [(b.source_id, ev["seq"]) for ev in b.events]
        assert len(set(in_batch)) == len(in_batch), "an event twice in one record"
        new = {k for k in in_batch if (s.operator_id, *k) not in decided}
        if b.expected_record_reason is None:
            assert set(b.expected) == new
            assert b.duplicates == len(in_batch) - len(new)
        else:
            assert not b.expected and not b.events and b.raw is not None
        decided |= {(s.operator_id, *k) for k in b.expected}
    assert len(decided) == fleet.total().sent_unique
    statuses = Counter(status for s in sent for status, _ in s.batch.expected.values())
    assert statuses["ACCEPTED"] > 10 * statuses["REJECTED"] > 0


def test_seqs_number_each_source_without_gaps(traffic: Traffic) -> None:
    seqs: dict[tuple[str, str], list[int]] = {}
    for s, ev in new_events(traffic):
        seqs.setdefault((s.operator_id, s.batch.source_id), []).append(ev["seq"])
    assert len(seqs) == 2 * len(REGISTRY.operators)
    for numbers in seqs.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1))


def test_duplicates_resend_exact_earlier_events(traffic: Traffic) -> None:
    fleet, sent = traffic
    first: dict[tuple[str, str, int], dict[str, Any]] = {}
    retries = mixed = repeats = 0
    for s in sent:
        b = s.batch
        again = 0
        for ev in b.events:
            key = (s.operator_id, b.source_id, ev["seq"])
            if (b.source_id, ev["seq"]) in b.expected:
                first[key] = ev
            else:
                assert first[key] == ev, "a re-sent event differs from the original"
                again += 1
        assert again == b.duplicates
        repeats += again
        retries += bool(b.events) and again == len(b.events)
        mixed += 0 < again < len(b.events)
    assert retries > 5 and mixed > 5
    assert repeats == fleet.total().duplicates_sent


def test_win_and_refund_follow_their_bet_in_the_same_source(traffic: Traffic) -> None:
    bets: dict[tuple[str, str, str], dict[str, Any]] = {}
    bad_bets: set[tuple[str, str, str]] = set()
    settled: set[tuple[str, str, str]] = set()
    outcomes = Counter[str]()
    for s, ev in new_events(traffic):
        key = (s.operator_id, s.batch.source_id, ev["bet_ref"])
        ok = s.batch.expected[(s.batch.source_id, ev["seq"])] == ("ACCEPTED", None)
        if ev["kind"] == "BET" and ev["bet_ref"] is not None:
            assert key not in bets and key not in bad_bets, "bet_ref reused"
            (bets.__setitem__(key, ev) if ok else bad_bets.add(key))
        elif ev["kind"] in ("WIN", "REFUND"):
            assert key not in bad_bets, "an outcome follows a rejected bet"
            if not ok:
                continue
            bet = bets[key]  # placed earlier, by the same source
            assert key not in settled
            settled.add(key)
            outcomes[ev["kind"]] += 1
            assert bet["seq"] < ev["seq"] and bet["occurred_at_us"] <= ev["occurred_at_us"]
            same = ("player_ref", "game_type", "round_ref", "channel", "establishment_id", "equipment_id",
                    "site_id", "app_id", "licence_id")
            assert all(bet[f] == ev[f] for f in same)
            if ev["kind"] == "REFUND":
                assert 0 < ev["amount"] <= bet["amount"]
    assert outcomes["WIN"] > 100 and outcomes["REFUND"] > 5


def test_winnings_tax_withheld_at_18_and_5_percent_half_up(traffic: Traffic) -> None:
    wins = [ev for _, ev in accepted(traffic) if ev["kind"] == "WIN"]
    levy_ok = 0
    for ev in wins:
        amount = ev["amount"]
        assert ev["tax_withheld_pit"] == (amount * 18 + 50) // 100 == apply_rate(amount, 180_000)
        if ev["tax_withheld_military"] == (amount * 5 + 50) // 100:
            levy_ok += 1
        else:  # a simulated operator that still withholds the old 1.5 % levy
            assert ev["tax_withheld_military"] == apply_rate(amount, 15_000)
    assert levy_ok > 0.98 * len(wins)
    for _, ev in new_events(traffic):
        if ev["kind"] != "WIN":
            assert ev["tax_withheld_pit"] is None and ev["tax_withheld_military"] is None


@pytest.mark.parametrize("engine", ["python", "native"])
def test_the_pipeline_decides_what_the_simulator_expects(traffic: Traffic, engine: str) -> None:
    """Each engine reaches every expected outcome and answers exactly the duplicates with
    DUPLICATE receipts, each naming a receipt already given for that event."""
    codec, topics = default_codec(), TopicSettings()
    proc = make_processor(REGISTRY, ValidationSettings(engine=engine), topics, codec)
    states: dict[str, Any] = {}
    expected: dict[tuple[str, str, int], tuple[str, str | None]] = {}
    decided: dict[tuple[str, str, int], tuple[str, str | None]] = {}
    receipt_ids: dict[tuple[str, str, int], str] = {}
    record_reasons, got_record_reasons = [], []
    duplicates = 0
    for offset, s in enumerate(traffic[1]):
        b = s.batch
        state = states.setdefault(b.source_id, proc.new_state(topics.ingest(s.operator_id), len(states)))
        value = b.raw if b.raw is not None else codec.encode(EVENT_BATCH, {
            "operator_id": s.operator_id, "source_id": b.source_id, "sent_at_us": s.now_us,
            "events": b.events})
        out = proc.process(state, offset, b.source_id.encode(), value, s.now_us)
        assert out.duplicates == b.duplicates
        expected.update({(s.operator_id, *k): v for k, v in b.expected.items()})
        if b.expected_record_reason:
            record_reasons.append(b.expected_record_reason)
        receipts = codec.decode(out.receipts_value)[1]["receipts"] if out.receipts_value else []
        for r in receipts:
            if r["seq"] is None:
                got_record_reasons.append(r["reason"])
                continue
            key = (s.operator_id, b.source_id, r["seq"])
            if r["status"] == "DUPLICATE":
                assert r["first_receipt_id"] == receipt_ids[key]
                duplicates += 1
                continue
            assert key not in decided, f"{key} decided twice"
            decided[key] = (r["status"], r["reason"])
            receipt_ids[key] = r["receipt_id"]
    assert decided == expected and duplicates == sum(s.batch.duplicates for s in traffic[1]) > 0
    assert got_record_reasons == record_reasons
    reasons = {r for _, r in expected.values() if r}
    assert len(reasons) == 12 and set(record_reasons) == {"unknown_schema", "malformed"}


def test_records_rejected_whole(traffic: Traffic) -> None:
    codec = default_codec()
    seen = Counter[str]()
    for s in traffic[1]:
        b = s.batch
        if b.raw is None:
            continue
        if b.expected_record_reason == "unknown_schema":
            with pytest.raises(UnknownSchemaError):
                codec.decode(b.raw)
        elif b.expected_record_reason == "malformed":
            with pytest.raises(MalformedRecordError):
                codec.decode(b.raw)
        else:
            _, record = codec.decode(b.raw, expect=EVENT_BATCH)
            assert record["operator_id"] != s.operator_id and record["events"] == b.events
            assert set(b.expected.values()) == {("REJECTED", "wrong_operator")}
            seen["wrong_operator"] += 1
        seen[b.expected_record_reason or ""] += 1
    assert seen["unknown_schema"] and seen["malformed"] and seen["wrong_operator"]


def test_players_are_opaque_and_a_fixed_population(traffic: Traffic) -> None:
    refs: dict[str, set[str]] = {}
    for s, ev in accepted(traffic):
        assert re.fullmatch(r"p_[A-Z2-7]{20}", ev["player_ref"])
        assert personal_data_hint(ev["player_ref"]) is None
        refs.setdefault(s.operator_id, set()).add(ev["player_ref"])
    assert all(50 < len(r) <= 500 for r in refs.values())
    assert len(set.union(*refs.values())) == sum(len(r) for r in refs.values())  # per operator


def test_channels_and_venues_match_the_licence(traffic: Traffic) -> None:
    fleet = traffic[0]
    sims = {sim.operator.operator_id: sim for sim in fleet.simulators}
    channels = Counter[tuple[str, str]]()
    for s, ev in accepted(traffic):
        sim = sims[s.operator_id]
        channel = Channel(ev["channel"])
        assert channel in ALLOWED_CHANNELS[LicenceKind(ev["licence_kind"])]
        assert ev["licence_id"] == sim.licence.licence_id
        channels[(s.operator_id, channel)] += 1
        if channel is Channel.ESTABLISHMENT:
            assert ev["establishment_id"] in sim.venues.establishments
            assert ev["site_id"] is None and ev["app_id"] is None
            if ev["game_type"]:
                assert ev["equipment_id"].startswith(ev["establishment_id"] + "-")
        else:
            assert ev["establishment_id"] is None and ev["equipment_id"] is None
            assert (ev["site_id"] in sim.venues.sites) if channel is Channel.SITE else (
                ev["app_id"] in sim.venues.apps)
        if ev["game_type"]:
            assert ev["game_type"] in sim.profile.game_types
    assert channels[("op-bookmaker-1", Channel.ESTABLISHMENT)] and channels[("op-bookmaker-1", Channel.APP)]


def test_event_times_are_recent_or_a_valid_backlog(traffic: Traffic) -> None:
    ages = [s.now_us - ev["occurred_at_us"] for s, ev in accepted(traffic)]
    recent = [a for a in ages if a <= 10 * 1_000_000]
    assert len(recent) > 0.9 * len(ages)
    assert all(-300 * 1_000_000 <= a <= 3 * DAY_US for a in ages)  # never beyond dsom's windows
    assert any(a >= DAY_US for a in ages)
    assert traffic[0].total().late_events == sum(1 for a in ages if a >= 3600 * 1_000_000) > 0


def test_stats_add_up_to_the_accepted_events(traffic: Traffic) -> None:
    fleet = traffic[0]
    total = fleet.total()
    money = Counter[str]()
    for _, ev in accepted(traffic):
        money[ev["kind"]] += ev["amount"]
        money["pit"] += ev["tax_withheld_pit"] or 0
    assert (total.stakes, total.winnings, total.refunds, total.deposits, total.withdrawals,
            total.withdrawals_cancelled) == (money["BET"], money["WIN"], money["REFUND"], money["DEPOSIT"],
                                             money["WITHDRAWAL"], money["WITHDRAWAL_CANCELLED"])
    assert total.pit_withheld == money["pit"]
    assert total.ggr == money["BET"] - money["REFUND"] - money["WIN"]
    assert sum(total.accepted.values()) == len(accepted(traffic))
    assert total.batches == len(traffic[1])
    assert set(fleet.stats()) == {o.operator_id for o in REGISTRY.operators}


def test_wallets_never_go_negative() -> None:
    op = demo_registry(1).operators[1]
    sim = OperatorSimulator(op, PROFILES[LicenceKind.ONLINE_CASINO], seed=4, bad_share=0, duplicate_share=0)
    for _ in range(50):
        sim.next_batch(NOW)
    balances = [p.balance for p in sim._players.all]
    assert min(balances) >= 0 and max(balances) > 0
    assert sim.stats.accepted["WITHDRAWAL"] > 0


def test_profile_must_match_the_licence() -> None:
    op = demo_registry(1).operators[0]
    with pytest.raises(ValueError):
        OperatorSimulator(op, PROFILES[LicenceKind.SLOT_HALL], seed=1)


def test_a_cancelled_withdrawal_follows_its_withdrawal_and_returns_its_amount(traffic: Traffic) -> None:
    """Honest traffic cancels a few withdrawals: each the same player's and amount, not earlier."""
    withdrawals: dict[tuple[str, int], list[int]] = {}
    cancelled = 0
    for _, ev in accepted(traffic):  # in the order sent
        if ev["kind"] == "WITHDRAWAL":
            withdrawals.setdefault((ev["player_ref"], ev["amount"]), []).append(ev["occurred_at_us"])
        elif ev["kind"] == "WITHDRAWAL_CANCELLED":
            times = withdrawals.get((ev["player_ref"], ev["amount"]), [])
            assert any(t <= ev["occurred_at_us"] for t in times), ev
            assert ev["bet_ref"] is None and ev["game_type"] is None and ev["tax_withheld_pit"] is None
            cancelled += 1
    assert 0 < cancelled < 0.1 * sum(len(v) for v in withdrawals.values())


def test_the_withdrawal_reversal_pattern_spreads_one_player_over_two_sources() -> None:
    op = demo_registry(1).operators[1]
    sim = OperatorSimulator(op, PROFILES[LicenceKind.ONLINE_CASINO], seed=4, sources=2)
    wallet, play = sim.withdrawal_reversal_batches(NOW, reversals=3)
    assert (wallet.source_id, play.source_id) == tuple(sim.source_ids)
    assert [e["kind"] for e in wallet.events] == ["DEPOSIT"] + ["WITHDRAWAL", "WITHDRAWAL_CANCELLED"] * 3
    assert [e["kind"] for e in play.events] == ["BET"] * 3
    assert len({e["player_ref"] for e in wallet.events + play.events}) == 1
    cancelled = sum(e["amount"] for e in wallet.events if e["kind"] == "WITHDRAWAL_CANCELLED")
    assert sum(e["amount"] for e in play.events) >= cancelled  # the money taken back is staked
    assert all(s == ("ACCEPTED", None) for b in (wallet, play) for s in b.expected.values())
    [single] = OperatorSimulator(op, PROFILES[LicenceKind.ONLINE_CASINO], seed=4,
                                 sources=1).withdrawal_reversal_batches(NOW)
    assert len(single.events) == 10
