"""The tax officer's cabinet: GGR statements, per-payout tax records and discrepancies, with export.

Thin adapter over :mod:`web.tax_records`. Viewing a page is not audited (as the reports' pages are
not); every export is (who, which table, the filters, the format).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from dashboards.run import EXPORT_FORMATS, jsonable
from dashboards.web.dashboard import Dashboard
from web import i18n
from web.deps import CurrentAccount, cabinet
from web.i18n import _
from web.lookup import DEFAULT_DAYS, LookupRefused
from web.pages import render
from web.tax_records import EXPORT_ROWS, PAGE_ROWS, TABLES, parse_tax_query, tax_sql

router = APIRouter()


def _reports(request: Request) -> Dashboard:
    d: Dashboard | None = cabinet(request).dashboard
    if d is None:
        raise HTTPException(
            503, _("Tax records are read where the ClickHouse data is; this server has none.")
        )
    return d


def _money(v: Any) -> str:
    """Kopecks as hryvnias in the reader's language, exactly (no float)."""
    return "" if v is None else i18n.format_money(int(v))


@router.get("/tax")
def tax_page(request: Request, who: CurrentAccount) -> HTMLResponse:
    query = dict(request.query_params)
    table = query.pop("table", "statements")
    try:
        q = parse_tax_query(table, query)
    except LookupRefused as exc:
        return render(
            request,
            "tax.html",
            400,
            error=str(exc),
            tables=list(TABLES),
            table=table,
            query=query,
            rows=[],
            columns=(),
        )
    sql, params = tax_sql(q, PAGE_ROWS)
    names, rows = _reports(request).query(sql, params)
    shown = [
        [_money(v) if n in q.table.money else jsonable(v) for n, v in zip(names, r, strict=True)]
        for r in rows
    ]
    return render(
        request,
        "tax.html",
        tables=list(TABLES),
        table=table,
        query=query,
        rows=shown,
        columns=names or q.table.columns,
        page_rows=PAGE_ROWS,
        export_rows=EXPORT_ROWS,
        default_days=DEFAULT_DAYS,
        default_since=q.since_us if q.default_period else None,
        filters=urlencode({k: v for k, v in query.items() if v}),
    )


@router.get("/api/tax/{table}")
def tax_api(request: Request, table: str, who: CurrentAccount) -> Response:
    """A table as JSON (the newest ``PAGE_ROWS``), or ``<table>.csv`` / ``.parquet`` (audited)."""
    base, _dot, fmt = table.partition(".")
    try:
        q = parse_tax_query(base, dict(request.query_params))
    except LookupRefused as exc:
        return JSONResponse({"error": str(exc)}, 400)
    if not fmt:
        sql, params = tax_sql(q, PAGE_ROWS)
        names, rows = _reports(request).query(sql, params)
        return JSONResponse(
            {"table": base, "rows": [{n: jsonable(v) for n, v in zip(names, r, strict=True)} for r in rows]},
            headers={"Cache-Control": "no-store"},
        )
    if fmt not in EXPORT_FORMATS:
        return JSONResponse(
            {"error": _("export formats are {formats}").format(formats=", ".join(EXPORT_FORMATS))}, 404
        )
    d = _reports(request)
    cabinet(request).registry.record_event(
        who.principal, "export", "tax", base, {"format": fmt, **q.audit_detail()}
    )
    sql, params = tax_sql(q, EXPORT_ROWS)
    data = d.raw(sql, params, fmt)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Response(
        data,
        media_type=EXPORT_FORMATS[fmt][1],
        headers={"Content-Disposition": f'attachment; filename="tax-{base}-{stamp}.{fmt}"'},
    )
