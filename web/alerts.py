"""The alert inboxes: the regulator's (``/regulator/alerts``) and the operator's (``/operator/alerts``).

Thin adapters: alerts come from ClickHouse (the sink stores every ``ua.dsom.v1.Alert`` record,
``sinks.clickhouse.queries.latest_alerts``), cases from the registry's audit log, and every
decision about who sees what and what a case is from :mod:`web.inbox`.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol
from urllib.parse import quote_plus

import orjson
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from sinks.clickhouse import queries
from web import inbox, labels
from web.access import Account
from web.deps import CurrentAccount, cabinet
from web.i18n import gettext as _
from web.pages import render, see_other

router = APIRouter()
LIST_ROWS = 500


class AlertStore(Protocol):
    """Where the inboxes read alerts: each alert's latest record, and counts per operator and rule."""

    def latest(
        self,
        operator_id: str | None = None,
        alert_id: str | None = None,
        without_rules: tuple[str, ...] = (),
        limit: int = LIST_ROWS,
    ) -> list[dict[str, Any]]: ...

    def counts(self, rules: tuple[str, ...]) -> list[dict[str, Any]]: ...


class ClickHouseAlerts:
    """The sink's ``alerts`` table, through the reports' read-only client (``Dashboard.read``)."""

    def __init__(self, dashboard: Any) -> None:
        self._dashboard = dashboard

    def latest(
        self,
        operator_id: str | None = None,
        alert_id: str | None = None,
        without_rules: tuple[str, ...] = (),
        limit: int = LIST_ROWS,
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._dashboard.read(
            lambda client, db: queries.latest_alerts(client, db, operator_id, alert_id, without_rules, limit)
        )
        return rows

    def counts(self, rules: tuple[str, ...]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._dashboard.read(
            lambda client, db: queries.alert_counts(client, db, rules)
        )
        return rows


def _store(request: Request) -> AlertStore | None:
    store: AlertStore | None = cabinet(request).alerts
    return store


def _visible(request: Request, who: Account) -> list[dict[str, Any]]:
    store = _store(request)
    if store is None:
        return []
    if inbox.side_of(who) == "operator":
        rows = store.latest(operator_id=who.operator_id)
    else:
        rows = store.latest(without_rules=inbox.PLAYER_RULES)
    return [r for r in rows if inbox.may_see(who, r)]  # the query already filters; this is the rule


def _page(
    request: Request, who: Account, show: str, error: str = "", done: str = "", status: int = 200
) -> HTMLResponse:
    side = inbox.side_of(who)
    assert side is not None  # the route table lets only the two sides in
    store = _store(request)
    alerts = _visible(request, who)
    cases = inbox.cases(cabinet(request).registry.audit_entries(kind=inbox.AUDIT_KIND), side)
    if show != "all":
        # Handled (its case resolved) leaves the list, whether or not its condition still holds; a
        # condition that ends and comes back is a new alert, with a new case.
        alerts = [a for a in alerts if cases.get(a["alert_id"], inbox.Case()).status != "resolved"]
    aggregates = store.counts(inbox.PLAYER_RULES) if store is not None and side == "regulator" else []
    return render(
        request,
        "alerts.html",
        status,
        side=side,
        alerts=alerts,
        cases=cases,
        new_case=inbox.Case(),
        aggregates=aggregates,
        available=store is not None,
        show=show,
        error=error,
        done=done,
        figures=lambda a: labels.alert_figures(orjson.loads(a["amounts"]), orjson.loads(a["measures"])),
        action_path=f"/{side}/alerts",
    )


def _act(request: Request, who: Account, alert_id: str, action: str, note: str, assignee: str) -> Response:
    side = inbox.side_of(who)
    assert side is not None
    store = _store(request)
    found = store.latest(alert_id=alert_id, limit=1) if store is not None else []
    if not found or not inbox.may_see(who, found[0]):
        # The same answer whether it does not exist or belongs to someone else: nothing leaks.
        raise HTTPException(404, _("There is no such alert in your cabinet."))
    why = inbox.refusal(action, note, assignee)
    if why is not None:
        return _page(request, who, "open", error=why, status=400)
    cabinet(request).registry.record_event(
        who.principal,
        f"alert_{action}",
        inbox.AUDIT_KIND,
        alert_id,
        inbox.audit_detail(side, found[0], action, note, assignee),
        note.strip() or None,
    )
    done = {
        "acknowledge": _("Alert acknowledged."),
        "assign": _("Alert assigned."),
        "resolve": _("Alert resolved."),
    }[action]
    return see_other(f"/{side}/alerts?done={quote_plus(done)}")


Action = Annotated[str, Form(max_length=20)]
Note = Annotated[str, Form(max_length=inbox.NOTE_MAX + 1)]
Assignee = Annotated[str, Form(max_length=inbox.ASSIGNEE_MAX + 1)]


# One handler for both inboxes: the route table (web.access.POLICY) admits each role to its own
# path, and web.inbox decides from the account which alerts it sees and may act on.
@router.get("/regulator/alerts")
@router.get("/operator/alerts")
def alerts_page(
    request: Request, who: CurrentAccount, show: str = "open", done: str = ""
) -> HTMLResponse:
    return _page(request, who, show, done=done)


@router.post("/regulator/alerts/{alert_id}")
@router.post("/operator/alerts/{alert_id}")
def act(
    request: Request,
    who: CurrentAccount,
    alert_id: str,
    action: Action = "",
    note: Note = "",
    assignee: Assignee = "",
) -> Response:
    return _act(request, who, alert_id, action, note, assignee)
