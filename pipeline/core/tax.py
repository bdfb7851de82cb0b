"""Winnings tax per payout, GGR tax, and tax periods: integer kopecks, rates as dated data.

Rounding rule: every tax amount is ``amount x rate`` rounded half up to the whole kopeck,
computed in integers (rates in parts per million), separately for each tax. A payout's
rates are those in force at the moment it occurred; a rate applies from the first instant
of its Kyiv-local effective date, so a payout exactly at a change pays the new rate.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

KYIV = ZoneInfo("Europe/Kyiv")
PPM = 1_000_000


def apply_rate(amount: int, ppm: int) -> int:
    """``amount x ppm / 10^6`` rounded half up to the kopeck (amount >= 0)."""
    return (amount * ppm + PPM // 2) // PPM


def kyiv_midnight_us(day: date) -> int:
    """UTC microseconds of 00:00 Kyiv time on ``day``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=KYIV).timestamp()) * 1_000_000


@dataclass(frozen=True)
class RateSchedule:
    """Rates with effective instants, ascending."""

    starts_us: tuple[int, ...]
    ppms: tuple[int, ...]

    def at(self, t_us: int) -> int:
        i = bisect_right(self.starts_us, t_us) - 1
        if i < 0:
            raise ValueError(f"no rate in force at {t_us} (first from {self.starts_us[0]})")
        return self.ppms[i]

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> RateSchedule:
        pairs = sorted((kyiv_midnight_us(date.fromisoformat(r["from"])), int(r["ppm"])) for r in rows)
        return cls(tuple(s for s, _ in pairs), tuple(p for _, p in pairs))


@dataclass(frozen=True)
class TaxRates:
    pit: RateSchedule
    military: RateSchedule
    ggr: RateSchedule

    @classmethod
    def load(cls, path: Path) -> TaxRates:
        doc = orjson.loads(path.read_bytes())
        return cls(RateSchedule.from_rows(doc["winnings_personal_income_tax"]),
                   RateSchedule.from_rows(doc["winnings_military_levy"]),
                   RateSchedule.from_rows(doc["ggr_tax"]))


@dataclass(frozen=True)
class PayoutTax:
    receipt_id: str
    amount: int
    occurred_at_us: int
    pit_rate_ppm: int
    military_rate_ppm: int
    pit_due: int
    military_due: int
    pit_withheld: int
    military_withheld: int
    discrepancy: bool


def payout_tax(receipt_id: str, amount: int, t: int, pit_withheld: int | None, military_withheld: int | None,
               rates: TaxRates, tolerance: int) -> PayoutTax:
    """The tax due on one WIN of ``amount`` at ``t``, compared with what the operator withheld."""
    pit_rate, mil_rate = rates.pit.at(t), rates.military.at(t)
    pit_due, mil_due = apply_rate(amount, pit_rate), apply_rate(amount, mil_rate)
    pit_held, mil_held = pit_withheld or 0, military_withheld or 0
    off = abs(pit_due - pit_held) > tolerance or abs(mil_due - mil_held) > tolerance
    return PayoutTax(receipt_id, amount, t, pit_rate, mil_rate, pit_due, mil_due, pit_held, mil_held, off)


@dataclass(frozen=True)
class Period:
    label: str
    start_us: int
    end_us: int


def tax_period(t_us: int, granularity: str) -> Period:
    """The Kyiv-local day (``day``) or month (``month``) that contains ``t_us``."""
    local = datetime.fromtimestamp(t_us / 1_000_000, tz=UTC).astimezone(KYIV).date()
    if granularity == "day":
        nxt = date.fromordinal(local.toordinal() + 1)
        return Period(local.isoformat(), kyiv_midnight_us(local), kyiv_midnight_us(nxt))
    if granularity == "month":
        first = local.replace(day=1)
        nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return Period(first.strftime("%Y-%m"), kyiv_midnight_us(first), kyiv_midnight_us(nxt))
    raise ValueError(f"tax period must be 'day' or 'month', not {granularity!r}")
