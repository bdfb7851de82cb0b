"""The cabinets in a real browser (Playwright, Debian's Chromium): QES login through the page's file
inputs and WebCrypto, an operator's proposal, an officer's approval (four eyes), the audit entry, and a
revoked certificate refused with a clear message. Each cabinet page is also seen in Ukrainian and in
English, axe-clean, with the same values (tests/web/accessibility.py). Screenshots go to
.run/screenshots/."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.accessibility import check_in_both_languages
from tests.web.conftest import World, make_world
from web.app import WebServer, app_from_settings
from web.login.demo import revoke

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# DSOM_DOCS_SCREENSHOTS=1: into docs/img/, for docs/cabinets.md
SCREENSHOTS = Path(__file__).resolve().parents[2] / (
    "docs/img" if os.environ.get("DSOM_DOCS_SCREENSHOTS") else ".run/screenshots"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[World, str]]:
    world = make_world(tmp_path, crl_refresh_s=0)
    server = WebServer(
        app_from_settings(world.settings, None, world.registry), "127.0.0.1", free_port()
    ).start()
    try:
        yield world, server.url
    finally:
        server.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: `make setup` installs it (Debian package chromium)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def qes_login(page: Any, base: str, world: World, name: str) -> None:
    """Log in as a person would: pick the certificate and the key file, press the button."""
    page.goto(f"{base}/login")
    page.set_input_files("#cert-file", str(world.folder / f"{name}.crt"))
    page.set_input_files("#key-file", str(world.folder / f"{name}.key"))
    with page.expect_navigation(timeout=20_000):  # the script signs, then submits the form
        page.click("#sign")


def test_propose_approve_audit_and_a_revoked_certificate(site: tuple[World, str], browser: Any) -> None:
    world, base = site
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context()
    page = ctx.new_page()
    qes_login(page, base, world, "rep-1")  # ECDSA P-256
    assert page.url == f"{base}/operator"
    page.screenshot(path=str(SCREENSHOTS / "cabinet-operator.png"), full_page=True)
    page.fill("#domain", "new-casino.example.ua")
    page.select_option("#licence_id", "LIC-1")
    page.click("#propose-site button[type=submit]")
    assert "sent to the registry" in page.inner_text("#done")
    assert page.inner_text("#proposals tbody tr:first-child .state") == "pending"
    check_in_both_languages(page, f"{base}/operator", "operator")
    assert page.inner_text("#proposals tbody tr:first-child .state") == "pending"
    assert page.get_attribute("#proposals tbody tr:first-child .state", "data-state") == "pending"
    ctx.close()

    ctx = browser.new_context()
    page = ctx.new_page()
    qes_login(page, base, world, "taras")
    assert page.url == f"{base}/regulator"
    row = page.locator("#queue tr", has_text="new-casino.example.ua")
    row.locator("input[name=reason]").fill("domain checked against the licence")
    row.locator("button[value=approve]").click()
    assert "approved" in page.inner_text("#done")
    page.screenshot(path=str(SCREENSHOTS / "cabinet-regulator.png"), full_page=True)
    check_in_both_languages(page, f"{base}/regulator", "regulator")
    check_in_both_languages(page, f"{base}/audit", "audit")
    page.goto(f"{base}/regulator")
    page.click("text=Audit log")
    first = page.locator("#audit tbody tr").first
    assert (
        first.locator(".who").inner_text() == "officer:taras"
        and first.locator(".action").get_attribute("data-action") == "approve"
        and first.locator(".action").inner_text() == "approval"
    )
    ctx.close()

    revoke(world.folder, ["rep-2"])  # RSA
    ctx = browser.new_context()
    page = ctx.new_page()
    qes_login(page, base, world, "rep-2")
    assert page.url == f"{base}/login"
    assert "has been revoked" in page.inner_text("#error")
    page.screenshot(path=str(SCREENSHOTS / "cabinet-login-revoked.png"), full_page=True)
    ctx.close()
