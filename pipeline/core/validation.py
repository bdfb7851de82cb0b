"""Stateless validation rules for one event: each failure is a reason code and a readable detail."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.core.model import (
    ALLOWED_CHANNELS,
    GAME_EVENT_KINDS,
    Channel,
    EventKind,
    Reason,
)
from pipeline.core.personal_data import MAX_REF_LENGTH, player_ref_hint
from pipeline.core.personal_data import personal_data_hint as personal_data_hint  # re-exported
from pipeline.registry import Registry
from pipeline.settings import ValidationSettings

MAX_TEXT = 128


def iso_us(t_us: int) -> str:
    """A UTC instant in microseconds as ISO 8601, as the operators' documents write times."""
    return datetime.fromtimestamp(t_us // 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
PLAYER_REF = re.compile(f"[A-Za-z0-9_-]{{8,{MAX_REF_LENGTH}}}")
TEXT_FIELDS = ("operator_ref", "establishment_id", "equipment_id", "site_id", "app_id",
               "game_type", "round_ref", "bet_ref")
CHANNEL_ID_FIELD = {
    Channel.ESTABLISHMENT: "establishment_id",
    Channel.SITE: "site_id",
    Channel.APP: "app_id",
}


@dataclass(frozen=True)
class Rejection:
    reason: Reason
    detail: str


def quoted(value: str, limit: int = 64) -> str:
    """``repr`` of ``value``, cut to ``limit`` characters: details never echo unbounded input."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + "…"


class EventValidator:
    """The rules that need only the event, the registry and the current time."""

    def __init__(self, registry: Registry, settings: ValidationSettings) -> None:
        self._registry = registry
        self._s = settings
        self._licences = registry.licence_index

    def check(self, operator_id: str, ev: dict[str, Any], now_us: int) -> Rejection | None:
        return (
            self._licence(operator_id, ev)
            or self._channel(ev)
            or self._amount(ev)
            or self._time(ev, now_us)
            or self._player(ev)
            or self._fields(ev)
        )

    def _licence(self, operator_id: str, ev: dict[str, Any]) -> Rejection | None:
        lic = self._licences.get((operator_id, ev["licence_id"]))
        if lic is None:
            return Rejection(Reason.UNKNOWN_LICENCE,
                             f"licence {quoted(ev['licence_id'])} is not registered to {operator_id}")
        if lic.kind != ev["licence_kind"]:
            return Rejection(Reason.LICENCE_KIND_MISMATCH,
                             f"licence {lic.licence_id} is for {lic.kind}, not {ev['licence_kind']}")
        if not lic.active_at(ev["occurred_at_us"]):
            return Rejection(Reason.LICENCE_INACTIVE,
                             f"licence {lic.licence_id} was not active when the event occurred")
        if lic.stops:
            stop = lic.stop_at(ev["occurred_at_us"])
            if stop is not None:
                return Rejection(Reason.LICENCE_SUSPENDED,
                                 f"licence {lic.licence_id} was {stop.status} by the regulator from "
                                 f"{iso_us(stop.from_us)} when the event occurred")
        return None

    def _channel(self, ev: dict[str, Any]) -> Rejection | None:
        # Plain strings: the enums are StrEnums, equal to and hashed as their values.
        channel = ev["channel"]
        if channel not in ALLOWED_CHANNELS[ev["licence_kind"]]:
            return Rejection(Reason.CHANNEL_NOT_ALLOWED,
                             f"{ev['licence_kind']} licence does not allow channel {channel}")
        field = CHANNEL_ID_FIELD[channel]
        if not ev[field]:
            return Rejection(Reason.MISSING_FIELD, f"{field} is required for channel {channel}")
        return None

    def _amount(self, ev: dict[str, Any]) -> Rejection | None:
        amount = ev["amount"]
        if amount <= 0:
            return Rejection(Reason.NON_POSITIVE_AMOUNT, f"amount {amount} must be > 0 kopecks")
        if amount > self._s.max_amount_kopecks:
            return Rejection(Reason.ABSURD_AMOUNT,
                             f"amount {amount} exceeds {self._s.max_amount_kopecks} kopecks")
        if ev["currency"] != self._s.currency:
            return Rejection(Reason.WRONG_CURRENCY,
                             f"currency {quoted(ev['currency'], 8)}, expected {self._s.currency}")
        return None

    def _time(self, ev: dict[str, Any], now_us: int) -> Rejection | None:
        t = ev["occurred_at_us"]
        if t > now_us + self._s.future_skew_us:
            return Rejection(Reason.FUTURE_TIME,
                             f"occurred_at is {(t - now_us) // 1_000_000} s in the future")
        if t < now_us - self._s.late_window_us:
            return Rejection(Reason.TOO_LATE,
                             f"occurred_at is {(now_us - t) // 3_600_000_000} h old, beyond the "
                             f"{self._s.late_window_us // 3_600_000_000} h late window")
        return None

    def _player(self, ev: dict[str, Any]) -> Rejection | None:
        ref = ev["player_ref"]
        hint = player_ref_hint(ref)  # before the character rule: "+380 67 ..." is a phone number
        if hint:
            return Rejection(Reason.PERSONAL_DATA, f"player_ref {hint}; send an opaque pseudonym")
        if not PLAYER_REF.fullmatch(ref):
            return Rejection(Reason.INVALID_PLAYER_REF,
                             "player_ref must be 8-64 characters of A-Z a-z 0-9 _ -")
        return None

    def _fields(self, ev: dict[str, Any]) -> Rejection | None:
        for name in TEXT_FIELDS:
            value = ev[name]
            if value is not None and len(value) > MAX_TEXT:
                return Rejection(Reason.FIELD_TOO_LONG, f"{name} is longer than {MAX_TEXT}")
        kind = ev["kind"]
        if kind in GAME_EVENT_KINDS:
            for name in ("bet_ref", "game_type"):
                if not ev[name]:
                    return Rejection(Reason.MISSING_FIELD, f"{name} is required for {kind}")
        pit, mil = ev["tax_withheld_pit"], ev["tax_withheld_military"]
        if kind == EventKind.WIN:
            if pit is None or mil is None:
                return Rejection(Reason.MISSING_FIELD,
                                 "tax_withheld_pit and tax_withheld_military are required for WIN")
            if pit < 0 or mil < 0 or pit + mil > ev["amount"]:
                return Rejection(Reason.INVALID_TAX,
                                 "withheld tax must be >= 0 and not exceed the amount paid")
        elif pit is not None or mil is not None:
            return Rejection(Reason.FIELD_NOT_ALLOWED, f"withheld tax is only allowed on WIN, not {kind}")
        return None
