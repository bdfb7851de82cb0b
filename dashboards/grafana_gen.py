"""Grafana dashboards generated from the report catalog and the Prometheus metrics, so they never drift.

One dashboard per report group (``grafana-clickhouse-datasource``: a table panel per report, plus a
time series or bar chart panel where the report has a chart) and one operations dashboard over the
pipeline's Prometheus metrics. ``python -m dashboards.grafana_gen`` writes them to
``dashboards/grafana/``; ``--check`` fails when the committed files differ from what it would write.

Two sets from the one generator (issue 19): Ukrainian in ``dashboards/grafana/`` (uids ``dsom-<name>``)
and English in ``dashboards/grafana/en/`` (uids ``dsom-<name>-en``). Titles, descriptions, column
names, variable labels and legends come from the web app's catalogs (``web/locale``, ``make i18n``);
both sets show Kyiv time and start the week on Monday.

A panel runs the report's own SQL: :func:`grafana_sql` swaps the ClickHouse query parameters for
Grafana macros and dashboard variables, and chart panels wrap it in an outer SELECT that picks and
converts the plotted columns (µs times to DateTime64, kopecks to UAH).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.binding import format_str
from prometheus_client.metrics import MetricWrapperBase

from dashboards.reports import GRANULARITIES, GROUPS, REPORTS, Chart, Column, Report
from pipeline import metrics
from pipeline.core.model import EventKind, LicenceKind, Reason
from web import i18n, labels
from web.i18n import gettext as _

OUT_DIR = Path(__file__).resolve().parent / "grafana"
CH_TYPE = "grafana-clickhouse-datasource"
PROM_TYPE = "prometheus"
CH_DS = {"type": CH_TYPE, "uid": "${ch_datasource}"}
PROM_DS = {"type": PROM_TYPE, "uid": "${prom_datasource}"}
SCHEMA_VERSION = 39
# Each language's set: the folder under OUT_DIR and the uid suffix (Ukrainian is the default set).
SETS = {"uk": ("", ""), "en": ("en/", "-en")}
# Grafana's time zone for every dashboard: Kyiv's (the tz database's older name, which every Grafana
# release knows; it is a link to Europe/Kyiv).
TIMEZONE = "Europe/Kiev"
# The plugin's (sqlutil's) query formats: long results are turned wide for time series.
FORMAT_TIME_SERIES, FORMAT_TABLE = 0, 1

# ClickHouse query parameters of the catalog -> Grafana. Times: the plugin's $__fromTime/$__toTime
# are DateTime (toDateTime(<unix s>), DateTime64(3) in some 4.0.x releases): toUnixTimestamp takes
# both. Strings use Grafana's sqlstring format ('value', ' doubled); an All option's custom value
# is inserted as is, so the All value is the SQL literal '' (the reports' "all").
PARAMS = {
    "{db:Identifier}": "`${database:raw}`",
    "{since_us:Int64}": "(toInt64(toUnixTimestamp($__fromTime)) * 1000000)",
    "{until_us:Int64}": "(toInt64(toUnixTimestamp($__toTime)) * 1000000)",
    "{now_us:Int64}": "(toInt64(toUnixTimestamp(now())) * 1000000)",
    "{operator:String}": "${operator:sqlstring}",
    "{licence_kind:String}": "${licence_kind:sqlstring}",
    "{game_type:String}": "${game_type:sqlstring}",
    "{granularity:String}": "${granularity:sqlstring}",
    # A textbox: parsed by ClickHouse (a non-number fails the query) rather than pasted raw.
    "{silent_after_s:Int64}": "toInt64(${silent_after_s:sqlstring})",
}
# A ClickHouse query parameter {name:Type}; Grafana's ${name:format} is not one.
_PARAM = re.compile(r"(?<!\$)\{\s*[A-Za-z_]\w*\s*:\s*[A-Za-z][^{}]*\}")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}")
_SETTINGS = re.compile(r"\n\s*(SETTINGS\s[^\n]*)\s*$")
ALL_VALUE = "''"

# How a bar chart folds the rows that share a bar: additive kinds add up, others average, unless
# the report's rows repeat one value per bar (the per-operator attempts repeat on each licence).
_ADDITIVE = ("count", "money")
_BAR_AGG = {"licence_compliance": "max"}


class GrafanaSqlError(ValueError):
    """A report's SQL has a query parameter with no Grafana equivalent."""


def grafana_sql(sql: str) -> str:
    """``sql`` with its ClickHouse query parameters replaced by Grafana macros and variables."""
    unknown = sorted({m.group(0) for m in _PARAM.finditer(sql)} - PARAMS.keys())
    if unknown:
        raise GrafanaSqlError(f"no Grafana equivalent for query parameter(s) {', '.join(unknown)}")
    for param, replacement in PARAMS.items():
        sql = sql.replace(param, replacement)
    left = _PARAM.findall(sql)
    if left:  # e.g. spacing the plain replace missed ({db: Identifier})
        raise GrafanaSqlError(f"query parameter(s) left unreplaced: {', '.join(left)}")
    return sql


def _split_settings(sql: str) -> tuple[str, str]:
    """The query without its trailing SETTINGS clause, and the clause ('' if none)."""
    match = _SETTINGS.search(sql)
    if not match:
        return sql.strip(), ""
    return sql[:match.start()].strip(), match.group(1).strip()


def _column_expr(col: Column) -> str:
    """How a panel shows a column: µs times as DateTime64, kopecks as UAH, anything else as is."""
    if col.kind == "time" and col.name.endswith("_us"):
        return f"fromUnixTimestamp64Micro({col.name}, 'UTC') AS {col.name}"
    if col.kind == "money":
        return f"{col.name} / 100 AS {col.name}"
    return col.name


def _wrap(sql: str, select: str, tail: str = "") -> str:
    """``SELECT <select> FROM (<sql>) <tail>``, with the inner query's SETTINGS moved to the outside."""
    inner, settings = _split_settings(grafana_sql(sql))
    body = "\n".join("    " + line for line in inner.splitlines())
    out = f"SELECT {select}\nFROM (\n{body}\n)"
    if tail:
        out += f"\n{tail}"
    return out + (f"\n{settings}" if settings else "")


def table_sql(report: Report) -> str:
    """The table panel's query: the report's rows, money in UAH and µs times as times."""
    if not any(_column_expr(c) != c.name for c in report.columns):
        return grafana_sql(report.sql).strip()
    # A plain projection keeps the inner query's ORDER BY.
    return _wrap(report.sql, ", ".join(_column_expr(c) for c in report.columns))


def chart_sql(report: Report) -> str:
    """The chart panel's query: x (as ``time`` for a line chart), the series column, the y columns."""
    chart = _chart(report)
    cols = {c.name: c for c in report.columns}
    # Rows the chart leaves out (Chart.only, which the web dashboard applies too).
    where = f"WHERE {chart.only[0]} = {format_str(chart.only[1])}\n" if chart.only else ""
    keys = [chart.x] + ([chart.series] if chart.series else [])
    if chart.type == "line":
        x = cols[chart.x]
        if not (x.kind == "time" and x.name.endswith("_us")):
            raise ValueError(f"report {report.name}: a line chart needs a µs time on x, not {x.name}")
        select = [f"fromUnixTimestamp64Micro({x.name}, 'UTC') AS time"] + keys[1:]
        select += [_column_expr(cols[y]) for y in chart.y]
        # The plugin turns long rows (time, series, values) into one line per series.
        return _wrap(report.sql, ", ".join(select), f"{where}ORDER BY {', '.join(['time', *keys[1:]])}")
    aggs = []
    for y in chart.y:
        agg = _BAR_AGG.get(report.name, "sum" if cols[y].kind in _ADDITIVE else "avg")
        scale = " / 100" if cols[y].kind == "money" else ""
        aggs.append(f"{agg}({y}){scale} AS {y}")
    group = ", ".join(keys)
    return _wrap(report.sql, ", ".join([*keys, *aggs]), f"{where}GROUP BY {group}\nORDER BY {group}")


def _chart(report: Report) -> Chart:
    if report.chart is None:
        raise ValueError(f"report {report.name} has no chart")
    if report.chart.series and len(report.chart.y) != 1:
        raise ValueError(f"report {report.name}: a chart split by series plots one column")
    return report.chart


# -- panels --

_UNITS: dict[str, dict[str, Any]] = {
    "money": {"unit": "none", "decimals": 2}, "percent": {"unit": "percent"}, "duration_us": {"unit": "µs"},
    "count": {"unit": "locale"}, "ratio": {"unit": "none"},
}


def _unit(col: Column) -> dict[str, Any]:
    return _UNITS.get(col.kind, {})


def _overrides(cols: Sequence[Column], display: dict[str, str] | None = None) -> list[dict[str, Any]]:
    out = []
    for col in cols:
        props = [{"id": "displayName", "value": (display or {}).get(col.name, _(col.label))}]
        props += [{"id": k, "value": v} for k, v in sorted(_unit(col).items())]
        out.append({"matcher": {"id": "byName", "options": col.name}, "properties": props})
    return out


def _ch_target(sql: str, fmt: int) -> dict[str, Any]:
    return {"datasource": CH_DS, "editorType": "sql", "format": fmt, "rawSql": sql, "refId": "A",
            "queryType": "timeSeries" if fmt == FORMAT_TIME_SERIES else "table"}


def table_panel(report: Report) -> dict[str, Any]:
    return {
        "type": "table", "title": _(report.title), "description": _(report.description),
        "datasource": CH_DS, "targets": [_ch_target(table_sql(report), FORMAT_TABLE)],
        "fieldConfig": {"defaults": {}, "overrides": _overrides(report.columns)},
        "options": {"showHeader": True, "cellHeight": "sm"},
    }


def chart_panel(report: Report) -> dict[str, Any]:
    chart = _chart(report)
    cols = {c.name: c for c in report.columns}
    ys = [cols[y] for y in chart.y]
    title = f"{_(report.title)}: {', '.join(_(c.label) for c in ys)}"
    panel: dict[str, Any] = {"title": title, "description": _(report.description), "datasource": CH_DS}
    if chart.type == "line":
        # One line per series value: name it by the series label Grafana puts on the wide frame.
        names = ({y.name: f"{_(y.label)} ${{__field.labels.{chart.series}}}" for y in ys}
                 if chart.series else {})
        panel.update(type="timeseries", targets=[_ch_target(chart_sql(report), FORMAT_TIME_SERIES)],
                     fieldConfig={"defaults": {"custom": {"drawStyle": "line", "showPoints": "auto"}},
                                  "overrides": _overrides(ys, names)},
                     options={"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                              "tooltip": {"mode": "multi", "sort": "desc"}})
        return panel
    options: dict[str, Any] = {"orientation": "auto", "showValue": "never", "stacking": "none",
                               "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                               "tooltip": {"mode": "multi", "sort": "none"}, "xTickLabelRotation": -45}
    transformations: list[dict[str, Any]] = []
    if chart.series:
        # Long rows (x, series, y) to one column per series value, bars grouped by x.
        transformations.append({"id": "groupingToMatrix", "options": {
            "columnField": chart.series, "rowField": chart.x, "valueField": chart.y[0]}})
        overrides: list[dict[str, Any]] = []
    else:
        options["xField"] = chart.x
        overrides = _overrides([cols[chart.x], *ys])
    panel.update(type="barchart", targets=[_ch_target(chart_sql(report), FORMAT_TABLE)],
                 fieldConfig={"defaults": _unit(ys[0]), "overrides": overrides}, options=options,
                 transformations=transformations)
    return panel


# -- dashboards --

def _textbox(name: str, label: str, default: str, description: str) -> dict[str, Any]:
    return {"type": "textbox", "name": name, "label": label, "description": description, "query": default,
            "current": {"text": default, "value": default}, "options": [{"selected": True, "text": default,
                                                                       "value": default}], "hide": 0}


def _custom(name: str, label: str, values: Sequence[str], default: str, include_all: bool,
            texts: dict[str, str]) -> dict[str, Any]:
    """A fixed list: each value shown by its label (``texts``), sent as its stable machine value.

    Grafana's custom query writes such a pair ``label : value``.
    """
    shown = {v: labels.label(texts, v) for v in values}
    bad = [t for t in shown.values() if "," in t or " : " in t]
    if bad:  # Grafana splits the query on commas, and each pair on " : "
        raise ValueError(f"variable {name}: labels {bad} cannot be written in a custom query")
    current = ({"text": "All", "value": "$__all"} if include_all
               else {"text": shown[default], "value": default})
    var: dict[str, Any] = {
        "type": "custom", "name": name, "label": label,
        "query": ",".join(f"{shown[v]} : {v}" for v in values),
        "multi": False, "includeAll": include_all, "current": current, "hide": 0,
        "options": ([{"selected": True, "text": "All", "value": "$__all"}] if include_all else [])
        + [{"selected": not include_all and v == default, "text": shown[v], "value": v} for v in values],
    }
    if include_all:
        var["allValue"] = ALL_VALUE
    return var


def _datasource_var(name: str, label: str, plugin: str) -> dict[str, Any]:
    return {"type": "datasource", "name": name, "label": label, "query": plugin, "current": {},
            "hide": 0, "options": [], "refresh": 1, "regex": ""}


def _operator_var() -> dict[str, Any]:
    db = PARAMS["{db:Identifier}"]
    query = (f"SELECT operator_id FROM (SELECT operator_id FROM {db}.registry_history WHERE kind = 'licence' "
             f"UNION ALL SELECT operator_id FROM {db}.source_seq) GROUP BY operator_id ORDER BY operator_id")
    return {"type": "query", "name": "operator", "label": _("Operator"), "datasource": CH_DS,
            "query": query, "definition": query, "refresh": 1, "sort": 1, "multi": False,
            "includeAll": True, "allValue": ALL_VALUE, "current": {"text": "All", "value": "$__all"},
            "options": [], "hide": 0, "regex": ""}


def _ch_variables(used: set[str]) -> list[dict[str, Any]]:
    """The dashboard's variables: datasource and database, then the filters its panels use."""
    out = [_datasource_var("ch_datasource", "ClickHouse", CH_TYPE),
           _textbox("database", _("Database"), "dsom", _("The ClickHouse database the sink writes"))]
    if "operator" in used:
        out.append(_operator_var())
    if "licence_kind" in used:
        out.append(_custom("licence_kind", _("Licence kind"), [str(k) for k in LicenceKind], "", True,
                           labels.LICENCE_KINDS))
    if "game_type" in used:
        out.append(_textbox("game_type", _("Game type"), "", _("A game type (e.g. slots); empty for all")))
    if "granularity" in used:
        out.append(_custom("granularity", _("Time buckets"), GRANULARITIES, "hour", False,
                           labels.REPORT_VALUES["granularity"]))
    if "silent_after_s" in used:
        out.append(_textbox("silent_after_s", _("Silent after (s)"), "900",
                            _("Seconds without events after which a licensed operator counts as silent")))
    return out


def _dashboard(uid: str, title: str, tags: list[str], panels: list[dict[str, Any]],
               variables: list[dict[str, Any]], description: str) -> dict[str, Any]:
    return {
        "uid": uid + SETS[i18n.current_locale()][1], "title": title, "tags": tags, "description": description,
        "editable": True, "schemaVersion": SCHEMA_VERSION, "version": 1, "timezone": TIMEZONE,
        "weekStart": "monday",
        "time": {"from": "now-7d", "to": "now"}, "refresh": "", "graphTooltip": 1,
        "annotations": {"list": []}, "links": [], "panels": panels, "templating": {"list": variables},
    }


def _layout(rows: list[list[dict[str, Any]]], height: int = 10) -> list[dict[str, Any]]:
    """Panels in rows of equal height across the 24-column grid, ids in order."""
    out: list[dict[str, Any]] = []
    for y, row in enumerate(rows):
        widths = [24] if len(row) == 1 else [9, 15] if len(row) == 2 else [24 // len(row)] * len(row)
        x = 0
        for panel, w in zip(row, widths, strict=True):
            grid = {"h": height, "w": w, "x": x, "y": y * height}
            out.append({**panel, "id": len(out) + 1, "gridPos": grid})
            x += w
    return out


def group_dashboard(group: str) -> dict[str, Any]:
    """A report group's dashboard: per report a row with its chart (if any) and its table."""
    reports = [r for r in REPORTS if r.group == group]
    rows = [([chart_panel(r)] if r.chart else []) + [table_panel(r)] for r in reports]
    panels = _layout(rows)
    sql = "\n".join(t["rawSql"] for p in panels for t in p["targets"])
    used = set(_VARIABLE.findall(sql))
    title = _("dsom: %(group)s reports") % {"group": _(GROUPS[group])}
    return _dashboard(f"dsom-{group}", title, ["dsom", group], panels, _ch_variables(used),
                      _("Generated from dashboards/reports.py (%(group)s reports); do not edit: run "
                        "make grafana") % {"group": group})


# -- operations (Prometheus) --

def metric_names(metric: MetricWrapperBase) -> tuple[str, ...]:
    """The series names Prometheus scrapes for ``metric`` (a counter gains _total, a histogram _bucket...)."""
    desc = next(iter(metric.describe()))
    if desc.type == "counter":
        return (desc.name + "_total",)
    if desc.type == "histogram":
        return tuple(desc.name + s for s in ("_bucket", "_sum", "_count"))
    return (desc.name,)


def _rate(metric: MetricWrapperBase, by: str, selector: str = "") -> str:
    return f"sum by ({by}) (rate({metric_names(metric)[0]}{selector}[$__rate_interval]))"


def _quantiles(metric: MetricWrapperBase, by: str) -> list[tuple[str, str]]:
    bucket = metric_names(metric)[0]
    return [(f"histogram_quantile({q}, sum by (le, {by}) (rate({bucket}[$__rate_interval])))",
             _("p%(percentile)s {{%(label)s}}") % {"percentile": round(q * 100), "label": by})
            for q in (0.5, 0.99)]


_OP = '{operator=~"$operator"}'


def _prom_panel(title: str, description: str, exprs: list[tuple[str, str]], unit: str,
                stacked: bool = False, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A time series panel; ``names`` shows a series (a label's machine value) by its words."""
    custom: dict[str, Any] = {"drawStyle": "line", "fillOpacity": 10, "showPoints": "never"}
    if stacked:
        custom["stacking"] = {"group": "A", "mode": "normal"}
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": PROM_DS,
        "targets": [{"datasource": PROM_DS, "expr": expr, "legendFormat": legend, "range": True,
                     "refId": chr(ord("A") + i)} for i, (expr, legend) in enumerate(exprs)],
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": [
            {"matcher": {"id": "byName", "options": value},
             "properties": [{"id": "displayName", "value": text}]}
            for value, text in (names or {}).items()]},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def operations_dashboard() -> dict[str, Any]:
    """The pipeline's own health, from the Prometheus metrics of ``pipeline/metrics.py``."""
    m = metrics
    panels = [
        _prom_panel(_("Ingest rate by operator"), _("Events read from the ingest topics, per second."),
                    [(_rate(m.EVENTS_IN, "operator", _OP), "{{operator}}")], "short", stacked=True),
        _prom_panel(_("Accepted events by kind"), _("Events accepted, per second."),
                    [(_rate(m.ACCEPTED, "kind", _OP), "{{kind}}")], "short", stacked=True,
                    names={str(k): labels.label(labels.EVENT_KINDS, k) for k in EventKind}),
        _prom_panel(_("Rejected by reason"), _("Events or records rejected, per second, by reason code."),
                    [(_rate(m.REJECTED, "reason", _OP), "{{reason}}")], "short", stacked=True,
                    names={str(r): f"{labels.label(labels.REASON_TITLES, r)} ({r})" for r in Reason}),
        _prom_panel(_("Duplicates (retries)"),
                    _("Events already decided, sent again by operators, per second."),
                    [(_rate(m.DUPLICATES, "operator", _OP), "{{operator}}")], "short"),
        _prom_panel(_("Consumer lag"), _("Records each agent's consumer group has not committed yet."),
                    [(f"max by (group) ({metric_names(m.CONSUMER_LAG)[0]})", "{{group}}")], "short"),
        _prom_panel(_("Agent transaction latency"), _("Time to process and commit one agent transaction."),
                    _quantiles(m.TRANSACTION_SECONDS, "agent"), "s"),
        _prom_panel(_("Sink rows per second"), _("Rows inserted into ClickHouse, per table."),
                    [(_rate(m.SINK_ROWS, "table"), "{{table}}")], "short", stacked=True),
        _prom_panel(_("Sink insert latency"), _("ClickHouse insert latency per batch."),
                    _quantiles(m.SINK_INSERT_SECONDS, "table"), "s"),
        _prom_panel(_("Sink errors"), _("Failed ClickHouse inserts (retried), per second."),
                    [(_rate(m.SINK_ERRORS, "table"), "{{table}}")], "short"),
        _prom_panel(_("Payouts taxed"), _("Payouts whose winnings tax was computed, per second."),
                    [(f"sum(rate({metric_names(m.PAYOUTS_TAXED)[0]}[$__rate_interval]))", _("payouts"))],
                    "short"),
        _prom_panel(_("Tax discrepancies"), _("Payouts with withheld tax off the tax due, per second."),
                    [(f"sum(rate({metric_names(m.TAX_DISCREPANCIES)[0]}[$__rate_interval]))",
                      _("discrepancies"))], "short"),
        _prom_panel(_("GGR statements issued"), _("GGR statement revisions issued in each interval."),
                    [(f"sum(increase({metric_names(m.STATEMENTS_ISSUED)[0]}[$__rate_interval]))",
                      _("statements"))], "short"),
        _prom_panel(_("ClickHouse rows"), _("Rows in each ClickHouse table (counted at start, then added)."),
                    [(f"sum by (table) ({metric_names(m.CLICKHOUSE_ROWS)[0]})", "{{table}}")], "short"),
    ]
    layout = _layout([panels[i:i + 3] for i in range(0, len(panels), 3)], height=8)
    variables = [
        _datasource_var("prom_datasource", "Prometheus", PROM_TYPE),
        # Prometheus matches by regex: All is .* (not the '' of the ClickHouse dashboards).
        {"type": "query", "name": "operator", "label": _("Operator"), "datasource": PROM_DS,
         "query": {"query": f"label_values({metric_names(m.EVENTS_IN)[0]}, operator)", "refId": "operator"},
         "definition": f"label_values({metric_names(m.EVENTS_IN)[0]}, operator)", "refresh": 2, "sort": 1,
         "multi": True, "includeAll": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"},
         "options": [], "hide": 0, "regex": ""},
    ]
    return _dashboard("dsom-operations", _("dsom: pipeline operations"), ["dsom", "operations"], layout,
                      variables, _("Generated from pipeline/metrics.py; do not edit: run make grafana"))


def dashboard_set(locale: str) -> dict[str, dict[str, Any]]:
    """Every dashboard in ``locale`` by file name."""
    token = i18n.use(locale)
    try:
        out = {f"{group}.json": group_dashboard(group) for group in GROUPS}
        out["operations.json"] = operations_dashboard()
        return out
    finally:
        i18n.reset(token)


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard of every language by its path under OUT_DIR: Ukrainian first, then ``en/``."""
    return {SETS[locale][0] + name: model for locale in SETS for name, model in dashboard_set(locale).items()}


def render(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.grafana_gen",
                                     description="Write the Grafana dashboards of the report catalog.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from the catalog's")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    rendered = {name: render(model) for name, model in dashboards().items()}
    if args.check:
        stale = [name for name, text in rendered.items()
                 if not (args.out / name).is_file() or (args.out / name).read_text(encoding="utf-8") != text]
        for name in stale:
            print(f"{args.out / name} differs from the catalog: run python -m dashboards.grafana_gen",
                  file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (args.out / name).parent.mkdir(parents=True, exist_ok=True)
        (args.out / name).write_text(text, encoding="utf-8")
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
