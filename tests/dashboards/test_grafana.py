"""The Grafana dashboards: generated from the catalog; every panel's SQL runs on chdb as Grafana sends it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from prometheus_client.metrics import MetricWrapperBase

from dashboards import grafana_gen
from dashboards.grafana_gen import GrafanaSqlError, dashboard_set, dashboards, grafana_sql, main, render
from dashboards.reports import GRANULARITIES, GROUPS, REPORTS
from pipeline import metrics
from pipeline.core.model import Reason
from pipeline.registry import Licence, Operator, Registry
from registry.core.snapshot import records_of
from sinks.clickhouse.registry_tables import insert_registry_records
from sinks.clickhouse.rollups import rebuild_all
from sinks.clickhouse.tables import create_tables

DB = "dsom"
# The last 7 days (rejections expire after 2 years: a fixed past week would soon be empty).
FROM_S = (int(time.time()) // 86_400 - 7) * 86_400
TO_S = FROM_S + 7 * 86_400
T0_US = (FROM_S + 3600) * 1_000_000  # the seeded events' first occurrence


def _panels() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The English set's panels (the Ukrainian set's queries are the same: test_both_languages_...)."""
    return [(f"{name}:{p['id']}", model, p) for name, model in dashboard_set("en").items()
            if name != "operations.json" for p in model["panels"]]


CH_PANELS = _panels()


# -- what Grafana does before the plugin sees the SQL, and what the plugin does with its macros --

def _variables(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in model["templating"]["list"]}


def expand(sql: str, model: dict[str, Any], values: dict[str, str]) -> str:
    """``sql`` as the plugin runs it: variables formatted as Grafana does, then the plugin's macros."""
    variables = _variables(model)

    def variable(match: re.Match[str]) -> str:
        name, fmt = match.group(1), match.group(2)
        var = variables[name]
        value = values.get(name, var["current"]["value"])
        if value == "$__all":
            return str(var["allValue"])  # Grafana inserts a custom all value unformatted
        if fmt == "raw":
            return value
        assert fmt == "sqlstring", fmt
        return "'" + value.replace("'", "''") + "'"

    sql = re.sub(r"\$\{(\w+):(\w+)\}", variable, sql)
    sql = sql.replace("$__fromTime", f"toDateTime({FROM_S})").replace("$__toTime", f"toDateTime({TO_S})")
    assert "$" not in sql, sql
    return sql


ALL: dict[str, str] = {}
CHOSEN = {"operator": "op-a", "licence_kind": "ONLINE_CASINO", "game_type": "slots",
          "granularity": "kyiv_month", "silent_after_s": "60"}


# -- chdb with the sink's tables and a few rows (one chdb folder per process: opened once here) --

@pytest.fixture(scope="module")
def ch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder: Path = tmp_path_factory.mktemp("grafana") / "ch"
    client = clickhouse_connect.get_client(dsn="chdb://" + str(folder))
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
        create_tables(client, DB)
        _seed(client)
        rebuild_all(client, DB)  # the rows went in directly, not through the sink's roll-up
        yield client
    finally:
        client.close()


def _seed(client: Any) -> None:
    t = f"fromUnixTimestamp64Micro(toInt64({T0_US} + number * 600000000), 'UTC')"
    client.command(f"""
        INSERT INTO {DB}.events (receipt_id, operator_id, source_id, seq, kind, licence_id, licence_kind,
                                 channel, equipment_id, game_type, player_ref, amount, currency,
                                 occurred_at, received_at, chain_index)
        SELECT concat('r', toString(number)), if(number % 2 = 0, 'op-a', 'op-b'), 's1', number + 1,
               ['BET', 'BET', 'WIN', 'REFUND'][number % 4 + 1], 'LIC-1', 'ONLINE_CASINO', 'ESTABLISHMENT',
               concat('m-', toString(number % 3)), 'slots', concat('p', toString(number % 5)),
               1000 * (number + 1), 'UAH', {t}, {t} + INTERVAL 2 SECOND, number
        FROM numbers(24)""")
    insert_registry_records(client, DB, records_of(Registry(operators=(
        Operator(operator_id="op-a", name="A", licences=(Licence(licence_id="LIC-1", kind="ONLINE_CASINO"),)),
        Operator(operator_id="op-c", name="C", licences=(Licence(licence_id="LIC-3", kind="SLOT_HALL"),))))))
    client.command(f"""
        INSERT INTO {DB}.rejections (operator_id, source_id, seq, reason, processed_at)
        SELECT 'op-a', 's1', 40, 'unknown_licence', fromUnixTimestamp64Micro(toInt64({T0_US}), 'UTC')""")
    tax = (f"INSERT INTO {DB}.tax_events (record_type, row_key, operator_id, licence_kind, occurred_at, "
           "amount, pit_due, pit_withheld, discrepancy, period, revision, ggr, ggr_tax_due) SELECT ")
    at = f"fromUnixTimestamp64Micro(toInt64({T0_US}), 'UTC')"
    client.command(tax + f"'payout', 'r2', 'op-a', 'ONLINE_CASINO', {at}, 3000, 540, 500, 1, '', 0, 0, 0")
    client.command(tax + f"'statement', '2023-11|1', 'op-a', '', {at}, 0, 0, 0, 0, '2023-11', 1, 1500, 150")


# -- the files --

def test_committed_files_are_generated() -> None:
    for name, model in dashboards().items():
        path = grafana_gen.OUT_DIR / name
        assert path.is_file(), f"{path} missing: run python -m dashboards.grafana_gen"
        assert path.read_text(encoding="utf-8") == render(model), f"{path} is stale: regenerate it"
    assert main(["--check"]) == 0


def test_check_lists_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "financial.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "operations.json").unlink()
    capsys.readouterr()
    assert main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "financial.json" in err and "operations.json" in err and "regulatory.json" not in err


def test_render_is_stable() -> None:
    text = render(dashboards()["analytical.json"])
    assert text.endswith("}\n") and text == render(dashboards()["analytical.json"])
    assert '\n  "annotations"' in text  # indent 2, keys sorted


def test_every_report_is_in_its_groups_dashboard() -> None:
    names = {f"{g}.json" for g in GROUPS} | {"operations.json"}
    assert set(dashboards()) == names | {f"en/{n}" for n in names}
    models = dashboard_set("en")
    for report in REPORTS:
        panels = models[f"{report.group}.json"]["panels"]
        tables = [p for p in panels if p["type"] == "table" and p["title"] == report.title]
        charts = [p for p in panels if p["type"] != "table" and p["title"].startswith(report.title + ":")]
        assert len(tables) == 1, report.name
        assert tables[0]["targets"][0]["rawSql"] == grafana_gen.table_sql(report)
        if report.chart is None:
            assert charts == []
        else:
            want = "timeseries" if report.chart.type == "line" else "barchart"
            assert [p["type"] for p in charts] == [want]
    for model in models.values():
        ids = [p["id"] for p in model["panels"]]
        assert ids == list(range(1, len(ids) + 1))


def test_variables() -> None:
    models = dashboard_set("en")
    for name, model in models.items():
        variables = _variables(model)
        used = {m for p in model["panels"] for t in p["targets"]
                for m in re.findall(r"\$\{(\w+)", t.get("rawSql", t.get("expr", "")))}
        used |= {m for v in variables.values() for m in re.findall(r"\$\{(\w+)", str(v.get("query", "")))}
        assert used <= set(variables), (name, used - set(variables))
        for panel in model["panels"]:
            assert panel["datasource"]["uid"] in {"${ch_datasource}", "${prom_datasource}"}
    ops = _variables(models["operational.json"])
    assert ops["ch_datasource"]["query"] == "grafana-clickhouse-datasource"
    assert ops["database"]["type"] == "textbox" and ops["database"]["query"] == "dsom"
    assert ops["operator"]["includeAll"] and ops["operator"]["allValue"] == "''"
    assert ops["licence_kind"]["query"].split(",")[:2] == [  # Grafana's "label : value" pairs
        "casino (establishment) : CASINO_ESTABLISHMENT", "online casino : ONLINE_CASINO"]
    assert [o["value"] for o in ops["licence_kind"]["options"][1:]] == [
        "CASINO_ESTABLISHMENT", "ONLINE_CASINO", "BOOKMAKING", "SLOT_HALL", "ONLINE_POKER"]
    assert ops["licence_kind"]["allValue"] == "''"
    assert [o["value"] for o in ops["granularity"]["options"]] == list(GRANULARITIES)
    assert [q.split(" : ")[1] for q in ops["granularity"]["query"].split(",")] == list(GRANULARITIES)
    reg = _variables(models["regulatory.json"])
    assert reg["silent_after_s"]["type"] == "textbox" and reg["silent_after_s"]["query"] == "900"
    assert _variables(models["analytical.json"])["game_type"]["type"] == "textbox"
    assert _variables(models["operations.json"])["prom_datasource"]["query"] == "prometheus"


TEXT_KEYS = {"title", "description", "label", "legendFormat", "text"}


def _texts(model: Any, path: str = "") -> dict[str, str]:
    """Every text a person reads in a dashboard (titles, descriptions, labels, legends), by its place."""
    out: dict[str, str] = {}
    if isinstance(model, dict):
        for k, v in model.items():
            if k in TEXT_KEYS and isinstance(v, str):
                out[f"{path}/{k}"] = v
            elif k == "properties":
                out |= {f"{path}/{p['id']}{i}": p["value"] for i, p in enumerate(v)
                        if p["id"] == "displayName"}
            else:
                out |= _texts(v, f"{path}/{k}")
    elif isinstance(model, list):
        for i, v in enumerate(model):
            out |= _texts(v, f"{path}/{i}")
    return out


def _without_texts(model: Any) -> Any:
    if isinstance(model, dict) and model.get("id") == "displayName":
        return {"id": "displayName"}
    if isinstance(model, dict):
        return {k: _without_texts(v) for k, v in model.items()
                if k not in TEXT_KEYS | {"query", "uid", "current"} or not isinstance(v, str | dict)}
    if isinstance(model, list):
        return [_without_texts(v) for v in model]
    return model


def test_a_label_grafana_cannot_write_in_a_custom_query_is_refused() -> None:
    with pytest.raises(ValueError, match="custom query"):
        grafana_gen._custom("granularity", "x", ["hour"], "hour", False, {"hour": "hours, rounded"})


def test_both_languages_are_the_same_dashboards_in_other_words() -> None:
    """Issue 19: a Ukrainian set (the default) and an English one, with the same queries and layout,
    every text a person reads in the set's language, Kyiv time, weeks from Monday."""
    uk, en = dashboard_set("uk"), dashboard_set("en")
    assert set(uk) == set(en)
    for name in uk:
        assert _without_texts(uk[name]) == _without_texts(en[name]), name
        assert en[name]["uid"] == uk[name]["uid"] + "-en"
        for model in (uk[name], en[name]):
            assert model["timezone"] == "Europe/Kiev" and model["weekStart"] == "monday"
        uk_texts, en_texts = _texts(uk[name]), _texts(en[name])
        assert set(uk_texts) == set(en_texts)
        same = {k: v for k, v in uk_texts.items() if v == en_texts[k] and re.search(r"[a-z]{4}", v)
                and v != "dsom" and not v.startswith(("{{", "ClickHouse", "Prometheus", "All"))}
        assert not same, f"{name}: left in English: {same}"
    panels = {p["title"] for p in uk["financial.json"]["panels"]}
    assert any("грн" in t for t in panels), panels
    assert uk["operational.json"]["title"] == "dsom: звіти — Операційні"


# -- grafana_sql --

def test_grafana_sql_replaces_every_parameter() -> None:
    for report in REPORTS:
        out = grafana_sql(report.sql)
        assert not re.search(r"(?<!\$)\{\w+:\w+\}", out), report.name
        assert "{db:Identifier}" not in out and "$__fromTime" in out


def test_grafana_sql_refuses_leftover_parameters() -> None:
    with pytest.raises(GrafanaSqlError, match="limit_rows"):
        grafana_sql("SELECT 1 FROM {db:Identifier}.t LIMIT {limit_rows:UInt32}")
    with pytest.raises(GrafanaSqlError):
        grafana_sql("SELECT * FROM {db: Identifier}.t")
    with pytest.raises(GrafanaSqlError):
        grafana_sql("SELECT {operator:Array(String)}")
    assert grafana_sql("SELECT '${x:raw}', {operator:String}") == "SELECT '${x:raw}', ${operator:sqlstring}"


def test_time_parameters_are_utc_microseconds(ch: Any) -> None:
    sql = grafana_sql("SELECT {since_us:Int64}, {until_us:Int64}")
    since = expand(sql, dashboards()["financial.json"], ALL)
    assert ch.query(since).result_rows == [(FROM_S * 1_000_000, TO_S * 1_000_000)]
    # Some 4.0.x plugin releases expanded $__fromTime to a DateTime64(3): the same µs come out.
    ms = grafana_sql("SELECT {since_us:Int64}").replace("$__fromTime", f"toDateTime64({FROM_S}123 / 1000, 3)")
    assert ch.query(ms).result_rows == [(FROM_S * 1_000_000,)]


# -- every panel on chdb --

@pytest.mark.parametrize("values", [ALL, CHOSEN], ids=["all", "chosen"])
@pytest.mark.parametrize(("key", "model", "panel"), CH_PANELS, ids=[k for k, _, _ in CH_PANELS])
def test_panel_sql_runs(ch: Any, key: str, model: dict[str, Any], panel: dict[str, Any],
                        values: dict[str, str]) -> None:
    sql = expand(panel["targets"][0]["rawSql"], model, values)
    # readonly=1: the plugin's advice for its user; SETTINGS to a setting's current value still pass.
    result = ch.query(sql, settings={"readonly": 1})
    report = next(r for r in REPORTS if panel["title"] == r.title or panel["title"].startswith(r.title + ":"))
    if panel["type"] == "table":
        assert tuple(result.column_names) == report.column_names
    else:
        assert report.chart is not None
        keys = ["time" if report.chart.type == "line" else report.chart.x]
        keys += [report.chart.series] if report.chart.series else []
        assert list(result.column_names) == [*keys, *report.chart.y]


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_time_series_panels_run_at_every_granularity(ch: Any, granularity: str) -> None:
    for _, model, panel in CH_PANELS:
        sql = panel["targets"][0]["rawSql"]
        if "${granularity" in sql:
            ch.query(expand(sql, model, {"granularity": granularity}))


def test_panels_show_the_data(ch: Any) -> None:
    """Seeded data comes through: a line per operator, money in UAH, µs times as times."""
    models = dashboard_set("en")
    analytical = models["analytical.json"]
    market = next(p for p in analytical["panels"] if p["type"] == "timeseries")
    rows = ch.query(expand(market["targets"][0]["rawSql"], analytical, {"granularity": "day"})).result_rows
    assert {r[1] for r in rows} == {"op-a", "op-b"}
    assert rows == sorted(rows, key=lambda r: (r[0], r[1]))
    stakes_kop = int(ch.command(f"SELECT sum(amount) FROM {DB}.events WHERE kind = 'BET'"))
    assert sum(r[2] for r in rows) == pytest.approx(stakes_kop / 100)

    financial = models["financial.json"]
    ggr_table = next(p for p in financial["panels"] if p["type"] == "table" and p["title"].startswith("GGR"))
    result = ch.query(expand(ggr_table["targets"][0]["rawSql"], financial, {"granularity": "day"}))
    first = dict(zip(result.column_names, result.result_rows[0], strict=True))
    assert isinstance(first["period_start_us"], datetime)  # a DateTime64, not a µs integer
    assert isinstance(first["stakes"], float)

    operational = models["operational.json"]
    quality = next(p for p in operational["panels"]
                   if p["type"] == "barchart" and p["title"].startswith("Data quality"))
    assert quality["transformations"][0]["id"] == "groupingToMatrix"
    rows = ch.query(expand(quality["targets"][0]["rawSql"], operational, ALL)).result_rows
    assert ("unknown_licence", "op-a", 1) in rows


# -- the operations dashboard --

def _exposed_names() -> set[str]:
    names: set[str] = set()
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            for desc in obj.describe():
                suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
                names |= {desc.name + s for s in suffixes.get(desc.type, ("",))}
    return names


def test_operations_dashboard_uses_only_real_metrics() -> None:
    model = dashboards()["operations.json"]
    exprs = [t["expr"] for p in model["panels"] for t in p["targets"]]
    exprs += [str(v.get("definition", "")) for v in model["templating"]["list"]]
    used = {m for e in exprs for m in re.findall(r"\bdsom_\w+", e)}
    exposed = _exposed_names()
    assert used and used <= exposed, used - exposed
    for wanted in ("dsom_events_in_total", "dsom_events_accepted_total", "dsom_events_rejected_total",
                   "dsom_events_duplicate_total", "dsom_agent_transaction_seconds_bucket",
                   "dsom_sink_rows_total", "dsom_sink_insert_seconds_bucket", "dsom_sink_errors_total",
                   "dsom_payouts_taxed_total", "dsom_tax_discrepancies_total",
                   "dsom_ggr_statements_issued_total", "dsom_clickhouse_rows"):
        assert wanted in used, wanted
    for panel in model["panels"]:
        assert panel["datasource"]["type"] == "prometheus"


def test_rejections_are_named_by_their_reasons_words_in_each_language() -> None:
    """The "Rejected by reason" legend: each reason code's few words, the code kept in brackets."""
    for locale, unknown_licence in (("uk", "ліцензію не зареєстровано"), ("en", "licence not registered")):
        model = dashboard_set(locale)["operations.json"]
        (panel,) = [p for p in model["panels"] if p["targets"][0]["legendFormat"] == "{{reason}}"]
        overrides = panel["fieldConfig"]["overrides"]
        names = {o["matcher"]["options"]: o["properties"][0]["value"] for o in overrides}
        assert set(names) == {str(r) for r in Reason}
        assert names["unknown_licence"] == f"{unknown_licence} (unknown_licence)"
        assert all(name.endswith(f" ({code})") and len(name) < 60 for code, name in names.items())
