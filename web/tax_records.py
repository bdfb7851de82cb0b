"""The tax officer's records (pure): GGR statements, per-payout tax records, discrepancies.

Their view of the tax-events topic, as the ClickHouse sink stores it (``tax_events`` and its views
``ggr_statements``, ``payout_taxes`` and ``tax_discrepancies``, sinks/clickhouse/tables.py). Each
table is filtered by operator, period and (payouts and discrepancies) receipt or player; a page
shows the newest rows, an export (CSV or Parquet, written by ClickHouse) up to ``EXPORT_ROWS``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from web.i18n import _
from web.lookup import LookupRefused, _day_us, _next_day_us, default_since_us

PAGE_ROWS = 200
EXPORT_ROWS = 1_000_000


@dataclass(frozen=True)
class TaxTable:
    name: str
    view: str  # the sink's view
    time_column: str
    columns: tuple[str, ...]
    money: frozenset[str]
    by_receipt: bool  # has receipt_id and player filters


TABLES: dict[str, TaxTable] = {
    t.name: t
    for t in (
        TaxTable(
            "statements",
            "ggr_statements",
            "period_start",
            (
                "operator_id",
                "period",
                "period_start",
                "period_end",
                "revision",
                "status",
                "stakes",
                "refunds",
                "winnings",
                "ggr",
                "ggr_tax_rate_ppm",
                "ggr_tax_due",
                "bets",
                "payouts",
                "pit_due",
                "pit_withheld",
                "military_due",
                "military_withheld",
                "discrepancies",
                "issued_at",
            ),
            frozenset(
                {
                    "stakes",
                    "refunds",
                    "winnings",
                    "ggr",
                    "ggr_tax_due",
                    "pit_due",
                    "pit_withheld",
                    "military_due",
                    "military_withheld",
                }
            ),
            False,
        ),
        TaxTable(
            "payouts",
            "payout_taxes",
            "occurred_at",
            (
                "occurred_at",
                "receipt_id",
                "operator_id",
                "licence_id",
                "licence_kind",
                "player_ref",
                "amount",
                "pit_rate_ppm",
                "pit_due",
                "pit_withheld",
                "military_rate_ppm",
                "military_due",
                "military_withheld",
                "discrepancy",
            ),
            frozenset({"amount", "pit_due", "pit_withheld", "military_due", "military_withheld"}),
            True,
        ),
        TaxTable(
            "discrepancies",
            "tax_discrepancies",
            "occurred_at",
            (
                "occurred_at",
                "receipt_id",
                "operator_id",
                "licence_id",
                "amount",
                "pit_due",
                "pit_withheld",
                "military_due",
                "military_withheld",
            ),
            frozenset({"amount", "pit_due", "pit_withheld", "military_due", "military_withheld"}),
            True,
        ),
    )
}


@dataclass(frozen=True)
class TaxQuery:
    table: TaxTable
    operator: str = ""
    since_us: int | None = None
    until_us: int | None = None
    receipt: str = ""
    player: str = ""
    default_period: bool = False  # payouts or discrepancies without dates: the last 30 Kyiv days

    def audit_detail(self) -> dict[str, Any]:
        return {
            "table": self.table.name,
            "operator": self.operator,
            "since_us": self.since_us,
            "until_us": self.until_us,
            "receipt": self.receipt,
            "player": self.player,
        }


def parse_tax_query(table: str, query: dict[str, str], now_us: int | None = None) -> TaxQuery:
    """The filters of a tax table's page, API or export; :class:`LookupRefused` saying what to fix.

    Payouts and discrepancies without dates and without a receipt ID cover the last 30 Kyiv days
    (``web.lookup.DEFAULT_DAYS``, counted from ``now_us``): the newest first of all of them would
    sort every payout kept. Statements (a few per operator and month) are not limited.
    """
    t = TABLES.get(table)
    if t is None:
        raise LookupRefused(
            _("No tax table {name!r}: choose statements, payouts or discrepancies.").format(name=table[:40])
        )
    since = _day_us(query.get("since", ""), _("From"))
    until = _day_us(query.get("until", ""), _("To"))
    if until is not None:
        until = _next_day_us(until)
    if since is not None and until is not None and since >= until:
        raise LookupRefused(_("The period ends before it starts."))
    fields = {k: query.get(k, "").strip() for k in ("operator", "receipt", "player")}
    for k, v in fields.items():
        if len(v) > 200 or not v.isprintable():
            raise LookupRefused(_("{field}: at most 200 printable characters.").format(field=k))
    if not t.by_receipt and (fields["receipt"] or fields["player"]):
        raise LookupRefused(_("Statements are per operator and period: filter them by operator or period."))
    defaulted = t.by_receipt and since is None and until is None and not fields["receipt"]
    if defaulted:
        since = default_since_us(time.time_ns() // 1000 if now_us is None else now_us)
    return TaxQuery(t, fields["operator"], since, until, fields["receipt"], fields["player"], defaulted)


def tax_sql(q: TaxQuery, limit: int) -> tuple[str, dict[str, Any]]:
    """The query for ``q``, newest first, at most ``limit`` rows (ClickHouse binds every value)."""
    t = q.table
    where: list[str] = ["1"]
    params: dict[str, Any] = {"limit": limit}
    if q.operator:
        where.append("operator_id = {operator:String}")
        params["operator"] = q.operator
    if q.since_us is not None:
        where.append(f"{t.time_column} >= fromUnixTimestamp64Micro({{since_us:Int64}}, 'UTC')")
        params["since_us"] = q.since_us
    if q.until_us is not None:
        where.append(f"{t.time_column} < fromUnixTimestamp64Micro({{until_us:Int64}}, 'UTC')")
        params["until_us"] = q.until_us
    if q.receipt:
        where.append("receipt_id = {receipt:String}")
        params["receipt"] = q.receipt
    if q.player:
        where.append("player_ref = {player:String}")
        params["player"] = q.player
    order = f"{t.time_column} DESC, operator_id" + (", receipt_id" if t.by_receipt else ", revision DESC")
    sql = (
        f"SELECT {', '.join(t.columns)} FROM {{db:Identifier}}.{t.view} WHERE {' AND '.join(where)} "
        f"ORDER BY {order} LIMIT {{limit:UInt32}}"
    )
    return sql, params
