"""The regulator's alert inbox in a real browser: an officer acknowledges an alert, then resolves it
with a note; the page shows the case and the audit log names the officer. Screenshot in .run/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.accessibility import check_in_both_languages
from tests.web.conftest import World, make_world
from tests.web.test_alerts import FakeStore
from tests.web.test_cabinet_browser import SCREENSHOTS, browser, free_port, qes_login
from web.app import WebServer, app_from_settings

__all__ = ["browser"]  # the fixture, shared


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[World, str]]:
    world = make_world(tmp_path, crl_refresh_s=0)
    app = app_from_settings(world.settings, None, world.registry)
    app.__wrapped__.state.cabinet.alerts = FakeStore()
    server = WebServer(app, "127.0.0.1", free_port()).start()
    try:
        yield world, server.url
    finally:
        server.stop()


def test_an_officer_acknowledges_then_resolves_an_alert(site: tuple[World, str], browser: Any) -> None:
    world, base = site
    page = browser.new_context().new_page()
    qes_login(page, base, world, "taras")
    page.click("#alerts-link")
    assert page.url == f"{base}/regulator/alerts"
    row = page.locator("#alerts tr[data-alert=a-rtp-op1]")
    row.locator("button[value=acknowledge]").click()
    assert page.inner_text("#done") == "Alert acknowledged."
    row = page.locator("#alerts tr[data-alert=a-rtp-op1]")
    assert row.locator(".case").inner_text().startswith("acknowledged")
    row.locator("input[name=note]").fill("Machine sealed; lab retest booked.")
    row.locator("button[value=resolve]").click()
    assert page.inner_text("#done") == "Alert resolved."
    assert page.locator("#alerts tr[data-alert=a-rtp-op1]").count() == 0  # handled: out of the open list
    page.goto(f"{base}/regulator/alerts?show=all")
    case = page.locator("#alerts tr[data-alert=a-rtp-op1] .case")
    assert case.inner_text().startswith("resolved")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "cabinet-alerts.png"), full_page=True)
    check_in_both_languages(page, f"{base}/regulator/alerts", "alerts")  # rules, severities, figures labelled
    assert [(r.principal, r.action, r.reason) for r in world.registry.audit_entries(kind="alert")] == [
        ("officer:taras", "alert_acknowledge", None),
        ("officer:taras", "alert_resolve", "Machine sealed; lab retest booked."),
    ]
