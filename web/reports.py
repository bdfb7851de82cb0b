"""The reports (the former stdlib dashboard) as routes of the web application, by role.

Analysts see the four groups; tax officers the financial group only. Exports are audited. Every
title, description, column label and value label goes out in the reader's language; the data and
the exports' column names stay the stable machine names.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from dashboards.params import ParamError
from dashboards.reports import BY_NAME, GROUPS, Report
from dashboards.run import EXPORT_FORMATS
from dashboards.web.dashboard import Dashboard
from pipeline.contract.asyncapi import published as published_contract
from web import i18n, labels, machine_texts
from web.access import Account, may_see_group
from web.deps import CurrentAccount, cabinet
from web.i18n import _
from web.pages import render

router = APIRouter()
T = TypeVar("T")


def _dashboard(request: Request) -> Dashboard:
    d: Dashboard | None = cabinet(request).dashboard
    if d is None:
        raise HTTPException(503, _("The reports are served by the worker that owns the ClickHouse data."))
    return d


Reports = Annotated[Dashboard, Depends(_dashboard)]


def _page(group: str) -> Any:
    def page(request: Request, who: CurrentAccount) -> HTMLResponse:
        if not may_see_group(who, group):
            message = _("Your cabinet has no %(group)s reports.") % {"group": _(GROUPS[group])}
            raise HTTPException(403, message)
        locale = i18n.current_locale()
        response = render(
            request,
            "reports.html",
            group=group,
            group_title=_(GROUPS[group]),
            browser_locale=i18n.BROWSER_LOCALE[locale],
            js_messages=i18n.js_messages(locale),
        )
        response.headers["Cache-Control"] = "no-cache"
        return response

    page.__name__ = f"{group}_page"
    return page


for _group in GROUPS:
    router.add_api_route(f"/{_group}", _page(_group), methods=["GET"], include_in_schema=False)


def _localised(catalog: dict[str, Any]) -> dict[str, Any]:
    """The catalog in the reader's language: titles, descriptions, labels, value labels, reasons."""
    values = {column: labels.translated(table) for column, table in labels.REPORT_VALUES.items()}
    values["issue"] = labels.issues()
    return {
        **catalog,
        "groups": {k: _(v) for k, v in catalog["groups"].items()},
        "reports": [
            {
                **r,
                "title": _(r["title"]),
                "description": _(r["description"]),
                "columns": [{**c, "label": _(c["label"])} for c in r["columns"]],
            }
            for r in catalog["reports"]
        ],
        "value_labels": values,
        "details": labels.details(),
        "locale": i18n.current_locale(),
    }


def _visible(who: Account, catalog: dict[str, Any]) -> dict[str, Any]:
    groups = {k: v for k, v in catalog["groups"].items() if may_see_group(who, k)}
    return {**catalog, "groups": groups, "reports": [r for r in catalog["reports"] if r["group"] in groups]}


@router.get("/api/catalog")
def api_catalog(who: CurrentAccount, d: Reports) -> dict[str, Any]:
    return _localised(_visible(who, d.catalog()))


def column_labels(report: Report) -> list[str]:
    """The report's column labels in the reader's language, in column order."""
    return [_(c.label) for c in report.columns]


def labelled_csv(data: bytes, report: Report) -> bytes:
    """ClickHouse's CSV (a row of machine names, then the data) with a row of labels after the names.

    Row 1 keeps the stable machine names for programs; row 2 is what a spreadsheet reader reads.
    UTF-8 with a byte order mark, so spreadsheet programs read Ukrainian letters right
    (``?labels=0`` gives ClickHouse's CSV as it is, for programs).
    """
    return csv_with_labels(data, column_labels(report))


def csv_with_labels(data: bytes, row: list[str]) -> bytes:
    """:func:`labelled_csv` with the labels ``row`` given (one per column, in order)."""
    header, _sep, rest = data.partition(b"\n")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return b"\xef\xbb\xbf" + header + b"\n" + out.getvalue().encode() + rest


def labelled_parquet(data: bytes, report: Report) -> bytes:
    """ClickHouse's Parquet with each column's label (both languages) in the field and file metadata."""
    en, uk = (in_language(lang, lambda: {c.name: _(c.label) for c in report.columns})
              for lang in ("en", "uk"))
    return parquet_with_labels(data, report.name, en, uk)


def in_language(locale: str, fn: Callable[[], T]) -> T:
    """``fn()`` with ``locale`` the current language."""
    token = i18n.use(locale)
    try:
        return fn()
    finally:
        i18n.reset(token)


def parquet_with_labels(data: bytes, name: str, en: dict[str, str], uk: dict[str, str]) -> bytes:
    """:func:`labelled_parquet` for the table ``name`` whose columns' labels are ``en`` and ``uk``.

    Each field's metadata has ``label_en`` and ``label_uk``; the file's has ``dsom.report`` and
    ``dsom.labels`` (both languages as JSON).
    """
    import pyarrow as pa  # noqa: PLC0415 - only exports need it
    import pyarrow.parquet as pq  # noqa: PLC0415

    table = pq.read_table(io.BytesIO(data))
    fields = [
        f.with_metadata({"label_en": en[f.name], "label_uk": uk[f.name]}) if f.name in en else f
        for f in table.schema
    ]
    meta = {"dsom.report": name, "dsom.labels": json.dumps({"en": en, "uk": uk}, ensure_ascii=False)}
    schema = pa.schema(fields, metadata={**(table.schema.metadata or {}), **meta})
    out = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(table.columns, schema=schema), out)
    return out.getvalue()


@router.get("/api/report/{name}")
def api_report(request: Request, name: str, who: CurrentAccount, d: Reports) -> Response:
    base, _sep, fmt = name.partition(".")
    report = BY_NAME.get(base)
    if report is None or not may_see_group(who, report.group):
        return JSONResponse(
            {"error": _("No report named %(name)r in your cabinet; see /api/catalog.") % {"name": base}}, 404
        )
    query = {k: v for k, v in request.query_params.items() if k not in ("lang", "labels")}
    try:
        if not fmt:
            return JSONResponse(d.report(report, query), headers={"Cache-Control": "no-store"})
        if fmt not in EXPORT_FORMATS:
            return JSONResponse(
                {"error": _("Export formats are: %(formats)s.") % {"formats": ", ".join(EXPORT_FORMATS)}}, 404
            )
        data = d.export(report, query, fmt)
    except ParamError as exc:
        return JSONResponse({"error": machine_texts.param_error(exc.template, exc.fields)}, 400)
    if fmt == "csv" and request.query_params.get("labels", "1") != "0":
        data = labelled_csv(data, report)
    elif fmt == "parquet":
        data = labelled_parquet(data, report)
    cabinet(request).registry.record_event(
        who.principal, "export", "report", base, {"format": fmt, "query": query}
    )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Response(
        data,
        media_type=EXPORT_FORMATS[fmt][1],
        headers={"Content-Disposition": f'attachment; filename="{base}-{stamp}.{fmt}"'},
    )


@router.get("/api/live")
def api_live(d: Reports) -> dict[str, Any]:
    live = d.live()
    if not live.get("available"):
        return {"available": False, "why": _("This dashboard runs outside the pipeline's worker.")}
    return {
        "available": True,
        "figures": [
            (_(label) % args, "…" if value is None else i18n.format_number(value))
            for label, args, value in live["figures"]
        ],
    }


@router.get("/contract/asyncapi.json")
def contract() -> dict[str, Any]:
    """The operator contract, AsyncAPI 3 (the same as ``dsom contract``)."""
    return published_contract()
