"""The reports (the former stdlib dashboard) as routes of the web application, by role.

Analysts see the four groups; tax officers the financial group only. Exports are audited.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from dashboards.params import ParamError
from dashboards.reports import BY_NAME, GROUPS
from dashboards.run import EXPORT_FORMATS
from dashboards.web.dashboard import STATIC, Dashboard
from pipeline.contract.asyncapi import published as published_contract
from web.access import Account, may_see_group
from web.deps import CurrentAccount, cabinet

router = APIRouter()


def _dashboard(request: Request) -> Dashboard:
    d: Dashboard | None = cabinet(request).dashboard
    if d is None:
        raise HTTPException(503, "the reports are served by the worker that owns the ClickHouse data")
    return d


Reports = Annotated[Dashboard, Depends(_dashboard)]


def _page(group: str) -> Any:
    def page(who: CurrentAccount) -> FileResponse:
        if not may_see_group(who, group):
            raise HTTPException(403, f"your cabinet has no {group} reports")
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    page.__name__ = f"{group}_page"
    return page


for _group in GROUPS:
    router.add_api_route(f"/{_group}", _page(_group), methods=["GET"], include_in_schema=False)


def _visible(who: Account, catalog: dict[str, Any]) -> dict[str, Any]:
    groups = {k: v for k, v in catalog["groups"].items() if may_see_group(who, k)}
    return {**catalog, "groups": groups, "reports": [r for r in catalog["reports"] if r["group"] in groups]}


@router.get("/api/catalog")
def api_catalog(who: CurrentAccount, d: Reports) -> dict[str, Any]:
    return _visible(who, d.catalog())


@router.get("/api/report/{name}")
def api_report(request: Request, name: str, who: CurrentAccount, d: Reports) -> Response:
    base, _, fmt = name.partition(".")
    report = BY_NAME.get(base)
    if report is None or not may_see_group(who, report.group):
        return JSONResponse({"error": f"no report named {base!r} in your cabinet; see /api/catalog"}, 404)
    query = dict(request.query_params)
    try:
        if not fmt:
            return JSONResponse(d.report(report, query), headers={"Cache-Control": "no-store"})
        if fmt not in EXPORT_FORMATS:
            return JSONResponse({"error": f"export formats are {', '.join(EXPORT_FORMATS)}"}, 404)
        data = d.export(report, query, fmt)
    except ParamError as exc:
        return JSONResponse({"error": str(exc)}, 400)
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
    return d.live()


@router.get("/contract/asyncapi.json")
def contract() -> dict[str, Any]:
    """The operator contract, AsyncAPI 3 (the same as ``dsom contract``)."""
    return published_contract()
