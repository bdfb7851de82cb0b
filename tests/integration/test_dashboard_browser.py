"""The web dashboard in a real browser (headless Chromium driven by Playwright) against a running
pipeline: every page renders charts and tables with the figures the simulated traffic implies,
a filter narrows them, and the CSV and Parquet exports hold the same numbers.

Screenshots go to .run/screenshots/ (ignored by git).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.settings import Settings
from registry.service import tax_number_key
from tests.integration.conftest import REPO_ROOT, Worker
from tests.integration.test_ingest_path import Expected, fleet, produce_traffic, seed_registry
from web.app import qes_dir
from web.login.demo import Person, make_people

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine notes advise: no sandbox as root, and no background traffic to Google's hosts.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO_ROOT / ".run" / "screenshots"
GROUPS = ("operational", "regulatory", "analytical", "financial")


def _ggr_by_operator(expected: Expected) -> dict[str, int]:
    ggr: dict[str, int] = defaultdict(int)
    for (op, _, _), ev in expected.bodies.items():
        sign = {"BET": 1, "REFUND": -1, "WIN": -1}.get(ev["kind"], 0)
        ggr[op] += sign * ev["amount"]
    return dict(ggr)


@pytest.fixture
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: `make setup` installs it (Debian package chromium)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _cells(page: Any, report: str, column: str) -> list[str]:
    return [str(v) for v in page.eval_on_selector_all(
        f'[data-report="{report}"] tbody td[data-col="{column}"]', "tds => tds.map(td => td.dataset.raw)")]


def _rows(page: Any, report: str, *columns: str) -> list[tuple[str, ...]]:
    return list(zip(*(_cells(page, report, c) for c in columns), strict=True))


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("Number(document.body.dataset.loaded || 0) >= 1", timeout=30_000)
    failed = page.eval_on_selector_all('[data-state="error"]', "s => s.map(e => e.dataset.report)")
    assert not failed, f"reports failed to load on {url}: {failed}"


def test_every_page_renders_the_pipelines_figures(settings: Settings, worker: Worker, browser: Any) -> None:
    registry = seed_registry(settings)
    # the reports are behind QES login now: an analyst of the test provider (docs/cabinets.md)
    make_people(qes_dir(settings), [Person("analyst", "Anna Koval", "analyst", "6666666666")],
                tax_number_key(settings))
    worker.start()
    expected = produce_traffic(settings, fleet(registry, seed=11), batches=60)
    accepted = len(expected.accepted)
    worker.wait_until(lambda t: t.clickhouse_rows["events"] >= accepted, 120, "events in ClickHouse")
    ggr = _ggr_by_operator(expected)
    per_operator = Counter(op for op, _, _ in expected.accepted)
    bets_by_kind = Counter(ev["licence_kind"] for ev in expected.bodies.values() if ev["kind"] == "BET")
    base = f"http://127.0.0.1:{settings.dashboard_port}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
    page.goto(f"{base}/login?lang=en")  # the English source strings (Ukrainian is the default)
    page.set_input_files("#cert-file", str(qes_dir(settings) / "analyst.crt"))
    page.set_input_files("#key-file", str(qes_dir(settings) / "analyst.key"))
    with page.expect_navigation(timeout=20_000):
        page.click("#sign")
    assert page.url.startswith(f"{base}/operational"), page.url

    # Every group's page: each report card loads, charts draw, tables have rows.
    for group in GROUPS:
        _open(page, f"{base}/{group}?period=all&auto=0")
        page.screenshot(path=str(SCREENSHOTS / f"{group}.png"), full_page=True)
        cards = page.eval_on_selector_all(
            "[data-report]", "cs => cs.map(c => [c.dataset.report, c.dataset.state, Number(c.dataset.rows),"
            " c.querySelectorAll('.chart rect, .chart polyline').length])")
        assert cards, f"no report on the {group} page"
        for name, state, rows, marks in cards:
            assert state == "ready", (group, name, state)
            if name not in ("compliance_alerts", "unregistered_assets"):  # these may rightly be empty
                assert rows > 0, f"{name} shows no rows"
                assert marks > 0, f"{name} drew no chart"

    # Operational: accepted events per operator, as sent.
    _open(page, f"{base}/operational?period=all&auto=0")
    shown = {op: int(n) for op, n in _rows(page, "ingestion_status", "operator_id", "accepted")}
    assert shown == dict(per_operator)
    live = page.inner_text("#live")
    assert "events read" in live and "validator lag" in live

    # Regulatory: every licensed operator sends, so none is silent.
    _open(page, f"{base}/regulatory?period=all&auto=0&silent_after_s=3600")
    statuses = dict(_rows(page, "licence_compliance", "operator_id", "status"))
    assert set(statuses) == set(per_operator) and "silent" not in statuses.values()

    # Analytical: bets per kind of gambling.
    _open(page, f"{base}/analytical?period=all&auto=0")
    bets = {kind: int(n) for kind, n in _rows(page, "player_activity", "licence_kind", "bets")}
    assert bets == dict(bets_by_kind)

    # Financial: GGR per operator to the kopeck (summed over periods and licence kinds).
    _open(page, f"{base}/financial?period=all&auto=0")
    shown_ggr: dict[str, int] = defaultdict(int)
    for op, value in _rows(page, "ggr", "operator_id", "ggr"):
        shown_ggr[op] += int(value)
    assert dict(shown_ggr) == ggr

    # A filter: one operator only, same figure.
    op = "op-slot-hall-1"
    page.select_option('select[name="operator"]', op)
    page.wait_for_function("Number(document.body.dataset.loaded) >= 2", timeout=30_000)
    assert {o for o, in _rows(page, "ggr", "operator_id")} == {op}
    assert sum(int(v) for v in _cells(page, "ggr", "ggr")) == ggr[op]
    assert f"operator={op}" in page.url
    page.screenshot(path=str(SCREENSHOTS / "financial-filtered.png"), full_page=True)

    # Exports of the filtered report: CSV and Parquet hold the same GGR.
    with page.expect_download() as dl:
        page.click('[data-report="ggr"] a.export[data-format="csv"]')
    text = Path(dl.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))[1:]  # the labels' row, then the data
    assert {r["operator_id"] for r in rows} == {op}
    assert sum(int(r["ggr"]) for r in rows) == ggr[op]
    assert dl.value.suggested_filename.startswith("ggr-") and dl.value.suggested_filename.endswith(".csv")
    with page.expect_download() as dl:
        page.click('[data-report="ggr"] a.export[data-format="parquet"]')
    table = pq.read_table(io.BytesIO(Path(dl.value.path()).read_bytes()))
    assert set(table.column("operator_id").to_pylist()) == {op}
    assert sum(table.column("ggr").to_pylist()) == ggr[op]

