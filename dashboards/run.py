"""Run a report on a ClickHouse client: rows for the web page, or CSV and Parquet made by ClickHouse."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dashboards.params import ReportParams
from dashboards.reports import Report

# Analysts read: the queries run read-only, so no report (nor a crafted parameter) can write.
READ_ONLY = {"readonly": 2}  # 2: read-only, but per-query settings such as join_use_nulls still apply
EXPORT_FORMATS = {"csv": ("CSVWithNames", "text/csv; charset=utf-8"),
                  "parquet": ("Parquet", "application/vnd.apache.parquet")}


@dataclass(frozen=True)
class ReportResult:
    report: Report
    params: ReportParams
    rows: list[dict[str, Any]]
    elapsed_s: float

    def as_json(self) -> dict[str, Any]:
        return {"report": self.report.name, "elapsed_ms": round(self.elapsed_s * 1000, 1),
                "params": self.params.model_dump(),
                "rows": [{k: jsonable(v) for k, v in row.items()} for row in self.rows]}


def run_report(client: Any, database: str, report: Report, params: ReportParams) -> ReportResult:
    started = time.perf_counter()
    result = client.query(report.sql, parameters=params.bind(database), settings=READ_ONLY)
    names = result.column_names
    # The catalog documents each report's columns: keep it honest (an empty result has no names).
    if result.result_rows and tuple(names) != report.column_names:
        raise RuntimeError(f"report {report.name} returned columns {names}, documented {report.column_names}")
    rows = [dict(zip(names, row, strict=True)) for row in result.result_rows]
    return ReportResult(report, params, rows, time.perf_counter() - started)


def export_report(client: Any, database: str, report: Report, params: ReportParams, fmt: str) -> bytes:
    """The report's rows in ``fmt`` (csv or parquet), written by ClickHouse itself."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    data = client.raw_query(report.sql, parameters=params.bind(database), settings=READ_ONLY,
                            fmt=EXPORT_FORMATS[fmt][0])
    return bytes(data)


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        # chdb hands DateTime64(6, 'UTC') back naive (see the design notes): it is UTC.
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, bytes):
        return value.hex()
    return value
