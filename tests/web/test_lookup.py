"""The look-up's parsing, a case's scope and the SQL they make (pure, no I/O)."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipeline.core.tax import KYIV
from web.cases import Case, case_scope, parse_grant
from web.i18n import format_time
from web.lookup import (
    EVERYTHING,
    By,
    LookupRefused,
    Scope,
    default_since_us,
    lookup_sql,
    narrow,
    newest_first,
    parse_lookup,
)
from web.tax_records import parse_tax_query, tax_sql

DAY = 86_400_000_000
NOW = 1_780_000_000_000_000
REASON = "complaint 17/2026"
pytestmark = pytest.mark.usefixtures("english")  # the refusals asserted are the English source strings


def test_a_lookup_needs_a_key_a_value_and_a_reason() -> None:
    q = parse_lookup(
        {"by": "machine", "value": " m-7 ", "reason": REASON, "since": "2026-11-01", "until": "2026-11-01"}
    )
    assert (q.by, q.value, q.until_us - q.since_us) == (By.MACHINE, "m-7", DAY)  # type: ignore[operator]
    for form, message in [
        ({"by": "phone", "value": "x"}, "Choose what to look up by"),
        ({"by": "receipt", "value": " "}, "Enter the receipt"),
        ({"by": "receipt", "value": "r\x00"}, "printable text"),
        ({"by": "receipt", "value": "r-1", "reason": "why"}, "State the reason"),
        ({"by": "receipt", "value": "r-1", "since": "1/11/2026"}, "expected a date as YYYY-MM-DD"),
        ({"by": "receipt", "value": "r-1", "since": "2026-11-02", "until": "2026-11-01"}, "ends before"),
        ({"by": "receipt", "value": "r-1", "limit": "5000"}, "between 1 and 200"),
    ]:
        with pytest.raises(LookupRefused, match=message):
            parse_lookup({"reason": REASON, **form})


def test_the_sql_binds_every_value_and_carries_the_scope() -> None:
    q = parse_lookup({"by": "player", "value": "P1' OR 1=1 --", "reason": REASON})
    sql, params = lookup_sql(q, EVERYTHING)
    assert "P1'" not in sql and params["value"] == "P1' OR 1=1 --"
    assert "player_ref = {value:String}" in sql and "operator_id IN" not in sql
    sql, params = lookup_sql(q, Scope(("op-1",), ("P1",), "C-1"))
    assert "operator_id IN {scope_ops:Array(String)}" in sql and params["scope_ops"] == ["op-1"]
    assert "player_ref IN {scope_subjects:Array(String)}" in sql and params["scope_subjects"] == ["P1"]


def test_narrow_refuses_what_is_outside_the_case() -> None:
    scope = Scope(("op-1",), ("P1",), "C-1")
    narrow(parse_lookup({"by": "player", "value": "P1", "reason": REASON}), scope)
    narrow(parse_lookup({"by": "receipt", "value": "r-9", "reason": REASON}), scope)  # the SQL limits it
    with pytest.raises(LookupRefused, match="Player P2 is outside the scope of case C-1"):
        narrow(parse_lookup({"by": "player", "value": "P2", "reason": REASON}), scope)
    with pytest.raises(LookupRefused, match="Operator op-2 is outside"):
        narrow(parse_lookup({"by": "site", "value": "a.ua", "operator": "op-2", "reason": REASON}), scope)


GRANT = {
    "case_id": "CR-1",
    "granted_to": "det",
    "operators": "op-1, op-2",
    "subjects": "P1\nP2 P1",
    "basis": "ruling 757/1/26",
    "expires": "2026-12-31",
}
NOW_2026 = 1_795_000_000_000_000  # 2026-11-19


def test_a_grant_names_an_officer_known_operators_a_basis_and_a_near_future_expiry() -> None:
    case = parse_grant(GRANT, {"det"}, {"op-1", "op-2"}, NOW_2026)
    assert case.operators == ("op-1", "op-2") and case.subjects == ("P1", "P2")
    for change, message in [
        ({"case_id": "bad id!"}, "case ID"),
        ({"granted_to": "insp"}, "not an active law-enforcement account"),
        ({"operators": ""}, "at least one operator"),
        ({"operators": "op-9"}, "Unknown operator"),
        ({"basis": "x"}, "request this case answers"),
        ({"expires": "2026-01-01"}, "in the future"),
        ({"expires": "2029-01-01"}, "at most 366 days"),
        ({"expires": "soon"}, "YYYY-MM-DD"),
    ]:
        with pytest.raises(LookupRefused, match=message):
            parse_grant({**GRANT, **change}, {"det"}, {"op-1", "op-2"}, NOW_2026)


def test_a_case_opens_only_for_its_officer_while_open() -> None:
    case = Case("CR-1", "det", ("op-1",), (), "ruling", NOW + DAY)
    assert case_scope(case, "CR-1", "det", NOW) == Scope(("op-1",), (), "CR-1")
    with pytest.raises(LookupRefused, match="not granted to you"):
        case_scope(case, "CR-1", "other", NOW)
    with pytest.raises(LookupRefused, match="not granted to you"):
        case_scope(None, "CR-9", "det", NOW)
    with pytest.raises(LookupRefused, match="expired on") as refused:
        case_scope(case, "CR-1", "det", NOW + DAY)
    assert format_time(NOW + DAY) in str(refused.value)
    assert "(UTC+03:00)" in str(refused.value)  # Kyiv summer time, not UTC
    with pytest.raises(LookupRefused, match="withdrawn"):
        case_scope(Case("CR-1", "det", ("op-1",), (), "ruling", NOW + DAY, active=False), "CR-1", "det", NOW)


def test_tax_queries() -> None:
    q = parse_tax_query("payouts", {"operator": "op-1", "player": "P1", "since": "2026-11-01"})
    sql, params = tax_sql(q, 10)
    assert "FROM {db:Identifier}.payout_taxes" in sql and params["player"] == "P1" and params["limit"] == 10
    with pytest.raises(LookupRefused, match="No tax table"):
        parse_tax_query("bets", {})
    with pytest.raises(LookupRefused, match="Statements are per operator"):
        parse_tax_query("statements", {"receipt": "r-1"})


def test_listing_lookups_and_payouts_default_to_the_last_30_kyiv_days() -> None:
    now = int(datetime(2026, 11, 30, 10, 0, tzinfo=KYIV).timestamp()) * 1_000_000
    since = int(datetime(2026, 11, 1, 0, 0, tzinfo=KYIV).timestamp()) * 1_000_000  # today and 29 days before
    assert default_since_us(now) == since
    for by in ("player", "machine", "site"):
        q = parse_lookup({"by": by, "value": "x", "reason": REASON}, now)
        assert (q.since_us, q.until_us, q.default_period) == (since, None, True), by
        assert "occurred_at >= fromUnixTimestamp64Micro({since_us:Int64}" in lookup_sql(q, EVERYTHING)[0]
        assert q.audit_detail()["default_period"] is True
    for by in ("receipt", "bet"):  # one or two events: all the data kept
        q = parse_lookup({"by": by, "value": "x", "reason": REASON}, now)
        assert (q.since_us, q.default_period) == (None, False)
        assert "since_us" not in lookup_sql(q, EVERYTHING)[1]
    chosen = parse_lookup({"by": "player", "value": "x", "reason": REASON, "until": "2026-03-01"}, now)
    assert (chosen.since_us, chosen.default_period) == (None, False)
    # a date is a Kyiv day: 2026-10-25 (clocks go back) runs from 00:00 +03:00 to 00:00 +02:00, 25 hours
    form = {"by": "player", "value": "x", "reason": REASON, "since": "2026-10-25", "until": "2026-10-25"}
    day = parse_lookup(form)
    assert day.since_us == int(datetime(2026, 10, 25, tzinfo=KYIV).timestamp()) * 1_000_000
    assert day.until_us - day.since_us == DAY + 3_600_000_000  # type: ignore[operator]

    payouts = parse_tax_query("payouts", {"player": "P1"}, now)
    assert (payouts.since_us, payouts.default_period) == (since, True)
    assert parse_tax_query("discrepancies", {}, now).default_period
    assert not parse_tax_query("payouts", {"receipt": "r-1"}, now).default_period  # one payout: any time
    assert not parse_tax_query("payouts", {"since": "2026-01-01"}, now).default_period
    assert parse_tax_query("statements", {}, now).since_us is None


def test_a_site_lookup_reads_its_newest_day_then_the_whole_period() -> None:
    q = parse_lookup({"by": "site", "value": "x.ua", "reason": REASON}, NOW)  # the last 30 days
    steps = newest_first(q, NOW)
    assert [s.since_us for s in steps] == [NOW - DAY, q.since_us]
    assert steps[-1] == q and all(s.until_us is None and s.limit == q.limit for s in steps)
    # a period of its own: the day ends where it ends; a period of a day or less is one query
    form = {"by": "site", "value": "x.ua", "reason": REASON, "since": "2026-01-01", "until": "2026-01-03"}
    short = parse_lookup(form, NOW)
    assert [s.since_us for s in newest_first(short, NOW)] == [short.until_us - DAY, short.since_us]  # type: ignore[operator]
    one = parse_lookup({**form, "since": "2026-01-03"}, NOW)
    assert newest_first(one, NOW) == [one]
    for by in ("receipt", "player", "machine"):  # their own indexes find them: one query
        other = parse_lookup({"by": by, "value": "r", "reason": REASON}, NOW)
        assert newest_first(other, NOW) == [other]
