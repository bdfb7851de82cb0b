from typing import Any

import pytest

from pipeline.core.model import Reason
from pipeline.core.validation import EventValidator, personal_data_hint
from pipeline.registry import Licence, Operator, Registry, Stop
from pipeline.settings import DAY_US, ValidationSettings

NOW = 1_800_000_000_000_000
REGISTRY = Registry(operators=(
    Operator(operator_id="op-a", name="A", licences=(
        Licence(licence_id="LIC-OC-1", kind="ONLINE_CASINO"),
        Licence(licence_id="LIC-SH-1", kind="SLOT_HALL", valid_to_us=NOW - DAY_US),
        Licence(licence_id="LIC-BK-9", kind="BOOKMAKING",
                stops=(Stop(status="suspended", from_us=NOW - DAY_US),)),
    )),
))


def event(**changes: Any) -> dict[str, Any]:
    ev: dict[str, Any] = dict(
        seq=1, operator_ref="tx-1", kind="BET", licence_id="LIC-OC-1", licence_kind="ONLINE_CASINO",
        channel="SITE", establishment_id=None, equipment_id=None, site_id="casino.example.ua",
        app_id=None, game_type="slots", round_ref="r1", bet_ref="b1", player_ref="p_ABCDEFGH23",
        amount=10_000, currency="UAH", occurred_at_us=NOW - 1_000_000, tax_withheld_pit=None,
        tax_withheld_military=None)
    ev.update(changes)
    return ev


def check(**changes: Any) -> Reason | None:
    rej = EventValidator(REGISTRY, ValidationSettings()).check("op-a", event(**changes), NOW)
    return rej.reason if rej else None


def test_valid_bet_passes() -> None:
    assert check() is None


@pytest.mark.parametrize(("changes", "reason"), [
    ({"licence_id": "LIC-NOPE"}, Reason.UNKNOWN_LICENCE),
    ({"licence_kind": "BOOKMAKING"}, Reason.LICENCE_KIND_MISMATCH),
    ({"licence_id": "LIC-SH-1", "licence_kind": "SLOT_HALL", "channel": "ESTABLISHMENT",
      "establishment_id": "e1"}, Reason.LICENCE_INACTIVE),
    ({"licence_id": "LIC-BK-9", "licence_kind": "BOOKMAKING"}, Reason.LICENCE_SUSPENDED),
    ({"channel": "ESTABLISHMENT", "establishment_id": "e1"}, Reason.CHANNEL_NOT_ALLOWED),
    ({"channel": "APP"}, Reason.MISSING_FIELD),
    ({"amount": 0}, Reason.NON_POSITIVE_AMOUNT),
    ({"amount": -5}, Reason.NON_POSITIVE_AMOUNT),
    ({"amount": 10_000_000_001}, Reason.ABSURD_AMOUNT),
    ({"currency": "USD"}, Reason.WRONG_CURRENCY),
    ({"occurred_at_us": NOW + 3_600_000_000}, Reason.FUTURE_TIME),
    ({"occurred_at_us": NOW - 8 * DAY_US}, Reason.TOO_LATE),
    ({"player_ref": "+380501234567"}, Reason.PERSONAL_DATA),
    ({"player_ref": "ivan.petrenko@gmail.com"}, Reason.PERSONAL_DATA),
    ({"player_ref": "4111111111111111"}, Reason.PERSONAL_DATA),
    ({"player_ref": "Іван Петренко"}, Reason.PERSONAL_DATA),
    ({"player_ref": "380_67_123_45_67"}, Reason.PERSONAL_DATA),
    ({"player_ref": "OlenaKovalenko1990"}, Reason.PERSONAL_DATA),
    ({"player_ref": "short"}, Reason.INVALID_PLAYER_REF),
    ({"bet_ref": None}, Reason.MISSING_FIELD),
    ({"bet_ref": "x" * 129}, Reason.FIELD_TOO_LONG),
    ({"kind": "WIN"}, Reason.MISSING_FIELD),
    ({"kind": "WIN", "tax_withheld_pit": 9_000, "tax_withheld_military": 2_000}, Reason.INVALID_TAX),
    ({"kind": "DEPOSIT", "tax_withheld_pit": 1, "tax_withheld_military": 0}, Reason.FIELD_NOT_ALLOWED),
])
def test_each_defect_has_its_reason(changes: dict[str, Any], reason: Reason) -> None:
    assert check(**changes) == reason


def test_a_suspension_is_judged_at_the_events_time() -> None:
    bk = {"licence_id": "LIC-BK-9", "licence_kind": "BOOKMAKING"}
    assert check(**bk, occurred_at_us=NOW - DAY_US - 1) is None  # a late event from before it
    rej = EventValidator(REGISTRY, ValidationSettings()).check("op-a", event(**bk), NOW)
    assert rej is not None and rej.detail == (
        "licence LIC-BK-9 was suspended by the regulator from 2027-01-14T08:00:00Z when the event occurred")


def test_late_data_within_the_window_is_valid() -> None:
    assert check(occurred_at_us=NOW - 4 * DAY_US) is None


def test_win_with_tax_and_deposit_without_game_fields_pass() -> None:
    assert check(kind="WIN", amount=10_000, tax_withheld_pit=1_800, tax_withheld_military=500) is None
    assert check(kind="DEPOSIT", bet_ref=None, game_type=None, round_ref=None) is None


@pytest.mark.parametrize("ref", ["p_ABCDEFGH23", "8f14e45f-ceea-467f-a0b1", "PLR_00042_x"])
def test_opaque_tokens_are_not_personal_data(ref: str) -> None:
    assert personal_data_hint(ref) is None


def test_personal_data_comes_before_the_character_rule_and_says_what_it_looks_like() -> None:
    v = EventValidator(REGISTRY, ValidationSettings())
    for ref, reason, detail in [
        ("+380 67 123 45 67", Reason.PERSONAL_DATA,
         "player_ref looks like a Ukrainian phone number (380 + 9 digits); send an opaque pseudonym"),
        ("4111-1111-1111-1111", Reason.PERSONAL_DATA,
         "player_ref looks like a payment card number (Luhn-valid); send an opaque pseudonym"),
        ("ivan_petrenko_1985", Reason.PERSONAL_DATA,
         "player_ref looks like a name with a year of birth; send an opaque pseudonym"),
        ("p_ABC DEF", Reason.PERSONAL_DATA,
         "player_ref looks like a name (words separated by spaces); send an opaque pseudonym"),
        ("p_ABC+DEF", Reason.INVALID_PLAYER_REF, "player_ref must be 8-64 characters of A-Z a-z 0-9 _ -"),
        ("123456789012", None, None),  # a number, but no card, phone or tax number
    ]:
        rej = v.check("op-a", event(player_ref=ref), NOW)
        assert (rej.reason, rej.detail) == (reason, detail) if rej else reason is None, ref
