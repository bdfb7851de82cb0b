"""The login, the reports and an error page in a real browser in Ukrainian and in English (issue 19):
the same figures in both,
axe-core finds no serious or critical WCAG 2.1 A/AA violation, the login, the filters and the tables
work from the keyboard, charts have text alternatives, the market chart's time labels do not
overlap, and a table wider than its box says which columns are out of view.

The reports run on embedded chdb with the reports' hand-checked data set (tests/dashboards/
test_reports.py); the logins on a SQLite registry (tests/web/conftest.py). The cabinets' pages get
the same checks in tests/web/test_cabinet_browser.py, on the pages that test opens anyway. Screenshots
of every page in both languages go to .run/screenshots/i18n/ (docs/img/ has the Ukrainian ones).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dashboards.web.dashboard import Dashboard
from pipeline.settings import ClickHouseSettings
from sinks.clickhouse.client import connect
from sinks.clickhouse.rollups import rebuild_all
from sinks.clickhouse.tables import create_tables
from tests.dashboards import test_reports as data
from tests.web.accessibility import LANGUAGES, SHOTS, check_page
from tests.web.conftest import World, make_world
from tests.web.test_cabinet_browser import browser, free_port  # noqa: F401
from web.app import WebServer, app_from_settings

GROUPS = ("operational", "regulatory", "analytical", "financial")
PERIOD = "period=all&auto=0"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    world = make_world(tmp_path_factory.mktemp("cabinet"), default_language="uk", crl_refresh_s=0)
    folder: Path = tmp_path_factory.mktemp("reports") / "chdb"
    client = connect(ClickHouseSettings(dsn=SecretStr(f"chdb://{folder}"), database=data.DB))
    server = None
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS {data.DB}")
        create_tables(client, data.DB)
        data.load(client)
        rebuild_all(client, data.DB)
        live = {"figures": [("events read", {}, 1_234_567),
                            ("%(agent)s lag (records)", {"agent": "validator"}, 0)]}
        reports = Dashboard(client, data.DB, live=lambda: live)
        app = app_from_settings(world.settings, reports, world.registry)
        server = WebServer(app, "127.0.0.1", free_port())
        server.start()
        yield world, server.url
    finally:
        if server is not None:
            server.stop()
        client.close()


def open_reports(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("Number(document.body.dataset.loaded || 0) >= 1", timeout=30_000)
    failed = page.eval_on_selector_all('[data-state="error"]', "s => s.map(e => e.dataset.report)")
    assert not failed, f"reports failed to load on {url}: {failed}"


def figures(page: Any) -> dict[str, list[list[str]]]:
    """Every report's cells as the data holds them (``data-raw``): what both languages must show.

    Less what moves with the clock between two page loads: seconds since an operator was last heard of.
    """
    return dict(page.eval_on_selector_all("[data-report]", """cards => cards.map(c => [c.dataset.report,
        [...c.querySelectorAll('tbody tr')].map(tr => [...tr.querySelectorAll('td')]
          .filter(td => td.dataset.col !== 'silent_for_s'
                        && !(tr.querySelector('td[data-raw="silent_operator"]')
                             && ['value', 'detail'].includes(td.dataset.col)))
          .map(td => td.dataset.raw))])"""))


def texts(page: Any, report: str, column: str) -> list[str]:
    return list(page.eval_on_selector_all(f'[data-report="{report}"] td[data-col="{column}"]',
                                          "tds => tds.map(td => td.textContent)"))


def financial_in_ukrainian(page: Any) -> None:
    """Ukrainian conventions in the cells; the taxes' statements with their own period."""
    page.wait_for_timeout(100)  # the out-of-view notes are set once the tables are laid out
    # the GGR table fits a 1280 px window: no note; the taxes table does not: its note names the columns
    assert page.locator('[data-report="ggr"] .hidden-columns').is_hidden()
    assert "Звіти до" in page.locator('[data-report="taxes"] .hidden-columns').inner_text()
    # no-break spaces between thousands and a decimal comma
    assert "105,00" in texts(page, "taxes", "ggr")  # op-a: October's 9,000 + November's 1,500 kopecks
    assert "19\u00a0020,00" in texts(page, "ggr", "stakes")  # op-b's 1,902,000 kopecks staked
    # each statement's own period in Kyiv time, with the offset of its date (summer time in October)
    assert texts(page, "taxes", "statements_from") == [
        "01.10.2026, 00:00:00 UTC+3", "01.11.2026, 00:00:00 UTC+2", "01.11.2026, 00:00:00 UTC+2"]
    headers = page.eval_on_selector_all('[data-report="taxes"] th', "ths => ths.map(t => t.textContent)")
    assert "Звіти з" in headers and "Податок із GGR до сплати, грн" in headers


def operational_in_ukrainian(page: Any) -> None:
    """The SQL's English detail texts, said in Ukrainian (the data keeps them as they are)."""
    details = texts(page, "data_quality", "detail")
    assert "джерел із пропусками: 1" in details and "запізнення до 80 год" in details, details
    assert "востаннє: 10.11.2026, 00:50:00 UTC+2" in details, details  # 22:50 UTC, in Kyiv time
    assert "1\u00a0234\u00a0567" in page.inner_text("#live") and "прочитано подій" in page.inner_text("#live")


UKRAINIAN_READINGS = {"financial": financial_in_ukrainian, "operational": operational_in_ukrainian}


def test_every_page_in_both_languages(site: tuple[World, str], browser: Any) -> None:  # noqa: F811
    world, base = site
    seen: dict[str, dict[str, Any]] = {lang: {} for lang in LANGUAGES}

    # Login, by keyboard: Tab reaches the switch, both file inputs and the button, Enter signs.
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    for lang in ("en", "uk"):  # the default is Ukrainian: the switch is remembered by its cookie
        page.goto(f"{base}/login?lang={lang}")
        check_page(page, "login", lang)
    page.set_input_files("#cert-file", str(world.folder / "analyst.crt"))
    page.set_input_files("#key-file", str(world.folder / "analyst.key"))
    order = []
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
        if order[-1] == "sign":
            break
    assert order[0] == "skip" or "skip" in order[0], order
    assert "lang-switch" in order and order[-3:] == ["cert-file", "key-file", "sign"], order
    with page.expect_navigation(timeout=20_000):
        page.keyboard.press("Enter")
    assert page.url.startswith(f"{base}/operational"), page.url

    # The reports: every group in both languages, the same figures, axe-clean.
    for lang in LANGUAGES:
        for group in GROUPS:
            open_reports(page, f"{base}/{group}?{PERIOD}&lang={lang}")
            seen[lang][group] = figures(page)
            assert all(rows for name, rows in seen[lang][group].items()), (group, lang)
            check_page(page, group, lang)
            # every chart has a text alternative: a title and a description naming the largest value
            alts = page.eval_on_selector_all(".chart svg", """ss => ss.map(s => [s.getAttribute('role'),
                document.getElementById(s.getAttribute('aria-labelledby')).textContent,
                document.getElementById(s.getAttribute('aria-describedby')).textContent])""")
            assert alts and all(role == "img" and title and len(desc) > 40 for role, title, desc in alts), (
                alts)
            if lang == "uk" and group in UKRAINIAN_READINGS:
                UKRAINIAN_READINGS[group](page)
    for group in GROUPS:
        assert seen["uk"][group] == seen["en"][group], group

    # Filters by keyboard (on the English financial page, the last one open): focus the period,
    # change it with the arrow keys, the reports reload.
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "period":
            break
    assert page.evaluate("document.activeElement.name") == "period"
    before = page.evaluate("Number(document.body.dataset.loaded)")
    page.keyboard.press("ArrowUp")
    page.wait_for_function(f"Number(document.body.dataset.loaded) > {before}", timeout=30_000)
    assert "period=" in page.url and "period=all" not in page.url

    # The market chart's time labels, at minutes: thinned so that none overlaps the next.
    open_reports(page, f"{base}/analytical?period=custom&since=2026-11-09T23:00:00&until=2026-11-10T02:00:00"
                       "&granularity=minute&auto=0&lang=uk")
    boxes = page.eval_on_selector_all('[data-report="market_dynamics"] .xlabel',
                                      "ts => ts.map(t => [t.getBBox().x, t.getBBox().x + t.getBBox().width])")
    points = page.eval_on_selector_all('[data-report="market_dynamics"] circle', "cs => cs.length")
    assert 1 < len(boxes) < points, (len(boxes), points)
    assert all(a[1] < b[0] for a, b in zip(boxes, boxes[1:], strict=False)), boxes

    # A wide table in a narrow window: the columns out of view are named, and the keyboard scrolls.
    page.set_viewport_size({"width": 760, "height": 900})
    open_reports(page, f"{base}/analytical?{PERIOD}&lang=uk")
    page.wait_for_selector('[data-report="player_activity"] .hidden-columns:not([hidden])', timeout=5_000)
    note = page.locator('[data-report="player_activity"] .hidden-columns').inner_text()
    assert "поза межами видимої частини" in note and "Ставки від 10 000 грн" in note, note
    wrap = page.locator('[data-report="player_activity"] .tablewrap')
    wrap.focus()
    page.keyboard.press("End")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "document.querySelector('[data-report=\"player_activity\"] .tablewrap').scrollLeft > 0",
        timeout=5_000)
    page.locator('[data-report="player_activity"]').screenshot(path=str(SHOTS / "uk-analytical-narrow.png"))
    page.set_viewport_size({"width": 1280, "height": 900})

    # An error page (the operator's and the regulator's cabinets: tests/web/test_cabinet_browser.py)
    for lang in LANGUAGES:
        page.goto(f"{base}/operator?lang={lang}")
        check_page(page, "error", lang)
    ctx.close()
