from __future__ import annotations

import random
from typing import Any

import pytest

from pipeline.core.model import Reason
from pipeline.core.validation import EventValidator, personal_data_hint
from pipeline.operator import defects
from pipeline.operator.simulator import Fleet
from pipeline.settings import ValidationSettings
from schemas import EVENT_BATCH, MalformedRecordError, UnknownSchemaError, default_codec
from schemas.codec import HEADER_LEN, load_type
from tests.pipeline.operator.conftest import REGISTRY, Sent

VALIDATOR = EventValidator(REGISTRY, ValidationSettings())


def repair(ev: dict[str, Any], reason: str, operator_id: str, now_us: int) -> dict[str, Any]:
    """Undo the one defect ``reason`` names."""
    lic = REGISTRY.operator(operator_id).licences[0]  # type: ignore[union-attr]
    fixes: dict[str, dict[str, Any]] = {
        "wrong_currency": {"currency": "UAH"},
        "non_positive_amount": {"amount": 10_000},
        "absurd_amount": {"amount": 10_000},
        "future_time": {"occurred_at_us": now_us},
        "too_late": {"occurred_at_us": now_us},
        "personal_data": {"player_ref": "p_ABCDEFGHIJKLMNOPQRST"},
        "unknown_licence": {"licence_id": lic.licence_id},
        "licence_kind_mismatch": {"licence_kind": str(lic.kind)},
        "missing_field": {"bet_ref": "a-bet"},
        "unknown_bet": {},  # only the stateful check knows the bet: the event itself is sound
        "refund_exceeds_stake": {},  # the same: only the bet's stake makes it too much
    }
    return ev | fixes[reason]


def test_each_bad_event_has_exactly_one_defect(traffic: tuple[Fleet, list[Sent]]) -> None:
    bets_sent: set[tuple[str, str]] = set()
    stakes: dict[tuple[str, str], int] = {}  # of the bets dsom accepts
    seen: set[str] = set()
    for s in traffic[1]:
        for ev in s.batch.events:
            if ev["kind"] == "BET":
                bets_sent.add((s.batch.source_id, ev["bet_ref"]))
                if s.batch.expected.get((s.batch.source_id, ev["seq"])) == ("ACCEPTED", None):
                    stakes[(s.batch.source_id, ev["bet_ref"])] = ev["amount"]
            status, reason = s.batch.expected.get((s.batch.source_id, ev["seq"]), ("", None))
            if status != "REJECTED" or reason == "wrong_operator":
                continue
            assert reason is not None
            seen.add(reason)
            got = VALIDATOR.check(s.operator_id, ev, s.now_us)
            if reason == "unknown_bet":
                assert got is None and ev["kind"] == "WIN"
                assert (s.batch.source_id, ev["bet_ref"]) not in bets_sent
            elif reason == "refund_exceeds_stake":
                assert got is None and ev["kind"] == "REFUND"
                assert ev["amount"] > stakes[(s.batch.source_id, ev["bet_ref"])]  # placed before, valid
            else:
                assert got is not None and got.reason == reason, (reason, got)
            fixed = repair(ev, reason, s.operator_id, s.now_us)
            assert VALIDATOR.check(s.operator_id, fixed, s.now_us) is None
    assert seen == {str(r) for r in defects.BAD_EVENT_REASONS}


@pytest.mark.parametrize("seed", range(50))
def test_personal_refs_always_look_personal(seed: int) -> None:
    assert personal_data_hint(defects.personal_ref(random.Random(seed))) is not None


@pytest.mark.parametrize("seed", range(30))
def test_bad_records_never_decode(seed: int) -> None:
    rng, codec = random.Random(seed), default_codec()
    header = load_type(EVENT_BATCH).header
    with pytest.raises(UnknownSchemaError):
        codec.decode(defects.unknown_schema_bytes(rng, "op-x-1", "src", header))
    event = {f["name"]: None for f in load_type("ua.dsom.v1.Event").schema["fields"]} | {
        "seq": 1, "operator_ref": "t", "kind": "DEPOSIT", "licence_id": "L", "licence_kind": "ONLINE_CASINO",
        "channel": "SITE", "site_id": "a.example.ua", "player_ref": "p_ABCDEFGHIJ", "amount": 100,
        "currency": "UAH", "occurred_at_us": 1}
    full = codec.encode(EVENT_BATCH, {"operator_id": "op-x-1", "source_id": "src", "sent_at_us": 1,
                                      "events": [event] * rng.randint(1, 3)})
    cut = defects.truncated(full, HEADER_LEN, rng)
    assert cut[:HEADER_LEN] == full[:HEADER_LEN] and len(cut) < len(full)
    with pytest.raises(MalformedRecordError):
        codec.decode(cut)


def test_every_defect_is_known_to_the_receipts_vocabulary() -> None:
    assert set(defects.BAD_EVENT_REASONS) | set(defects.BAD_RECORD_REASONS) <= set(Reason)
    with pytest.raises(ValueError):
        defects.spoil({}, Reason.WRONG_KEY, random.Random(1), 0, "src")
