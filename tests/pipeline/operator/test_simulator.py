from itertools import islice

from pipeline.core.processor import RecordProcessor
from pipeline.core.state import PartitionState
from pipeline.operator.fleet import PROFILES, demo_registry
from pipeline.operator.simulator import OperatorSimulator, SimBatch, simulate_fleet, tax_half_up
from pipeline.settings import TopicSettings, ValidationSettings
from schemas import EVENT_BATCH, default_codec

NOW = 1_800_000_000_000_000
REGISTRY = demo_registry(1)


def fleet(n: int, seed: int = 5, **options: object) -> list[tuple[str, SimBatch]]:
    return list(islice(simulate_fleet(REGISTRY, seed=seed, clock=lambda: NOW, batch_size=40,
                                      bad_share=0.05, duplicate_share=0.05, **options), n))


def test_same_seed_same_traffic() -> None:
    a, b = fleet(50), fleet(50)
    assert [(op, x.source_id, x.events, x.raw) for op, x in a] == [(op, x.source_id, x.events, x.raw)
                                                                   for op, x in b]
    assert fleet(50, seed=6) != a


def test_outcomes_match_what_the_pipeline_decides() -> None:
    """The simulator's expectations and the pure processor agree on every event."""
    codec = default_codec()
    topics = TopicSettings()
    proc = RecordProcessor(REGISTRY, ValidationSettings(), topics, codec)
    states: dict[str, PartitionState] = {}
    expected: dict[tuple[str, str, int], tuple[str, str | None]] = {}
    decided: dict[tuple[str, str, int], tuple[str, str | None]] = {}
    record_reasons, got_record_reasons = [], []
    for offset, (op, batch) in enumerate(fleet(400)):
        # one partition per source keeps the test independent of the partitioner
        state = states.setdefault(batch.source_id, PartitionState(topics.ingest(op), len(states)))
        value = batch.raw if batch.raw is not None else codec.encode(EVENT_BATCH, {
            "operator_id": op, "source_id": batch.source_id, "sent_at_us": NOW, "events": batch.events})
        out = proc.process(state, offset, batch.source_id.encode(), value, NOW)
        for (source, seq), outcome in batch.expected.items():
            expected[(op, source, seq)] = outcome
        if batch.expected_record_reason:
            record_reasons.append(batch.expected_record_reason)
        assert out.duplicates == batch.duplicates
        for r in (out.receipts or {}).get("receipts", []):
            if r["seq"] is None:
                got_record_reasons.append(r["reason"])
            else:
                key = (op, batch.source_id, r["seq"])
                assert key not in decided, f"{key} decided twice"
                decided[key] = (r["status"], r["reason"])
    assert decided == expected
    assert got_record_reasons == record_reasons
    statuses = {s for s, _ in expected.values()}
    reasons = {r for _, r in expected.values() if r}
    assert statuses == {"ACCEPTED", "REJECTED"} and len(reasons) >= 8


def test_outcomes_follow_their_bet_in_the_same_source() -> None:
    placed: set[tuple[str, str]] = set()
    for _, batch in fleet(300):
        if batch.raw is not None or batch.duplicates == len(batch.events):
            continue
        for ev in batch.events:
            ok = batch.expected.get((batch.source_id, ev["seq"])) == ("ACCEPTED", None)
            if ev["kind"] == "BET" and ok:
                placed.add((batch.source_id, ev["bet_ref"]))
            elif ev["kind"] in ("WIN", "REFUND") and ok:
                assert (batch.source_id, ev["bet_ref"]) in placed


def test_return_to_player_is_realistic() -> None:
    for op in REGISTRY.operators:
        sim = OperatorSimulator(op, seed=3, batch_size=200, bad_share=0, duplicate_share=0)
        for _ in range(300):
            sim.next_batch(NOW)
        profile = PROFILES[sim.kind]
        rtp = sim.payouts / sim.stakes
        assert abs(rtp - profile.rtp) < 0.06, (op.operator_id, rtp)


def test_withheld_tax_rounds_half_up() -> None:
    assert tax_half_up(250, 18) == 45
    assert tax_half_up(10, 5) == 1  # 0.5 kopeck rounds up
    assert tax_half_up(9, 5) == 0
