"""Single-event look-ups for the regulator's inspector and law enforcement (pure: parsing, scope, SQL).

A look-up names what to look for (a receipt ID, a bet reference, a player reference, a machine or a
site), optionally a period, and a reason. The inspector may look at any operator; a law-enforcement
officer only within a case the regulator granted (:mod:`web.cases` decides the scope), which
becomes part of the query itself (``operator_id IN ...`` and, when the case names subjects,
``player_ref IN ...``), so nothing outside it is ever read. The route (``web.inspect``) runs the
query read-only and writes the audit entry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from dashboards.params import kyiv_period
from pipeline.core.tax import KYIV, kyiv_midnight_us
from web.i18n import _

MAX_ROWS = 200  # a look-up is about single events; more is a report, not a drill-down
MAX_VALUE = 200
MAX_REASON = 1000
# A look-up that lists many events (a player's, a machine's, a site's) and the tax officer's payouts
# read every event of the period they cover: without dates they cover the last 30 Kyiv days (today
# and the 29 before), so their cost follows a month's data, not the whole history kept (years).
DEFAULT_PERIOD = "30d"
DEFAULT_DAYS = 30


class By(StrEnum):
    RECEIPT = "receipt"
    BET = "bet"
    PLAYER = "player"
    MACHINE = "machine"
    SITE = "site"


# The look-ups that list a subject's events (a receipt or a bet is one or two events: all time).
LISTS = frozenset({By.PLAYER, By.MACHINE, By.SITE})

# What each look-up compares, in the sink's ``events`` table (sinks/clickhouse/tables.py).
COLUMN: dict[By, str] = {
    By.RECEIPT: "receipt_id",
    By.BET: "bet_ref",
    By.PLAYER: "player_ref",
    By.MACHINE: "equipment_id",
    By.SITE: "site_id",
}

# The columns a look-up shows, in order.
SHOWN = (
    "occurred_at",
    "receipt_id",
    "operator_id",
    "kind",
    "amount",
    "currency",
    "licence_id",
    "licence_kind",
    "channel",
    "site_id",
    "establishment_id",
    "equipment_id",
    "game_type",
    "bet_ref",
    "round_ref",
    "player_ref",
    "source_id",
    "seq",
    "received_at",
    "tax_withheld_pit",
    "tax_withheld_military",
    "chain_id",
    "chain_index",
    "src_partition",
    "src_offset",
)


class LookupRefused(ValueError):
    """A look-up that may not run, with the message the person reads."""


@dataclass(frozen=True)
class Lookup:
    by: By
    value: str
    reason: str
    since_us: int | None = None
    until_us: int | None = None
    operator: str = ""  # '' means every operator (within the scope)
    limit: int = 100
    default_period: bool = False  # no dates were given: the last DEFAULT_DAYS Kyiv days

    def audit_detail(self) -> dict[str, Any]:
        """What the audit log keeps of the look-up (the reason goes in its own column)."""
        return {
            "by": self.by.value,
            "value": self.value,
            "operator": self.operator,
            "since_us": self.since_us,
            "until_us": self.until_us,
            **({"default_period": True} if self.default_period else {}),
        }


@dataclass(frozen=True)
class Scope:
    """What a look-up may read: every operator (the inspector), or a case's operators and subjects."""

    operators: tuple[str, ...] | None = None  # None: all
    subjects: tuple[str, ...] = ()  # player references; empty: any player of those operators
    case_id: str | None = None


EVERYTHING = Scope()


def _day_us(text: str, field: str) -> int | None:
    """A date (YYYY-MM-DD) as its Kyiv midnight, in UTC µs: dates are Kyiv days across the cabinets."""
    text = text.strip()
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise LookupRefused(
            _("{field}: expected a date as YYYY-MM-DD, got {value!r}").format(field=field, value=text[:40])
        ) from None
    return kyiv_midnight_us(day)


def default_since_us(now_us: int) -> int:
    """Where a period left empty starts: Kyiv midnight, ``DEFAULT_DAYS`` - 1 days before today."""
    return kyiv_period(DEFAULT_PERIOD, now_us)[0]


def since_date(since_us: int) -> str:
    """``since_us`` as the Kyiv date it starts, YYYY-MM-DD (as the date fields take it)."""
    return datetime.fromtimestamp(since_us / 1_000_000, KYIV).date().isoformat()


def parse_lookup(form: dict[str, str], now_us: int | None = None) -> Lookup:
    """A look-up from the form's (or the API's) fields, or :class:`LookupRefused` saying what to fix.

    A player, machine or site look-up without dates covers the last ``DEFAULT_DAYS`` Kyiv days
    (``default_period``), counted from ``now_us`` (now by default).
    """
    try:
        by = By(form.get("by", ""))
    except ValueError:
        raise LookupRefused(_("Choose what to look up by: receipt, bet, player, machine or site.")) from None
    value = form.get("value", "").strip()
    if not value:
        raise LookupRefused(_("Enter the {what} to look up.").format(what=by.value))
    if len(value) > MAX_VALUE or not value.isprintable():
        raise LookupRefused(
            _("The {what} must be printable text of at most {n} characters.").format(
                what=by.value, n=MAX_VALUE
            )
        )
    reason = form.get("reason", "").strip()
    if len(reason) < 5:
        raise LookupRefused(
            _(
                "State the reason for this look-up (at least 5 characters): it is kept "
                "in the audit log with your name."
            )
        )
    if len(reason) > MAX_REASON:
        raise LookupRefused(_("The reason may be at most {n} characters.").format(n=MAX_REASON))
    since = _day_us(form.get("since", ""), _("From"))
    until = _day_us(form.get("until", ""), _("To"))
    if until is not None:
        until = _next_day_us(until)  # the whole last day
    if since is not None and until is not None and since >= until:
        raise LookupRefused(_("The period ends before it starts."))
    defaulted = since is None and until is None and by in LISTS
    if defaulted:
        since = default_since_us(time.time_ns() // 1000 if now_us is None else now_us)
    try:
        limit = int(form.get("limit") or 100)
    except ValueError:
        raise LookupRefused(_("The number of rows must be a whole number.")) from None
    if not 1 <= limit <= MAX_ROWS:
        raise LookupRefused(_("Show between 1 and {n} rows.").format(n=MAX_ROWS))
    operator = form.get("operator", "").strip()
    if len(operator) > 128:
        raise LookupRefused(_("The operator ID is too long."))
    return Lookup(by, value, reason, since, until, operator, limit, defaulted)


def _next_day_us(midnight_us: int) -> int:
    """The Kyiv midnight after ``midnight_us`` (a day is 23 or 25 hours when the clocks change)."""
    day = datetime.fromtimestamp(midnight_us / 1_000_000, KYIV).date()
    return kyiv_midnight_us(day.fromordinal(day.toordinal() + 1))


def narrow(lookup: Lookup, scope: Scope) -> None:
    """Refuse, with a clear message, a look-up that asks for something outside ``scope``."""
    if scope.operators is not None and lookup.operator and lookup.operator not in scope.operators:
        raise LookupRefused(
            _("Operator {op} is outside the scope of case {case} ({ops}).").format(
                op=lookup.operator, case=scope.case_id, ops=", ".join(scope.operators)
            )
        )
    if scope.subjects and lookup.by is By.PLAYER and lookup.value not in scope.subjects:
        raise LookupRefused(
            _("Player {who} is outside the scope of case {case}.").format(
                who=lookup.value, case=scope.case_id
            )
        )


# A site's look-up reads the newest day of its period first, and the whole period only when that
# day holds fewer than ``limit`` rows. Every row before the day is older than every row in it, so
# the day's newest rows are then the period's: the same answer. A site is all of an operator's
# online events, which the sort key (operator, kind, time) keeps together by day: at 100 M events
# its newest 100 read all 2 M of them (107 ms of CPU); its last day, 24 ms. Players and machines
# have fewer rows (their own index finds them): a second query cost them more than it saved.
WINDOWED = frozenset({By.SITE})
WINDOW_US = 86_400_000_000


def newest_first(lookup: Lookup, now_us: int) -> list[Lookup]:
    """The look-ups to run in turn until one returns ``lookup.limit`` rows; the last is ``lookup``."""
    if lookup.by not in WINDOWED:
        return [lookup]
    start = (lookup.until_us if lookup.until_us is not None else now_us) - WINDOW_US
    if lookup.since_us is not None and start <= lookup.since_us:
        return [lookup]
    return [replace(lookup, since_us=start), lookup]


def lookup_sql(lookup: Lookup, scope: Scope) -> tuple[str, dict[str, Any]]:
    """The query (ClickHouse binds every value) for ``lookup`` within ``scope``: newest events first."""
    where = [f"{COLUMN[lookup.by]} = {{value:String}}"]
    params: dict[str, Any] = {"value": lookup.value, "limit": lookup.limit}
    if lookup.operator:
        where.append("operator_id = {operator:String}")
        params["operator"] = lookup.operator
    if scope.operators is not None:
        where.append("operator_id IN {scope_ops:Array(String)}")
        params["scope_ops"] = list(scope.operators)
    if scope.subjects:
        where.append("player_ref IN {scope_subjects:Array(String)}")
        params["scope_subjects"] = list(scope.subjects)
    if lookup.since_us is not None:
        where.append("occurred_at >= fromUnixTimestamp64Micro({since_us:Int64}, 'UTC')")
        params["since_us"] = lookup.since_us
    if lookup.until_us is not None:
        where.append("occurred_at < fromUnixTimestamp64Micro({until_us:Int64}, 'UTC')")
        params["until_us"] = lookup.until_us
    sql = (
        f"SELECT {', '.join(SHOWN)} FROM {{db:Identifier}}.events WHERE {' AND '.join(where)} "
        "ORDER BY occurred_at DESC, receipt_id LIMIT {limit:UInt32}"
    )
    return sql, params
