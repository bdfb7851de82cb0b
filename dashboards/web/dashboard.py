"""The analysts' web dashboard: one page per report group, JSON for the charts, CSV and Parquet exports.

Read-only by construction: the server answers GET (and HEAD) only, runs nothing but the
catalog's queries, and runs them with ClickHouse's ``readonly`` setting. It binds to
127.0.0.1 unless told otherwise.

Where it runs: with embedded chdb only the process that owns the chdb folder can query it, so
the worker that runs the ClickHouse sink serves the dashboard (``dashboard_port``); with a
ClickHouse server, ``dsom dashboard`` serves it from anywhere.

Routes:
  /                      -> /operational
  /<group>               the group's page (operational, regulatory, analytical, financial)
  /static/<file>         the page's script and style
  /api/catalog           groups, reports, their columns and charts, and the filter choices
  /api/report/<name>     the report's rows as JSON; ?period=24h | since=..&until=..,
                         operator, licence_kind, game_type, granularity, silent_after_s
  /api/report/<name>.csv, .parquet   the same rows as a file, written by ClickHouse
  /contract/asyncapi.json  the operator contract, AsyncAPI 3 (the same as `dsom contract`)
  /api/live              pipeline counters from this process's metrics and consumer lag
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from dashboards.params import ParamError, parse
from dashboards.reports import BY_NAME, GRANULARITIES, GROUPS, REPORTS, Report
from dashboards.run import EXPORT_FORMATS, READ_ONLY, export_report, run_report
from pipeline.contract.asyncapi import published as published_contract
from pipeline.core.model import LicenceKind

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".html": "text/html; charset=utf-8"}
LIVE_CACHE_S = 2.0


class Dashboard:
    """What the HTTP handler needs: a ClickHouse client (used under a lock) and live figures."""

    def __init__(self, client: Any, database: str, live: Callable[[], dict[str, Any]] | None = None) -> None:
        self._client = client
        self._db = database
        self._lock = threading.Lock()  # one query at a time per client: reports are fast
        self._live = live
        self._live_cache: tuple[float, dict[str, Any]] = (0.0, {})

    def catalog(self) -> dict[str, Any]:
        with self._lock:
            operators = [r[0] for r in self._client.query(
                "SELECT DISTINCT operator_id FROM {db:Identifier}.registry_licences "
                "UNION DISTINCT SELECT DISTINCT operator_id FROM {db:Identifier}.source_seq ORDER BY 1",
                parameters={"db": self._db}, settings=READ_ONLY).result_rows]
            games = [r[0] for r in self._client.query(
                "SELECT DISTINCT game_type FROM {db:Identifier}.ggr_hourly WHERE game_type != '' ORDER BY 1",
                parameters={"db": self._db}, settings=READ_ONLY).result_rows]
        return {
            "groups": GROUPS,
            "reports": [_describe(r) for r in REPORTS],
            "choices": {"operator": operators, "licence_kind": [str(k) for k in LicenceKind],
                        "game_type": games, "granularity": list(GRANULARITIES)},
        }

    def report(self, report: Report, query: dict[str, str]) -> dict[str, Any]:
        params = parse(query)
        with self._lock:
            return run_report(self._client, self._db, report, params).as_json()

    def export(self, report: Report, query: dict[str, str], fmt: str) -> bytes:
        params = parse(query)
        with self._lock:
            return export_report(self._client, self._db, report, params, fmt)

    def live(self) -> dict[str, Any]:
        if self._live is None:
            return {"available": False, "why": "this dashboard runs outside the pipeline's worker"}
        at, cached = self._live_cache
        if time.monotonic() - at > LIVE_CACHE_S:
            cached = {"available": True, **self._live()}
            self._live_cache = (time.monotonic(), cached)
        return cached


def _describe(r: Report) -> dict[str, Any]:
    return {"name": r.name, "group": r.group, "title": r.title, "description": r.description,
            "columns": [{"name": c.name, "label": c.label, "kind": c.kind} for c in r.columns],
            "chart": None if r.chart is None else {"type": r.chart.type, "x": r.chart.x,
                                                    "y": list(r.chart.y), "series": r.chart.series,
                                                    "only": r.chart.only},
            "filters": list(r.filters), "time_series": r.time_series,
            "exports": list(EXPORT_FORMATS)}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "dsom-dashboard"

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        path = url.path.rstrip("/") or "/"
        app = self.server.app
        try:
            if path == "/":
                self._redirect("/operational")
            elif path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, "image/x-icon", b"")
            elif path.removeprefix("/") in GROUPS:
                self._file(STATIC / "index.html")
            elif path.startswith("/static/"):
                self._file(STATIC / path.removeprefix("/static/"))
            elif path == "/api/catalog":
                self._json(app.catalog())
            elif path == "/contract/asyncapi.json":  # the operator contract (pipeline/contract)
                self._json(published_contract())
            elif path == "/api/live":
                self._json(app.live())
            elif path.startswith("/api/report/"):
                name, _, fmt = path.removeprefix("/api/report/").partition(".")
                report = BY_NAME.get(name)
                if report is None:
                    self._error(HTTPStatus.NOT_FOUND, f"no report named {name!r}; see /api/catalog")
                elif not fmt:
                    self._json(app.report(report, query))
                elif fmt in EXPORT_FORMATS:
                    data = app.export(report, query, fmt)
                    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
                    self._send(HTTPStatus.OK, EXPORT_FORMATS[fmt][1], data,
                               {"Content-Disposition": f'attachment; filename="{name}-{stamp}.{fmt}"'})
                else:
                    self._error(HTTPStatus.NOT_FOUND, f"export formats are {', '.join(EXPORT_FORMATS)}")
            else:
                self._error(HTTPStatus.NOT_FOUND, f"nothing at {path}")
        except ParamError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except BrokenPipeError:
            pass
        except Exception as exc:  # the page shows it; the log keeps the traceback
            log.exception("dashboard request %s failed", self.path)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}"[:500])

    def do_POST(self) -> None:  # noqa: N802
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "the dashboard is read-only")

    do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("dashboard: " + format, *args)

    def _redirect(self, to: str) -> None:
        self._send(HTTPStatus.FOUND, "text/plain", b"", {"Location": to})

    def _file(self, path: Path) -> None:
        path = path.resolve()
        if not path.is_relative_to(STATIC) or not path.is_file():
            self._error(HTTPStatus.NOT_FOUND, "no such file")
            return
        ctype = STATIC_TYPES.get(path.suffix, "application/octet-stream")
        self._send(HTTPStatus.OK, ctype, path.read_bytes(), {"Cache-Control": "no-cache"})

    def _json(self, body: Any) -> None:
        self._send(HTTPStatus.OK, "application/json", orjson.dumps(body), {"Cache-Control": "no-store"})

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._send(status, "application/json", orjson.dumps({"error": message}))

    def _send(self, status: HTTPStatus, ctype: str, body: bytes,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: Dashboard) -> None:
        self.app = app
        super().__init__(address, _Handler)


class DashboardServer:
    """Serves a :class:`Dashboard` over HTTP in a background thread until ``stop``."""

    def __init__(self, app: Dashboard, host: str = "127.0.0.1", port: int = 8050) -> None:
        self._server = _Server((host, port), app)
        self._thread = threading.Thread(target=self._server.serve_forever, name="dashboard", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> DashboardServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

