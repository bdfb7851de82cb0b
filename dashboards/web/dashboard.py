"""The analysts' reports behind the cabinets' web application (``web/reports.py`` serves them).

Read-only by construction: it runs nothing but the catalog's queries, with ClickHouse's
``readonly`` setting. With embedded chdb only the process that owns the chdb folder can query it,
so the worker that runs the ClickHouse sink serves the web application (``dashboard_port``); with
a ClickHouse server, ``dsom dashboard`` serves it from anywhere.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
    """What the HTTP handler needs: ClickHouse clients (each used by one query at a time) and live figures.

    ``readers`` are more clients of the same ClickHouse (``connect`` again): with them, queries of
    concurrent requests run in parallel, one per client, instead of queueing behind one lock. Embedded
    chdb allows it: connections to the one folder a process opens share its engine, and queries of
    separate connections run in parallel (one at a time per connection, which the pool ensures).
    Measured in docs/cabinets.md.
    """

    def __init__(
        self,
        client: Any,
        database: str,
        live: Callable[[], dict[str, Any]] | None = None,
        *,
        readers: Sequence[Any] = (),
    ) -> None:
        self._db = database
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for c in (client, *readers):
            self._free.put(c)
        self.connections = 1 + len(readers)
        self._live = live
        self._live_cache: tuple[float, dict[str, Any]] = (0.0, {})

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A client no other thread is using (waits for one when all are busy)."""
        client = self._free.get()
        try:
            yield client
        finally:
            self._free.put(client)

    @property
    def database(self) -> str:
        return self._db

    def catalog(self) -> dict[str, Any]:
        with self._connection() as client:
            operators = [r[0] for r in client.query(
                "SELECT DISTINCT operator_id FROM {db:Identifier}.registry_history WHERE kind = 'licence' "
                "UNION DISTINCT SELECT DISTINCT operator_id FROM {db:Identifier}.source_seq ORDER BY 1",
                parameters={"db": self._db}, settings=READ_ONLY).result_rows]
            games = [r[0] for r in client.query(
                "SELECT DISTINCT game_type FROM {db:Identifier}.ggr_hourly WHERE game_type != '' ORDER BY 1",
                parameters={"db": self._db}, settings=READ_ONLY).result_rows]
        return {
            "groups": GROUPS,
            "reports": [describe(r) for r in REPORTS],
            "choices": {"operator": operators, "licence_kind": [str(k) for k in LicenceKind],
                        "game_type": games, "granularity": list(GRANULARITIES)},
        }

    def read(self, query: Callable[[Any, str], T]) -> T:
        """Run ``query(client, database)`` on a client of its own (other read-only pages' queries)."""
        with self._connection() as client:
            return query(client, self._db)

    def report(self, report: Report, query: dict[str, str]) -> dict[str, Any]:
        params = parse(query)
        with self._connection() as client:
            return run_report(client, self._db, report, params).as_json()

    def export(self, report: Report, query: dict[str, str], fmt: str) -> bytes:
        params = parse(query)
        with self._connection() as client:
            return export_report(client, self._db, report, params, fmt)

    def rows(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        """Any read-only query's rows, as JSON-ready dicts (the operator's cabinet's searches)."""
        with self._connection() as client:
            result = client.query(sql, parameters=parameters, settings=READ_ONLY)
        names = result.column_names
        return [{k: jsonable(v) for k, v in zip(names, row, strict=True)} for row in result.result_rows]
    def query(self, sql: str, parameters: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Any read-only query (the cabinets' look-ups and tax records): column names and rows."""
        with self._connection() as client:
            result = client.query(sql, parameters={"db": self._db, **parameters}, settings=READ_ONLY)
        return list(result.column_names), list(result.result_rows)

    def raw(self, sql: str, parameters: dict[str, Any], fmt: str) -> bytes:
        """A read-only query's result in ``fmt`` (csv or parquet), written by ClickHouse itself."""
        with self._connection() as client:
            data = client.raw_query(sql, parameters={"db": self._db, **parameters}, settings=READ_ONLY,
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
