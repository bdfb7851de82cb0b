"""Single-event look-ups (the regulator's inspector, law enforcement) and the cases the regulator grants.

Thin adapters: the look-up's parsing, scope and SQL are :mod:`web.lookup`, a case's rules
:mod:`web.cases`, storage :mod:`registry.staff`. Every look-up, refused ones included, is written to
the audit log (who, what was looked up, the case, the reason) before any event is read.
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from dashboards.run import jsonable
from dashboards.web.dashboard import Dashboard
from registry.core.model import Kind
from registry.staff import CaseStore, CaseVersion, StaffStore
from web.access import Account, Role
from web.cases import Case, case_scope, parse_grant
from web.deps import CurrentAccount, cabinet
from web.i18n import _
from web.lookup import (
    DEFAULT_DAYS,
    EVERYTHING,
    SHOWN,
    By,
    Lookup,
    LookupRefused,
    Scope,
    lookup_sql,
    narrow,
    newest_first,
    parse_lookup,
)
from web.pages import render, see_other

router = APIRouter()
MONEY = frozenset({"amount", "tax_withheld_pit", "tax_withheld_military"})  # kopecks, shown by money()


def now_us() -> int:
    return time.time_ns() // 1000


def _case(v: CaseVersion | None) -> Case | None:
    if v is None:
        return None
    return Case(
        v.case_id,
        v.granted_to,
        v.operators,
        v.subjects,
        v.basis,
        v.expires_at_us,
        v.active,
        v.principal,
        v.recorded_at_us,
    )


def _reports(request: Request) -> Dashboard:
    d: Dashboard | None = cabinet(request).dashboard
    if d is None:
        raise HTTPException(503, _("Events are read where the ClickHouse data is; this server has none."))
    return d


def run_lookup(
    request: Request, who: Account, form: dict[str, str]
) -> tuple[Lookup | None, list[dict[str, Any]]]:
    """Check, audit and run one look-up; :class:`LookupRefused` (audited too) when it may not run."""
    registry = cabinet(request).registry
    case_id = form.get("case_id", "").strip()[:128]
    detail: dict[str, Any] = {"by": form.get("by", "")[:20], "value": form.get("value", "")[:200]}
    if who.role is Role.LAW:
        detail["case_id"] = case_id
    try:
        lookup = parse_lookup(form)
        scope: Scope = EVERYTHING
        if who.role is Role.LAW:
            scope = case_scope(_case(CaseStore(registry).get(case_id)), case_id, who.name, now_us())
        narrow(lookup, scope)
    except LookupRefused as exc:
        registry.record_event(
            who.principal,
            "lookup_refused",
            "event",
            _entity(detail),
            {**detail, "refused": str(exc)},
            form.get("reason", "").strip()[:1000] or None,
        )
        raise
    registry.record_event(
        who.principal,
        "lookup",
        "event",
        _entity(detail),
        {**lookup.audit_detail(), **({"case_id": case_id} if who.role is Role.LAW else {})},
        lookup.reason,
    )
    for step in newest_first(lookup, now_us()):  # a site's last day, then its whole period
        sql, params = lookup_sql(step, scope)
        names, rows = _reports(request).query(sql, params)
        if len(rows) >= lookup.limit:
            break
    return lookup, [dict(zip(names, r, strict=True)) for r in rows]


def _entity(detail: dict[str, Any]) -> str:
    return f"{detail['by']}:{detail['value']}"[:255]


def _shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: jsonable(v) for k, v in r.items()} for r in rows]


def _inspect_page(request: Request, who: Account, status: int = 200, **context: Any) -> HTMLResponse:
    cases = []
    if who.role is Role.LAW:
        t = now_us()
        cases = [
            (c, c.state(t))
            for c in map(_case, CaseStore(cabinet(request).registry).current(who.name))
            if c is not None
        ]
    return render(
        request,
        "inspect.html",
        status,
        by=[b.value for b in By],
        cases=cases,
        columns=SHOWN,
        money_columns=MONEY,
        default_days=DEFAULT_DAYS,
        form=context.pop("form", {}),
        **context,
    )


@router.get("/inspect")
def inspect_page(request: Request, who: CurrentAccount) -> HTMLResponse:
    return _inspect_page(request, who)


@router.post("/inspect")
def inspect_lookup(
    request: Request,
    who: CurrentAccount,
    by: Annotated[str, Form(max_length=20)] = "",
    value: Annotated[str, Form(max_length=400)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    operator: Annotated[str, Form(max_length=200)] = "",
    since: Annotated[str, Form(max_length=20)] = "",
    until: Annotated[str, Form(max_length=20)] = "",
    case_id: Annotated[str, Form(max_length=200)] = "",
    limit: Annotated[str, Form(max_length=10)] = "",
) -> HTMLResponse:
    form = {
        "by": by,
        "value": value,
        "reason": reason,
        "operator": operator,
        "since": since,
        "until": until,
        "case_id": case_id,
        "limit": limit,
    }
    try:
        lookup, rows = run_lookup(request, who, form)
    except LookupRefused as exc:
        return _inspect_page(request, who, 403, error=str(exc), form=form)
    return _inspect_page(request, who, form=form, lookup=lookup, rows=_shown(rows), searched=True)


@router.post("/api/lookup")
async def api_lookup(request: Request, who: CurrentAccount) -> Response:
    """The same look-up as JSON: a body of the form's fields (``by``, ``value``, ``reason``, ...)."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"error": _("expected a JSON object of the look-up's fields")}, 400)
    try:
        _lookup, rows = run_lookup(request, who, {k: str(v) for k, v in body.items() if v is not None})
    except LookupRefused as exc:
        return JSONResponse({"error": str(exc)}, 403)
    return JSONResponse(
        {"rows": [{k: jsonable(v) for k, v in r.items()} for r in rows]},
        headers={"Cache-Control": "no-store"},
    )


# ---- cases: the regulator grants law enforcement a scope ------------------------------------------


def _cases_page(request: Request, who: Account, status: int = 200, **context: Any) -> HTMLResponse:
    registry = cabinet(request).registry
    t = now_us()
    law = [s for s in StaffStore(registry).current() if s.role == Role.LAW.value and s.active]
    cases = [(c, c.state(t)) for c in map(_case, CaseStore(registry).current()) if c is not None]
    operators = [v.entity_id for v in registry.current(Kind.OPERATOR.value)]
    return render(
        request,
        "cases.html",
        status,
        cases=cases,
        law=law,
        operators=operators,
        form=context.pop("form", {}),
        **context,
    )


@router.get("/cases")
def cases_page(request: Request, who: CurrentAccount, granted: str = "", withdrew: str = "") -> HTMLResponse:
    done = (
        _("Case {case} granted.").format(case=granted[:64])
        if granted
        else _("Case {case} withdrawn.").format(case=withdrew[:64])
        if withdrew
        else ""
    )
    return _cases_page(request, who, done=done)


@router.post("/cases")
def cases_grant(
    request: Request,
    who: CurrentAccount,
    case_id: Annotated[str, Form(max_length=200)] = "",
    granted_to: Annotated[str, Form(max_length=200)] = "",
    operators: Annotated[str, Form(max_length=5000)] = "",
    subjects: Annotated[str, Form(max_length=200_000)] = "",
    basis: Annotated[str, Form(max_length=2000)] = "",
    expires: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    registry = cabinet(request).registry
    form = {
        "case_id": case_id,
        "granted_to": granted_to,
        "operators": operators,
        "subjects": subjects,
        "basis": basis,
        "expires": expires,
    }
    law = {s.name for s in StaffStore(registry).current() if s.role == Role.LAW.value and s.active}
    known = {v.entity_id for v in registry.current(Kind.OPERATOR.value)}
    try:
        case = parse_grant(form, law, known, now_us())
        if CaseStore(registry).get(case.case_id) is not None:
            raise LookupRefused(
                _("There is already a case {case}; choose another ID.").format(case=case.case_id)
            )
    except LookupRefused as exc:
        return _cases_page(request, who, 400, error=str(exc), form=form)
    CaseStore(registry).put(
        who.principal,
        CaseVersion(
            case.case_id,
            case.granted_to,
            case.operators,
            case.subjects,
            case.basis,
            case.expires_at_us,
            True,
            0,
            "",
        ),
        "case_grant",
        case.basis,
        must_be_new=True,
    )
    return see_other(f"/cases?granted={quote(case.case_id)}")


@router.post("/cases/withdraw")
def cases_withdraw(
    request: Request,
    who: CurrentAccount,
    case_id: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    store = CaseStore(cabinet(request).registry)
    current = store.get(case_id)
    if current is None or not current.active:
        return _cases_page(request, who, 400, error=_("No open case {case}.").format(case=case_id[:64]))
    if len(reason.strip()) < 5:
        return _cases_page(request, who, 400, error=_("Give the reason for withdrawing the case."))
    store.put(
        who.principal, CaseVersion(**{**current.__dict__, "active": False}), "case_withdraw", reason.strip()
    )
    return see_other(f"/cases?withdrew={quote(case_id)}")
