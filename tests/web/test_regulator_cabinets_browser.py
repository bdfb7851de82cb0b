"""The administrator's, the regulator's (cases), the inspector's, law enforcement's and the tax officer's
cabinets in a real browser (Playwright, Debian's Chromium), each logging in by QES through the page:
add a staff member from a certificate file, grant a case, look up an event with a reason, look up
within a case and be refused outside it, read tax records and export them.

Screenshots go to .run/screenshots/; with DSOM_DOCS_SCREENSHOTS=1 to docs/img/ (docs/cabinets.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dashboards.web.dashboard import Dashboard
from pipeline.settings import ClickHouseSettings
from sinks.clickhouse.client import connect
from sinks.clickhouse.rollups import rebuild_all
from sinks.clickhouse.tables import EVENTS, TAX_EVENTS, create_tables
from tests.web.accessibility import LANGUAGES, check_in_both_languages, check_page
from tests.web.conftest import World, make_world
from tests.web.test_cabinet_browser import browser, free_port, qes_login  # noqa: F401 - the fixture
from tests.web.test_cabinet_events import DB, EVENTS_ROWS, TAX_ROWS, _insert
from web.app import WebServer, app_from_settings
from web.login.demo import load_provider
from web.login.testpki import cert_pem

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ("docs/img" if os.environ.get("DSOM_DOCS_SCREENSHOTS") else ".run/screenshots")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    world = make_world(tmp_path_factory.mktemp("cabinet"))
    client = connect(
        ClickHouseSettings(dsn=SecretStr(f"chdb://{tmp_path_factory.mktemp('chdb')}"), database=DB)
    )
    try:
        create_tables(client, DB)
        _insert(client, EVENTS, EVENTS_ROWS)
        _insert(client, TAX_EVENTS, TAX_ROWS)
        rebuild_all(client, DB)
        app = app_from_settings(world.settings, Dashboard(client, DB), world.registry)
        server = WebServer(app, "127.0.0.1", free_port()).start()
        try:
            yield world, server.url
        finally:
            server.stop()
    finally:
        client.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"cabinet-{name}.png"), full_page=True)


def test_each_new_cabinet_does_its_main_task(site: tuple[World, str], browser: Any, tmp_path: Path) -> None:  # noqa: F811
    world, base = site

    def as_(name: str) -> Any:
        ctx = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        qes_login(page, base, world, name)
        return ctx, page

    # the administrator adds a staff member from their certificate file
    cert, _key = load_provider(world.folder).issue("Nadia Bilyk", "8888888899")
    (tmp_path / "nadia.crt").write_bytes(cert_pem(cert))
    ctx, page = as_("adm")
    assert page.url == f"{base}/admin/staff"
    page.set_input_files("#cert-file", str(tmp_path / "nadia.crt"))
    page.fill("#name", "nadia")
    page.select_option("#role", "inspector")
    page.fill("#add-reason", "order 44-k of 2026-11-30")
    page.click("#add-staff button[type=submit]")
    assert "Account nadia added" in page.inner_text("#done")
    assert page.locator("#staff tr[data-name=nadia] .role").inner_text() == "inspector"
    shot(page, "admin")
    # a refusal is shown above the form, which keeps what was typed (the upload is sent by fetch)
    (tmp_path / "notes.crt").write_bytes(b"not a certificate")
    page.set_input_files("#cert-file", str(tmp_path / "notes.crt"))
    page.fill("#name", "olha")
    page.fill("#add-reason", "order 45-k of 2026-11-30")
    page.click("#add-staff button[type=submit]")
    page.wait_for_selector("#error")
    assert "This certificate cannot be used" in page.inner_text("#error")
    assert page.input_value("#name") == "olha" and page.url == f"{base}/admin/staff?added=nadia"
    check_in_both_languages(page, f"{base}/admin/staff", "admin-staff")
    ctx.close()

    # the regulator grants a case to law enforcement
    ctx, page = as_("board")
    page.click("text=Law-enforcement cases")
    page.fill("#case_id", "CR-2026/15")
    page.select_option("#granted_to", "detective")
    page.fill("#operators", "op-1")
    page.fill("#subjects", "P1")
    page.fill("#basis", "court ruling 757/123/26")
    page.fill("#expires", time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400)))
    page.click("#grant button[type=submit]")
    assert "Case CR-2026/15 granted" in page.inner_text("#done")
    shot(page, "cases")
    check_in_both_languages(page, page.url.split("?")[0], "cases")
    ctx.close()

    # the inspector looks up a receipt, with a reason
    ctx, page = as_("insp")
    assert page.url == f"{base}/inspect"
    page.select_option("#by", "player")
    page.fill("#value", "P1")
    page.fill("#reason", "complaint 17/2026 from a player")
    page.click("#lookup button[type=submit]")
    assert page.locator("#events tbody tr").count() == 3
    assert page.locator("#events td.kind").all_inner_texts()[-1] == "bet BET"  # the code beside its label
    assert page.locator("#events td.occurred_at").first.inner_text().endswith(("(UTC+02:00)", "(UTC+03:00)"))
    shot(page, "inspector")
    for lang in LANGUAGES:  # the form alone (no table yet), in both languages
        page.goto(f"{base}/inspect?lang={lang}")
        check_page(page, "inspect", lang)
    # the same look-up in Ukrainian: descriptions beside the codes, Kyiv times, axe-clean
    page.goto(f"{base}/inspect?lang=uk")
    page.select_option("#by", "player")
    page.fill("#value", "P1")
    page.fill("#reason", "complaint 17/2026 from a player")
    page.click("#lookup button[type=submit]")
    assert page.locator("#events td.kind").all_inner_texts()[-1] == "ставка BET"
    assert page.locator("#events td.channel").first.inner_text() == "гральний заклад ESTABLISHMENT"
    assert page.locator("#events td.amount").first.inner_text() == "70,00 грн"
    check_page(page, "inspect-results", "uk")
    page.goto(f"{base}/inspect?lang=en")
    ctx.close()

    # law enforcement: within its case, and refused outside it
    ctx, page = as_("detective")
    page.select_option("#case_id", "CR-2026/15")
    page.select_option("#by", "player")
    page.fill("#value", "P1")
    page.fill("#reason", "investigation 12024000000000123")
    page.click("#lookup button[type=submit]")
    assert sorted(page.locator("#events td.receipt_id").all_inner_texts()) == ["rc-1", "rc-2"]
    shot(page, "law")
    page.fill("#value", "P3")
    page.click("#lookup button[type=submit]")
    assert "Player P3 is outside the scope of case CR-2026/15" in page.inner_text("#error")
    shot(page, "law-refused")
    ctx.close()

    # the tax officer reads the payouts' tax and exports them
    ctx, page = as_("tax")
    assert page.url == f"{base}/tax"
    page.click("text=Payout tax records")
    assert "rc-2" in page.inner_text("#records")
    shot(page, "tax")
    # the same figures in both languages (data-raw), each axe-clean, columns named in the reader's language
    check_in_both_languages(page, f"{base}/tax?table=payouts&player=P1", "tax-payouts", back_to="uk")
    assert page.locator("#records th[data-column=pit_due]").inner_text() == "ПДФО до утримання"
    assert page.locator("#records td[data-raw='4500']").inner_text() == "45,00 грн"
    page.goto(f"{base}/tax?table=payouts&lang=en")
    with page.expect_download() as download:
        page.click("#export-csv")
    assert "rc-2" in Path(download.value.path()).read_text()
    ctx.close()

    if os.environ.get("DSOM_DOCS_SCREENSHOTS"):  # the analyst's reports, only for docs/cabinets.md
        ctx, page = as_("analyst")
        page.goto(f"{base}/financial")
        page.wait_for_selector("table tbody tr", timeout=30_000)
        shot(page, "analyst")
        ctx.close()

    looks = [
        (r.principal, r.action)
        for r in world.registry.audit_entries()
        if r.action.startswith(("look", "exp"))
    ]
    assert looks == [
        ("inspector:insp", "lookup"),
        ("inspector:insp", "lookup"),  # the same, in Ukrainian
        ("law:detective", "lookup"),
        ("law:detective", "lookup_refused"),
        ("tax:tax", "export"),
    ]
