"""Supervision rules as data: thresholds per licence kind with effective dates, and certified RTPs.

The rules file (``pipeline/data/alert_rules.json``, or ``DSOM_ALERTS__RULES_PATH``) holds, per
rule, versions that apply from the first instant of their Kyiv-local ``from`` date (as tax rates
do, :mod:`pipeline.core.tax`). A version has a severity, default params and overrides per licence
kind; :meth:`AlertRules.at` gives the params in force for one moment and licence kind, with the
version's date, which every alert carries as its ``rule_version``.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.core.tax import kyiv_midnight_us

Severity = Literal["INFO", "WARNING", "CRITICAL"]

# The params each rule needs (a version missing one is refused when the file is loaded).
REQUIRED: dict[str, tuple[str, ...]] = {
    "source_silent": ("minutes",),
    "sequence_gap": ("minutes",),
    "rejection_rate": ("percent", "window_minutes", "min_events"),
    "late_data": ("hours", "resolve_minutes"),
    "tax_discrepancy": ("resolve_minutes",),
    "unlicensed_activity": ("resolve_minutes",),
    "unregistered_asset": ("resolve_minutes",),
    "aml_single": ("threshold_kopecks",),
    "aml_daily_total": ("threshold_kopecks",),
    "aml_structuring": ("threshold_kopecks", "structuring_share", "min_operations"),
    "rtp_deviation": ("window_spins", "bucket_spins", "min_spins", "alpha", "mixture_spins",
                      "epoch_spins", "z_resolve", "min_deviation_points"),
    "rg_score": ("alert_score", "daily_loss_kopecks", "deposits_per_day", "chase_streak",
                 "chase_gap_minutes", "chase_loss_share", "session_hours", "session_break_minutes",
                 "night_bets",
                 "spend_growth_factor", "spend_growth_min_kopecks", "cancelled_withdrawals"),
    "archive_guard": (),  # raised by dsom archive-guard (pipeline.archive_guard_service)
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RuleVersion(_Frozen):
    """One version of a rule: in force from ``from_`` (Kyiv local date) until the next one."""

    from_: date = Field(alias="from")
    severity: Severity
    params: dict[str, float]
    by_licence_kind: dict[str, dict[str, float]] = Field(default_factory=dict)
    source: str


class Params(_Frozen):
    """The thresholds of one rule in force for one moment and licence kind."""

    rule: str
    version: str  # the version's effective date, ISO
    severity: Severity
    values: dict[str, float]

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def us(self, name: str, unit_us: int) -> int:
        """A duration param (in minutes, hours...) in microseconds."""
        return int(self.values[name] * unit_us)


class CertifiedRtp(_Frozen):
    """Certified RTPs: per machine (``<operator>|<equipment_id>``), else per licence kind and game.

    ``second_moment_by_game``: a game's certified ``E[payout^2] / stake^2`` per spin (its
    variance plus its squared mean, from the same certification), which the RTP test's bound
    needs; a game without one is tested with its observed payouts' squares instead.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    by_kind_and_game: dict[str, dict[str, float]] = Field(default_factory=dict)
    machines: dict[str, float] = Field(default_factory=dict)
    second_moment_by_game: dict[str, float] = Field(default_factory=dict)

    def of(self, operator_id: str, equipment_id: str, licence_kind: str, game_type: str) -> float | None:
        rtp = self.machines.get(f"{operator_id}|{equipment_id}")
        return rtp if rtp is not None else self.by_kind_and_game.get(licence_kind, {}).get(game_type)


class AlertRules(_Frozen):
    """Every rule's versions, and the certified RTPs."""

    model_config = ConfigDict(frozen=True, extra="ignore", ignored_types=(cached_property,))

    rules: dict[str, tuple[RuleVersion, ...]]
    certified_rtp: CertifiedRtp = Field(default_factory=CertifiedRtp)

    @model_validator(mode="after")
    def _complete(self) -> AlertRules:
        for rule, needs in REQUIRED.items():
            versions = self.rules.get(rule)
            if not versions:
                raise ValueError(f"alert rule {rule!r} has no version")
            for v in versions:
                missing = [n for n in needs if n not in v.params]
                if missing:
                    raise ValueError(f"alert rule {rule!r} from {v.from_} lacks {', '.join(missing)}")
        return self

    @cached_property
    def _starts(self) -> dict[str, tuple[tuple[int, ...], tuple[RuleVersion, ...]]]:
        out = {}
        for rule, versions in self.rules.items():
            ordered = tuple(sorted(versions, key=lambda v: v.from_))
            out[rule] = (tuple(kyiv_midnight_us(v.from_) for v in ordered), ordered)
        return out

    def at(self, rule: str, t_us: int, licence_kind: str | None = None) -> Params:
        """The params of ``rule`` in force at ``t_us`` for ``licence_kind`` (its overrides applied).

        Before a rule's first version, the first version applies: a rule is never absent.
        """
        starts, versions = self._starts[rule]
        i = max(bisect_right(starts, t_us) - 1, 0)
        cached = self._made.get((rule, i, licence_kind))
        if cached is None:  # per event on the hot path: made once per version and kind
            v = versions[i]
            values = dict(v.params)
            if licence_kind is not None:
                values.update(v.by_licence_kind.get(licence_kind, {}))
            cached = Params(rule=rule, version=v.from_.isoformat(), severity=v.severity, values=values)
            self._made[(rule, i, licence_kind)] = cached
        return cached

    @cached_property
    def _made(self) -> dict[tuple[str, int, str | None], Params]:
        return {}

    @classmethod
    def load(cls, path: Path) -> AlertRules:
        return cls.model_validate_json(path.read_bytes())
