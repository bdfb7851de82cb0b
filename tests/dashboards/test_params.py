"""Report parameters from a query string (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dashboards.params import DAY_US, MAX_US, ParamError, auto_granularity, parse
from pipeline.core.tax import kyiv_midnight_us

NOW = 1_795_000_000_000_000
HOUR = 3_600_000_000


def test_presets_end_a_day_after_now_so_late_clocks_still_show() -> None:
    p = parse({"period": "24h"}, now_us=NOW)
    assert (p.since_us, p.until_us, p.now_us) == (NOW - DAY_US, NOW + DAY_US, NOW)
    assert p.granularity == "hour"  # 48 h span / 1 h = 48 points
    # the default: the last 7 Kyiv days, from Kyiv midnight (NOW is 2026-11-18 11:06 UTC, 13:06 in Kyiv)
    assert parse({}, now_us=NOW).since_us == kyiv_midnight_us(date(2026, 11, 12))
    assert parse({"period": "all"}, now_us=NOW).since_us == 0
    assert parse({"period": "all"}, now_us=NOW).granularity == "month"


def test_since_until_as_iso_or_microseconds() -> None:
    p = parse({"since": "2026-11-09T21:00:00Z", "until": "2026-11-10T01:00:00+02:00"}, now_us=NOW)
    assert p.since_us == 1_794_258_000_000_000
    assert p.until_us == p.since_us + 2 * HOUR  # 01:00 in UTC+2 is 23:00 UTC
    p = parse({"since": "1794258000000000", "until": "1794265200000000"}, now_us=NOW)
    assert (p.since_us, p.until_us) == (1_794_258_000_000_000, 1_794_265_200_000_000)
    assert p.granularity == "minute"  # 2 h = 120 minutes
    naive = parse({"since": "2026-11-09T23:00:00"}, now_us=NOW)  # no offset: Kyiv time (UTC+2 in November)
    assert naive.since_us == 1_794_258_000_000_000 and naive.until_us == NOW + DAY_US
    summer = parse({"since": "2026-07-01T00:00:00"}, now_us=NOW)  # UTC+3 in summer
    assert summer.since_us == kyiv_midnight_us(date(2026, 7, 1)) == 1_782_853_200_000_000


def test_filters_and_knobs_pass_through() -> None:
    p = parse({"operator": "op-a", "licence_kind": "SLOT_HALL", "game_type": "slots",
               "granularity": "kyiv_day", "silent_after_s": "60"}, now_us=NOW)
    assert (p.operator, p.licence_kind, p.game_type, p.granularity, p.silent_after_s) == (
        "op-a", "SLOT_HALL", "slots", "kyiv_day", 60)
    assert p.bind("dsom")["db"] == "dsom" and p.bind("dsom")["operator"] == "op-a"


@pytest.mark.parametrize(("query", "message"), [
    ({"period": "fortnight"}, "period must be one of"),
    ({"since": "yesterday"}, "since: 'yesterday' is neither"),
    ({"since": "2026-11-10T00:00:00Z", "until": "2026-11-09T00:00:00Z"}, "since must be before until"),
    ({"granularity": "week"}, "granularity"),
    ({"silent_after_s": "0"}, "silent_after_s"),
    ({"operator": "x" * 200}, "operator"),
])
def test_bad_parameters_are_refused_with_a_reason(query: dict[str, str], message: str) -> None:
    with pytest.raises(ParamError, match=message):
        parse(query, now_us=NOW)


def test_until_is_clamped_before_datetime_ends() -> None:
    assert parse({"until": str(2**62)}, now_us=NOW).until_us == MAX_US


def test_auto_granularity_keeps_charts_under_about_200_points() -> None:
    assert auto_granularity(3 * HOUR) == "minute"
    assert auto_granularity(7 * DAY_US) == "hour"
    assert auto_granularity(90 * DAY_US) == "day"
    assert auto_granularity(3 * 365 * DAY_US) == "month"


def test_calendar_presets_are_kyiv_days_and_months_across_daylight_saving() -> None:
    # 2026-10-27 12:00 UTC: Kyiv went from UTC+3 to UTC+2 on Sunday 25 October
    now = int(datetime(2026, 10, 27, 12, tzinfo=UTC).timestamp()) * 1_000_000
    week = parse({"period": "7d"}, now_us=now)
    assert week.since_us == kyiv_midnight_us(date(2026, 10, 21)) == int(
        datetime(2026, 10, 20, 21, tzinfo=UTC).timestamp()) * 1_000_000  # summer midnight: 21:00 UTC
    today = parse({"period": "today"}, now_us=now)
    assert today.since_us == int(datetime(2026, 10, 26, 22, tzinfo=UTC).timestamp()) * 1_000_000  # winter
    month = parse({"period": "month"}, now_us=now)
    assert (month.since_us, month.until_us) == (kyiv_midnight_us(date(2026, 10, 1)), now + DAY_US)
    previous = parse({"period": "prev_month"}, now_us=now)
    assert (previous.since_us, previous.until_us) == (kyiv_midnight_us(date(2026, 9, 1)),
                                                      kyiv_midnight_us(date(2026, 10, 1)))
    # a Kyiv October is 31 days and one hour long (the hour the clocks went back)
    october = parse({"period": "prev_month"}, now_us=now + 10 * DAY_US)
    assert october.until_us - october.since_us == 31 * DAY_US + 3_600_000_000


def test_an_error_can_be_said_in_another_language() -> None:
    with pytest.raises(ParamError) as info:
        parse({"period": "fortnight"}, now_us=NOW)
    assert info.value.template.startswith("period must be one of %(presets)s")
    assert info.value.fields["preset"] == "fortnight" and "prev_month" in info.value.fields["presets"]
