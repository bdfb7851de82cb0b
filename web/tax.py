"""The tax officer's cabinet: GGR statements, per-payout tax records and discrepancies, with export.

Thin adapter over :mod:`web.tax_records`. Viewing a page is not audited (as the reports' pages are
not); every export is (who, which table, the filters, the format).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from dashboards.run import EXPORT_FORMATS, jsonable
from dashboards.web.dashboard import Dashboard
from web import i18n, labels
from web.deps import CurrentAccount, cabinet
from web.i18n import N_, _
from web.lookup import DEFAULT_DAYS, LookupRefused
from web.pages import render
from web.reports import csv_with_labels, in_language, parquet_with_labels
from web.tax_records import EXPORT_ROWS, PAGE_ROWS, TABLES, TaxTable, parse_tax_query, tax_sql

router = APIRouter()


def _reports(request: Request) -> Dashboard:
    d: Dashboard | None = cabinet(request).dashboard
    if d is None:
        raise HTTPException(
            503, _("Tax records are read where the ClickHouse data is; this server has none.")
        )
    return d


_KOPECKS = N_("%(label)s, kopecks")  # an export's money column: kopecks, as the data holds them
_PPM = N_("%(label)s, millionths")  # a rate, in parts per million (180000: 18 %)
_CODES = {"status": labels.STATEMENT_STATUSES, "licence_kind": labels.LICENCE_KINDS}


def _cell(table: TaxTable, name: str, v: Any) -> tuple[str, str, bool]:
    """A value as the page writes it in the reader's language, as the data holds it, and if it is a figure.

    Kopecks as hryvnias (exactly, no float), rates in parts per million as percent, UTC times in
    Kyiv time, codes by their labels, counts with the reader's separators; null as an empty cell.
    """
    raw = jsonable(v)
    if v is None:
        return "", "", False
    if name in table.money:
        return i18n.format_money(int(v)), str(raw), True
    if name.endswith("_rate_ppm"):
        return i18n.format_number(Decimal(int(v)) / 10_000) + "\u00a0%", str(raw), True
    if name == "discrepancy":
        return (_("yes") if v else _("no")), str(raw), False
    if isinstance(v, datetime):
        at = v if v.tzinfo else v.replace(tzinfo=UTC)
        return i18n.format_time(int(at.timestamp()) * 1_000_000 + at.microsecond), str(raw), False
    if name in _CODES:
        return labels.label(_CODES[name], str(v)), str(raw), False
    if isinstance(v, int | float) and not isinstance(v, bool):
        return i18n.format_number(v), str(raw), True
    return str(v), str(raw), False


def export_labels(table: TaxTable) -> dict[str, str]:
    """Each exported column's label in the current language (money in kopecks, rates in millionths)."""
    out = {}
    for c in table.columns:
        text = labels.label(labels.TAX_COLUMNS, c)
        unit = _KOPECKS if c in table.money else _PPM if c.endswith("_rate_ppm") else None
        out[c] = text if unit is None else _(unit) % {"label": text}
    return out


@router.get("/tax")
def tax_page(request: Request, who: CurrentAccount) -> HTMLResponse:
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
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
    shown = [[_cell(q.table, n, v) for n, v in zip(names, r, strict=True)] for r in rows]
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
    # machine column names kept; the labels beside them (the reports' exports do the same)
    if fmt == "csv" and request.query_params.get("labels", "1") != "0":
        shown = export_labels(q.table)
        data = csv_with_labels(data, [shown.get(c, c) for c in data.partition(b"\n")[0].decode()
                                      .replace('"', "").split(",")])
    elif fmt == "parquet":
        en, uk = (in_language(lang, lambda: export_labels(q.table)) for lang in ("en", "uk"))
        data = parquet_with_labels(data, f"tax-{base}", en, uk)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Response(
        data,
        media_type=EXPORT_FORMATS[fmt][1],
        headers={"Content-Disposition": f'attachment; filename="tax-{base}-{stamp}.{fmt}"'},
    )
