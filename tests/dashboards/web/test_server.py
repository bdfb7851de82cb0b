"""The reports in the web application on chdb, without a browser: routes, errors, exports, read-only.

Logged in as an analyst (QES login, tests/web/conftest.py).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from dashboards.reports import REPORTS
from dashboards.web.dashboard import Dashboard
from pipeline.settings import ClickHouseSettings
from sinks.clickhouse.client import connect
from sinks.clickhouse.rollups import rebuild_all
from sinks.clickhouse.tables import create_tables
from tests.web.conftest import login_as, make_world
from web.app import app_from_settings

DB = "server_test"
NOW_US = int(time.time()) * 1_000_000  # "period=all" ends a day after the real now


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder: Path = tmp_path_factory.mktemp("server") / "chdb"
    world = make_world(tmp_path_factory.mktemp("cabinet"))
    client = connect(ClickHouseSettings(dsn=SecretStr(f"chdb://{folder}"), database=DB))
    try:
        create_tables(client, DB)
        rows = [("op-a", "s1", i, "BET" if i % 2 else "WIN", "ONLINE_CASINO", "slots", 1_000 * i)
                for i in range(1, 11)]
        client.insert("events", [list(r) + [NOW_US - 3_600_000_000] * 2 for r in rows], database=DB,
                      column_names=["operator_id", "source_id", "seq", "kind", "licence_kind", "game_type",
                                    "amount", "occurred_at", "received_at"],
                      column_type_names=["LowCardinality(String)", "LowCardinality(String)", "UInt64",
                                         "LowCardinality(String)", "LowCardinality(String)",
                                         "LowCardinality(String)", "Int64", "DateTime64(6, 'UTC')",
                                         "DateTime64(6, 'UTC')"])
        rebuild_all(client, DB)  # the rows went in directly, not through the sink's roll-up
        figures = [("events read", {}, 12_345), ("%(agent)s lag (records)", {"agent": "validator"}, None)]
        app = Dashboard(client, DB, live=lambda: {"figures": figures})
        web = app_from_settings(world.settings, app, world.registry)
        with TestClient(web, base_url="http://127.0.0.1") as c:
            login_as(c, world, "analyst")
            yield c
    finally:
        client.close()


def get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    client, _, path = url.partition(" ")
    res = CLIENT.request(method, path, headers={"x-csrftoken": str(CLIENT.cookies.get("csrftoken"))})
    return res.status_code, {k.title(): v for k, v in res.headers.items()}, res.content


CLIENT: TestClient


@pytest.fixture(autouse=True)
def _client(server: TestClient) -> None:
    global CLIENT
    CLIENT = server


def test_pages_and_static_files(server: TestClient) -> None:
    for group in ("operational", "regulatory", "analytical", "financial"):
        status, headers, body = get(f"_ /{group}")
        assert status == 200 and headers["Content-Type"].startswith("text/html") and b"app.js" in body
    status, headers, _ = get("_ /static/app.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert get("_ /")[0] == 200  # redirected to /operational
    assert get("_ /static/../server.py")[0] == 404  # nothing outside static/
    assert get("_ /static/%2e%2e/server.py")[0] == 404
    assert get("_ /admin")[0] == 404


def test_catalog_lists_every_report_and_the_choices(server: TestClient) -> None:
    status, _, body = get("_ /api/catalog")
    catalog = json.loads(body)
    assert status == 200
    assert [r["name"] for r in catalog["reports"]] == [r.name for r in REPORTS]
    assert catalog["choices"]["operator"] == ["op-a"]
    assert catalog["choices"]["game_type"] == ["slots"]


def test_report_json_csv_and_parquet_agree(server: TestClient) -> None:
    status, _, body = get("_ /api/report/ggr?period=all")
    rows = json.loads(body)["rows"]
    # BETs 1,3,5,7,9 x 1,000 = 25,000 staked; WINs 2,4,6,8,10 x 1,000 = 30,000 paid
    assert status == 200 and [(r["operator_id"], r["stakes"], r["winnings"], r["ggr"]) for r in rows] == [
        ("op-a", 25_000, 30_000, -5_000)]
    status, headers, body = get("_ /api/report/ggr.csv?period=all")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert 'filename="ggr-' in headers["Content-Disposition"]
    # for spreadsheets: a byte order mark, the machine names, then the labels in the reader's language
    names, labels, *rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert body.startswith(b"\xef\xbb\xbf")
    assert names[:3] == ["period_start_us", "operator_id", "licence_kind"]
    assert labels[:2] == ["Period from", "Operator"] and labels[names.index("ggr")] == "GGR (UAH)"
    assert [int(r[names.index("ggr")]) for r in rows] == [-5_000]
    # for programs: ClickHouse's CSV as it is
    status, _, body = get("_ /api/report/ggr.csv?period=all&labels=0")
    assert [int(r["ggr"]) for r in csv.DictReader(io.StringIO(body.decode()))] == [-5_000]
    status, headers, body = get("_ /api/report/ggr.parquet?period=all")
    assert status == 200 and body[:4] == b"PAR1"
    table = pq.read_table(io.BytesIO(body))
    assert table.column("ggr").to_pylist() == [-5_000]
    assert table.schema.field("ggr").metadata == {b"label_en": b"GGR (UAH)", b"label_uk": "GGR, грн".encode()}
    assert json.loads(table.schema.metadata[b"dsom.labels"])["uk"]["operator_id"] == "Оператор"


def test_bad_requests_get_a_reason(server: TestClient) -> None:
    status, _, body = get("_ /api/report/ggr?period=fortnight")
    assert status == 400 and "period must be one of" in json.loads(body)["error"]
    status, _, body = get("_ /api/report/ggr?since=yesterday")
    assert status == 400 and "since" in json.loads(body)["error"]
    status, _, body = get("_ /api/report/ggr?granularity=week")
    assert status == 400 and "granularity" in json.loads(body)["error"]
    assert get("_ /api/report/nope")[0] == 404
    assert get("_ /api/report/ggr.xlsx")[0] == 404


def test_read_only(server: TestClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, _, body = get("_ /api/report/ggr", method=method)
        assert status == 405, (method, status)  # no route writes reports


def test_live_figures(server: TestClient) -> None:
    status, _, body = get("_ /api/live")
    assert status == 200 and json.loads(body) == {
        "available": True, "figures": [["events read", "12,345"], ["validator lag (records)", "…"]]}
    status, _, body = get("_ /api/live?lang=uk")
    assert json.loads(body)["figures"] == [
        ["прочитано подій", "12\u00a0345"], ["затримка validator (записів)", "…"]]
    CLIENT.cookies.delete("dsom_lang")  # ?lang= is remembered: back to the default for the other tests


def test_every_report_answers_over_http(server: TestClient) -> None:
    for report in REPORTS:
        status, _, body = get(f"_ /api/report/{report.name}?period=all")
        assert status == 200, (report.name, body[:300])
        assert isinstance(json.loads(body)["rows"], list)




def test_the_operator_contract_is_served(server: TestClient) -> None:
    status, headers, body = get("_ /contract/asyncapi.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert doc["asyncapi"].startswith("3.") and "EventBatch" in doc["components"]["messages"]
