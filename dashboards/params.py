"""Report parameters: parsed and checked from a query string, defaults filled in (pure, no I/O)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dashboards.reports import GRANULARITIES, N_
from pipeline.core.tax import KYIV, kyiv_midnight_us

SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US
# DateTime (seconds, UInt32) ends in 2106; bounds past it would wrap inside ClickHouse.
MAX_US = 4_102_444_800 * SECOND_US  # 2100-01-01
# Rolling presets: the last so long before now.
PRESETS_US = {"15m": 900 * SECOND_US, "1h": 3600 * SECOND_US, "24h": DAY_US}
# Calendar presets, in Kyiv days (a Kyiv day is 23 or 25 hours when the clocks change): "7d" is
# today and the 6 Kyiv days before it, from Kyiv midnight.
KYIV_DAYS = {"today": 1, "7d": 7, "30d": 30, "365d": 365}
KYIV_MONTHS = ("month", "prev_month")  # this Kyiv month so far; the whole Kyiv month before it
PRESETS = (*PRESETS_US, *KYIV_DAYS, *KYIV_MONTHS, "all")
DEFAULT_PRESET = "7d"


class ParamError(ValueError):
    """A parameter an analyst sent is not valid; the message says which and why.

    ``template`` (English, with ``%(name)s`` fields) and ``fields`` let the web app say it in
    the reader's language; ``str()`` is the English.
    """

    def __init__(self, template: str, **fields: Any) -> None:
        super().__init__(template % fields)
        self.template = template
        self.fields = fields


def kyiv_period(preset: str, now_us: int) -> tuple[int, int]:
    """``[since, until)`` of a calendar preset in Kyiv days or months, as UTC µs."""
    today = datetime.fromtimestamp(now_us / SECOND_US, KYIV).date()
    if preset in KYIV_DAYS:
        return kyiv_midnight_us(today - timedelta(days=KYIV_DAYS[preset] - 1)), now_us + DAY_US
    this_month = date(today.year, today.month, 1)
    if preset == "month":
        return kyiv_midnight_us(this_month), now_us + DAY_US
    previous = (this_month - timedelta(days=1)).replace(day=1)
    return kyiv_midnight_us(previous), kyiv_midnight_us(this_month)


class ReportParams(BaseModel):
    """What every report takes; '' in a filter means all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    since_us: int
    until_us: int
    now_us: int
    operator: Annotated[str, Field(max_length=128)] = ""
    licence_kind: Annotated[str, Field(max_length=64)] = ""
    game_type: Annotated[str, Field(max_length=64)] = ""
    granularity: str = "hour"
    silent_after_s: Annotated[int, Field(ge=1)] = 900

    @field_validator("granularity")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in GRANULARITIES:
            raise ValueError(f"must be one of {', '.join(GRANULARITIES)}")
        return v

    def bind(self, database: str) -> dict[str, Any]:
        """The parameters as ClickHouse binds them (``{name:Type}`` in the report SQL)."""
        return {"db": database, **self.model_dump()}


def parse(query: Mapping[str, str], now_us: int | None = None) -> ReportParams:
    """Parameters from a query string: ``period`` (a preset such as 24h) or ``since``/``until``.

    ``since``/``until`` are ISO 8601 times (Kyiv time unless they carry an offset) or UTC µs. Without
    ``granularity`` the buckets follow the period's length, so a chart has at most ~200 points.
    """
    now = int(time.time() * SECOND_US) if now_us is None else now_us
    period = query.get("period", "")
    if query.get("since") or query.get("until"):
        since = _time(query.get("since", ""), "since", 0)
        until = _time(query.get("until", ""), "until", now + DAY_US)
    else:
        preset = period or DEFAULT_PRESET
        if preset == "all":
            since, until = 0, now + DAY_US
        elif preset in PRESETS_US:
            since, until = now - PRESETS_US[preset], now + DAY_US
        elif preset in KYIV_DAYS or preset in KYIV_MONTHS:
            since, until = kyiv_period(preset, now)
        else:
            raise ParamError(N_("period must be one of %(presets)s, not %(preset)r"),
                             presets=", ".join(PRESETS), preset=preset)
    if since >= until:
        raise ParamError(N_("since must be before until"))
    until = min(until, MAX_US)
    granularity = query.get("granularity") or auto_granularity(until - since if since else now - _EPOCH_2020)
    try:
        return ReportParams(since_us=max(since, 0), until_us=until, now_us=now,
                            operator=query.get("operator", ""), licence_kind=query.get("licence_kind", ""),
                            game_type=query.get("game_type", ""), granularity=granularity,
                            silent_after_s=int(query.get("silent_after_s") or 900))
    except ValidationError as exc:  # the first problem: the parameter's name, pydantic's words
        err = exc.errors(include_url=False, include_input=False)[0]
        raise ParamError(N_("%(name)s: %(why)s"), name=".".join(str(p) for p in err["loc"]) or "parameters",
                         why=str(err["msg"]).removeprefix("Value error, ")) from exc


_EPOCH_2020 = 1_577_836_800 * SECOND_US


def auto_granularity(span_us: int) -> str:
    """The finest bucket that keeps a chart of ``span_us`` under about 200 points."""
    for name, size in (("minute", 60 * SECOND_US), ("hour", 3600 * SECOND_US), ("day", DAY_US)):
        if span_us // size <= 200:
            return name
    return "month"


def _time(text: str, name: str, default: int) -> int:
    if not text:
        return default
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ParamError(N_("%(name)s: %(text)r is neither an ISO 8601 time nor UTC microseconds"),
                         name=name, text=text) from exc
    if parsed.tzinfo is None:  # the officials' clock: Kyiv time (fold 0 in the repeated autumn hour)
        parsed = parsed.replace(tzinfo=KYIV)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds
