"""The operator's cabinet beyond the registry: access keys, receipts and rejections, data quality, taxes.

Thin adapters. The operator is always the session's (``who.operator_id``): no route takes an
operator ID, and a key ID or receipt ID of another operator finds nothing. Key actions are
audited by the key register in the transaction that records them (``registry.access_keys``);
refused key actions and look-ups are audited here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from dashboards.params import ParamError
from dashboards.reports import DATA_QUALITY, INGESTION_STATUS, TAXES
from dashboards.web.dashboard import Dashboard
from pipeline.security.keys import AccessKeys
from web import labels, machine_texts
from web.access import Account
from web.deps import CurrentAccount, cabinet
from web.i18n import gettext as _
from web.keys import KeyDesk, KeyRefused
from web.operator_data import (
    DISCREPANCIES,
    STATEMENTS,
    ReceiptSearch,
    SearchError,
    own,
    parse_search,
    recent_rejections_query,
    search_queries,
)
from web.pages import render, see_other

router = APIRouter()


def _audit(
    request: Request, who: Account, action: str, kind: str, entity: str, detail: dict[str, Any]
) -> None:
    cabinet(request).registry.record_event(who.principal, action, kind, entity, detail)


def _operator(who: Account) -> str:
    if who.operator_id is None:  # the route table admits operators only; a session without one is broken
        raise HTTPException(403, _("This cabinet belongs to an operator's representative."))
    return who.operator_id


# ---- access keys --------------------------------------------------------------------------------


def _desk(request: Request) -> KeyDesk | None:
    d: KeyDesk | None = cabinet(request).keys
    return d


def _keys_page(
    request: Request, who: Account, status: int = 200, error: str = "", done: str = ""
) -> HTMLResponse:
    desk = _desk(request)
    keys = desk.of(_operator(who)) if desk is not None else []
    return render(
        request,
        "operator_keys.html",
        status,
        keys=keys,
        ready={k.key_id for k in keys if AccessKeys.bundle_ready(k)},
        available=desk is not None,
        error=error,
        done=done,
    )


_DONE = {
    "issued": lambda key: (
        _("Key %(key)s issued. Download its bundle now: it can be downloaded only once.") % {"key": key}
    ),
    "rotated": lambda key: (
        _(
            "Key %(key)s issued to replace the old one. Download its bundle, switch your "
            "clients to it, then revoke the old key."
        )
        % {"key": key}
    ),
    "revoked": lambda key: (
        _("Key %(key)s revoked: it can no longer produce or read receipts.") % {"key": key}
    ),
}


@router.get("/operator/keys")
def keys_page(request: Request, who: CurrentAccount, done: str = "", key: str = "") -> HTMLResponse:
    message = _DONE[done](key) if done in _DONE and key.isalnum() else ""
    return _keys_page(request, who, done=message)


def _key_action(request: Request, who: Account, action: str, key_id: str, run: Any) -> Any:
    desk = _desk(request)
    if desk is None:
        return _keys_page(
            request,
            who,
            503,
            error=_(
                "Access keys are not issued by this server (it has no key-issuing credentials). "
                "Ask the regulator's operations staff."
            ),
        )
    try:
        return run(desk)
    except KeyRefused as exc:
        _audit(
            request, who, "key_refused", "access_key", key_id, {"action": action, "why": exc.message[:200]}
        )
        return _keys_page(request, who, exc.status, error=exc.message)


@router.post("/operator/keys")
def issue_key(
    request: Request, who: CurrentAccount, environment: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    if environment not in ("sandbox", "production"):
        return _keys_page(
            request, who, 400, error=_("Choose where the key is for: the sandbox or production.")
        )

    def run(desk: KeyDesk) -> Response:
        key = desk.issue(_operator(who), environment == "sandbox", by=str(who.principal))
        return see_other(f"/operator/keys?done=issued&key={key.key_id}")

    return _key_action(request, who, "issue", "-", run)  # type: ignore[no-any-return]


@router.post("/operator/keys/{key_id}/bundle")
def key_bundle(request: Request, who: CurrentAccount, key_id: str) -> Response:
    def run(desk: KeyDesk) -> Response:
        key, data = desk.take_bundle(_operator(who), key_id, by=str(who.principal))
        name = f"dsom-key-{key.operator_id}-{'sandbox' if key.sandbox else 'production'}-{key.key_id}.zip"
        return Response(
            data,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    return _key_action(request, who, "bundle", key_id, run)  # type: ignore[no-any-return]


@router.post("/operator/keys/{key_id}/rotate")
def rotate_key(request: Request, who: CurrentAccount, key_id: str) -> Response:
    def run(desk: KeyDesk) -> Response:
        key = desk.rotate(_operator(who), key_id, by=str(who.principal))
        return see_other(f"/operator/keys?done=rotated&key={key.key_id}")

    return _key_action(request, who, "rotate", key_id, run)  # type: ignore[no-any-return]


@router.post("/operator/keys/{key_id}/revoke")
def revoke_key(request: Request, who: CurrentAccount, key_id: str) -> Response:
    def run(desk: KeyDesk) -> Response:
        key = desk.revoke(_operator(who), key_id, by=str(who.principal))
        return see_other(f"/operator/keys?done=revoked&key={key.key_id}")

    return _key_action(request, who, "revoke", key_id, run)  # type: ignore[no-any-return]


# ---- receipts, rejections, data quality, taxes (ClickHouse) --------------------------------------------


def _reports(request: Request) -> Dashboard:
    d: Dashboard | None = cabinet(request).dashboard
    if d is None:
        raise HTTPException(
            503, _("Your data is served by the worker that owns the ClickHouse data; this server has none.")
        )
    return d


Reports = Annotated[Dashboard, Depends(_reports)]


def _search(
    request: Request, who: Account, d: Dashboard
) -> tuple[ReceiptSearch | None, list[dict[str, Any]]]:
    search = parse_search(dict(request.query_params))
    if search is None:
        return None, []
    operator_id = _operator(who)
    rows = [r for sql, params in search_queries(search, operator_id, d.database) for r in d.rows(sql, params)]
    _audit(request, who, "lookup", "receipt", operator_id, {**search.as_query(), "found": len(rows)})
    return search, rows


@router.get("/operator/receipts")
def receipts_page(request: Request, who: CurrentAccount, d: Reports) -> HTMLResponse:
    error = ""
    try:
        search, rows = _search(request, who, d)
    except SearchError as exc:
        search, rows, error = None, [], str(exc)
    sql, params = recent_rejections_query(_operator(who), d.database)
    q = dict(request.query_params)
    return render(
        request,
        "operator_receipts.html",
        400 if error else 200,
        search=search,
        q=q,
        rows=rows,
        recent=d.rows(sql, params) if search is None else [],
        error=error,
    )


def _said(detail: str | None) -> str:
    """A receipt's detail in the reader's language ('' for none; as written where nothing says it)."""
    return (machine_texts.receipt_detail(detail) or detail) if detail else ""


@router.get("/api/operator/receipts")
def receipts_api(request: Request, who: CurrentAccount, d: Reports) -> Response:
    try:
        search, rows = _search(request, who, d)
    except SearchError as exc:
        return JSONResponse({"error": str(exc)}, 400)
    if search is None:
        return JSONResponse({"error": _("Give receipt_id, source_id (and seq), or bet_ref.")}, 400)
    # each rejection's reason and detail said in the reader's language beside the stable code and the
    # receipt's own detail (which stays as the engines wrote it)
    rows = [{**r, "reason_description": labels.reason(r["reason"]) if r.get("reason") else "",
             "detail_said": _said(r.get("detail"))} for r in rows]
    return JSONResponse(
        {"operator_id": who.operator_id, "search": search.as_query(), "rows": rows},
        headers={"Cache-Control": "no-store"},
    )


def _report(d: Dashboard, report: Any, query: dict[str, str]) -> list[dict[str, Any]]:
    """The report for the session's operator (``query`` from :func:`own`), other operators' rows dropped."""
    rows: list[dict[str, Any]] = d.report(report, query)["rows"]
    return [r for r in rows if r.get("operator_id") == query["operator"]]


@router.get("/operator/quality")
def quality_page(request: Request, who: CurrentAccount, d: Reports) -> HTMLResponse:
    query = own(dict(request.query_params), _operator(who))
    try:
        issues, status = _report(d, DATA_QUALITY, query), _report(d, INGESTION_STATUS, query)
    except ParamError as exc:
        raise HTTPException(400, machine_texts.param_error(exc.template, exc.fields)) from exc
    return render(
        request, "operator_quality.html", issues=issues, ingestion=status, period=query.get("period", "")
    )


@router.get("/operator/taxes")
def taxes_page(request: Request, who: CurrentAccount, d: Reports) -> HTMLResponse:
    operator_id = _operator(who)
    query = own(dict(request.query_params), operator_id)
    try:
        totals = _report(d, TAXES, query)
    except ParamError as exc:
        raise HTTPException(400, machine_texts.param_error(exc.template, exc.fields)) from exc
    params = {"db": d.database, "operator": operator_id}
    return render(
        request,
        "operator_taxes.html",
        totals=totals,
        statements=d.rows(STATEMENTS, params),
        discrepancies=d.rows(DISCREPANCIES, params),
        period=query.get("period", ""),
    )
