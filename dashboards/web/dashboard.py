"""The analysts' reports behind the cabinets' web application (``web/reports.py`` serves them).

Read-only by construction: it runs nothing but the catalog's queries, with ClickHouse's
``readonly`` setting. With embedded chdb only the process that owns the chdb folder can query it,
so the worker that runs the ClickHouse sink serves the web application (``dashboard_port``); with
a ClickHouse server, ``dsom dashboard`` serves it from anywhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dashboards.params import parse
from dashboards.reports import GRANULARITIES, GROUPS, REPORTS, Report
from dashboards.run import EXPORT_FORMATS, READ_ONLY, export_report, jsonable, run_report
from pipeline.core.model import LicenceKind

STATIC = Path(__file__).resolve().parent / "static"
LIVE_CACHE_S = 2.0
T = TypeVar("T")


class Dashboard:
    """What the HTTP handler needs: a ClickHouse client (used under a lock) and live figures."""

    def __init__(self, client: Any, database: str, live: Callable[[], dict[str, Any]] | None = None) -> None:
        self._client = client
        self._db = database
        self._lock = threading.Lock()  # one query at a time per client: reports are fast
        self._live = live
        self._live_cache: tuple[float, dict[str, Any]] = (0.0, {})

    @property
    def database(self) -> str:
        return self._db

    def catalog(self) -> dict[str, Any]:
        with self._lock:
            operators = [r[0] for r in self._client.query(
                "SELECT DISTINCT operator_id FROM {db:Identifier}.registry_history WHERE kind = 'licence' "
                "UNION DISTINCT SELECT DISTINCT operator_id FROM {db:Identifier}.source_seq ORDER BY 1",
                parameters={"db": self._db}, settings=READ_ONLY).result_rows]
            games = [r[0] for r in self._client.query(
                "SELECT DISTINCT game_type FROM {db:Identifier}.ggr_hourly WHERE game_type != '' ORDER BY 1",
                parameters={"db": self._db}, settings=READ_ONLY).result_rows]
        return {
            "groups": GROUPS,
            "reports": [describe(r) for r in REPORTS],
            "choices": {"operator": operators, "licence_kind": [str(k) for k in LicenceKind],
                        "game_type": games, "granularity": list(GRANULARITIES)},
        }

    def read(self, query: Callable[[Any, str], T]) -> T:
        """Run ``query(client, database)`` under the client's lock (other read-only pages' queries)."""
        with self._lock:
            return query(self._client, self._db)

    def report(self, report: Report, query: dict[str, str]) -> dict[str, Any]:
        params = parse(query)
        with self._lock:
            return run_report(self._client, self._db, report, params).as_json()

    def export(self, report: Report, query: dict[str, str], fmt: str) -> bytes:
        params = parse(query)
        with self._lock:
            return export_report(self._client, self._db, report, params, fmt)

    def rows(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        """Any read-only query's rows, as JSON-ready dicts (the operator's cabinet's searches)."""
        with self._lock:
            result = self._client.query(sql, parameters=parameters, settings=READ_ONLY)
        names = result.column_names
        return [{k: jsonable(v) for k, v in zip(names, row, strict=True)} for row in result.result_rows]
    def query(self, sql: str, parameters: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Any read-only query (the cabinets' look-ups and tax records): column names and rows."""
        with self._lock:
            result = self._client.query(sql, parameters={"db": self._db, **parameters}, settings=READ_ONLY)
        return list(result.column_names), list(result.result_rows)

    def raw(self, sql: str, parameters: dict[str, Any], fmt: str) -> bytes:
        """A read-only query's result in ``fmt`` (csv or parquet), written by ClickHouse itself."""
        with self._lock:
            data = self._client.raw_query(sql, parameters={"db": self._db, **parameters}, settings=READ_ONLY,
                                          fmt=EXPORT_FORMATS[fmt][0])
        return bytes(data)

    def live(self) -> dict[str, Any]:
        if self._live is None:
            return {"available": False, "why": "this dashboard runs outside the pipeline's worker"}
        at, cached = self._live_cache
        if time.monotonic() - at > LIVE_CACHE_S:
            cached = {"available": True, **self._live()}
            self._live_cache = (time.monotonic(), cached)
        return cached


def describe(r: Report) -> dict[str, Any]:
    return {"name": r.name, "group": r.group, "title": r.title, "description": r.description,
            "columns": [{"name": c.name, "label": c.label, "kind": c.kind} for c in r.columns],
            "chart": None if r.chart is None else {"type": r.chart.type, "x": r.chart.x,
                                                    "y": list(r.chart.y), "series": r.chart.series,
                                                    "only": r.chart.only},
            "filters": list(r.filters), "time_series": r.time_series,
            "exports": list(EXPORT_FORMATS)}
