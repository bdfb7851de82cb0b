"""An operator's own data in ClickHouse: its receipts and rejections, found by ID (pure query building).

Every query takes the operator from the caller's session (``operator_id``), bound as a parameter;
nothing a person types can name another operator. The searches read the sink's tables
(``sinks/clickhouse/tables.py``): ``events`` (accepted) and ``rejections``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from web.i18n import gettext as _

SEARCH_LIMIT = 100
RECENT_REJECTIONS = 50
# Receipt IDs are UUIDs, sources and bet references the operator's own text: bounded, printable.
_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,128}")

_ACCEPTED = """
SELECT 'accepted' AS outcome, receipt_id, source_id, toInt64(seq) AS seq, kind, bet_ref, amount,
       occurred_at, received_at AS at, '' AS reason, '' AS detail
FROM {db:Identifier}.events
WHERE operator_id = {operator:String} AND %s
ORDER BY at DESC LIMIT {limit:UInt32}"""

_REJECTED = """
SELECT 'rejected' AS outcome, receipt_id, source_id, seq, kind, '' AS bet_ref, amount, occurred_at,
       processed_at AS at, reason, detail
FROM {db:Identifier}.rejections
WHERE operator_id = {operator:String} AND %s
ORDER BY at DESC LIMIT {limit:UInt32}"""

COLUMNS = (
    "outcome",
    "receipt_id",
    "source_id",
    "seq",
    "kind",
    "bet_ref",
    "amount",
    "occurred_at",
    "at",
    "reason",
    "detail",
)


class SearchError(ValueError):
    """A search field is not valid; the message says which and how to fix it."""


@dataclass(frozen=True)
class ReceiptSearch:
    """One of: a receipt ID; a source (with a sequence number, or its latest events); a bet reference."""

    receipt_id: str = ""
    source_id: str = ""
    seq: int | None = None
    bet_ref: str = ""

    def as_query(self) -> dict[str, str]:
        out = {"receipt_id": self.receipt_id, "source_id": self.source_id, "bet_ref": self.bet_ref}
        if self.seq is not None:
            out["seq"] = str(self.seq)
        return {k: v for k, v in out.items() if v}


def parse_search(query: Mapping[str, str]) -> ReceiptSearch | None:
    """The search in a query string, or None when nothing was asked; :class:`SearchError` if invalid."""
    receipt_id = query.get("receipt_id", "").strip()
    source_id = query.get("source_id", "").strip()
    seq_text = query.get("seq", "").strip()
    bet_ref = query.get("bet_ref", "").strip()
    asked = [
        n for n, v in (("receipt", receipt_id), ("source", source_id or seq_text), ("bet", bet_ref)) if v
    ]
    if not asked:
        return None
    if len(asked) > 1:
        raise SearchError(
            _(
                "Search by one thing at a time: a receipt ID, a source (and sequence number), "
                "or a bet reference."
            )
        )
    for field, value in (
        (_("receipt ID"), receipt_id),
        (_("source"), source_id),
        (_("bet reference"), bet_ref),
    ):
        if value and not _TEXT.fullmatch(value):
            raise SearchError(_("The %(field)s must be 1 to 128 printable characters.") % {"field": field})
    seq: int | None = None
    if seq_text:
        if not source_id:
            raise SearchError(_("A sequence number needs its source: fill in the source too."))
        if not seq_text.isdigit() or len(seq_text) > 19:
            raise SearchError(_("The sequence number must be a whole number from 0 up, for example 42."))
        seq = int(seq_text)
    return ReceiptSearch(receipt_id, source_id, seq, bet_ref)


def search_queries(
    search: ReceiptSearch, operator_id: str, database: str
) -> list[tuple[str, dict[str, Any]]]:
    """The queries (SQL, bound parameters) that find ``search`` among ``operator_id``'s events only.

    Rejections carry no bet reference (a rejected event is kept as the operator sent its
    header, ``sinks/clickhouse/tables.py``), so a bet reference finds accepted events only.
    """
    params: dict[str, Any] = {"db": database, "operator": operator_id, "limit": SEARCH_LIMIT}
    if search.receipt_id:
        params["receipt_id"] = search.receipt_id
        where = "receipt_id = {receipt_id:String}"
        return [(_ACCEPTED % where, params), (_REJECTED % where, params)]
    if search.source_id:
        params["source_id"] = search.source_id
        where = "source_id = {source_id:String}"
        if search.seq is not None:
            params["seq"] = search.seq
            where += " AND seq = {seq:Int64}"
        return [(_ACCEPTED % where, params), (_REJECTED % where, params)]
    params["bet_ref"] = search.bet_ref
    return [(_ACCEPTED % "bet_ref = {bet_ref:String}", params)]


def recent_rejections_query(operator_id: str, database: str) -> tuple[str, dict[str, Any]]:
    return _REJECTED % "1", {"db": database, "operator": operator_id, "limit": RECENT_REJECTIONS}


STATEMENTS = """
SELECT period, period_start, period_end, revision, status, stakes, refunds, winnings, ggr,
       ggr_tax_due, pit_due, pit_withheld, military_due, military_withheld, discrepancies, issued_at
FROM {db:Identifier}.ggr_statements
WHERE operator_id = {operator:String}
ORDER BY period_start DESC LIMIT 24"""

DISCREPANCIES = """
SELECT receipt_id, licence_id, occurred_at, amount, pit_due, pit_withheld, military_due, military_withheld
FROM {db:Identifier}.tax_discrepancies
WHERE operator_id = {operator:String}
ORDER BY occurred_at DESC LIMIT 100"""


def own(query: Mapping[str, str], operator_id: str) -> dict[str, str]:
    """A report's query string with the operator filter set to the session's operator, whatever was sent."""
    return {**{k: v for k, v in query.items() if k != "operator"}, "operator": operator_id}
