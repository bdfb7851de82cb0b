"""The operator's receipts, rejections, data quality and taxes on chdb (the reports' hand-made data set),
logged in as a demo head: its own operator only, whatever ID is put in the URL or the API; and its main
tasks in a real browser (Playwright, Debian's Chromium), keys included."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from dashboards.web.dashboard import Dashboard
from pipeline.security.keys import AccessKeys
from pipeline.security.pki import CertificateAuthority
from pipeline.settings import ClickHouseSettings, RegistrySettings, Settings
from registry.access_keys import KeyStore
from registry.seed import demo_edrpou
from registry.service import RegistryService
from sinks.clickhouse.client import connect
from sinks.clickhouse.rollups import rebuild_all
from sinks.clickhouse.tables import EVENTS, REJECTIONS, TAX_EVENTS, create_tables
from tests.dashboards.test_reports import DB, NOV_KYIV, at, ev, insert, payout, rej, statement
from tests.web.accessibility import LANGUAGES, check_in_both_languages
from tests.web.conftest import login, registry_system
from tests.web.test_cabinet_browser import SCREENSHOTS, browser, free_port, qes_login  # noqa: F401 - a fixture
from tests.web.test_operator_keys import Acls
from web.app import WebServer, app_from_settings, qes_dir
from web.keys import KeyDesk
from web.login.demo import ensure_demo_heads
from web.operator_data import ReceiptSearch, SearchError, parse_search, search_queries

# A small part of the reports' data set (tests/dashboards/test_reports.py), and bet references.
EVENTS_ROWS = [
    *[ev("op-a", "s-a1", seq, "BET", 5_000, at(21, seq)) for seq in (1, 2, 3, 5, 7)],
    ev("op-b", "s-b1", 1, "BET", 500, at(21, 5)),
    {**ev("op-a", "s-a9", 1, "BET", 7_000, at(20)), "bet_ref": "bet-777", "receipt_id": "rcpt-a-777"},
    {**ev("op-b", "s-b9", 1, "BET", 9_000, at(20)), "bet_ref": "bet-777", "receipt_id": "rcpt-b-777"},
]
REJECTION_ROWS = [
    rej("op-a", "s-a1", 6, "licence_kind_mismatch", at(22, 15)),
    rej("op-a", "s-a1", 8, "absurd_amount", at(22, 50)),
    rej("op-a", "s-a1", 5, "conflicting_duplicate", at(23, 10)),
    rej("op-b", "s-b1", None, "non_positive_amount", at(22)),
    {**rej("op-a", "s-a2", 1, "unknown_licence", at(22, 5)),
     "detail": "licence 'LIC-X' is not registered to op-a"},
    {**rej("op-a", "s-a3", None, "malformed", at(22, 20)),
     "detail": "events[0].amount at byte 52: the record ends before this field"},
]
TAX_ROWS = [
    payout("op-b", "r-b-win", 100_000, 15_000, at(22, 31)),  # 18_000 due: a discrepancy
    statement("op-a", "2026-11", NOV_KYIV, 1, 1_000),
    statement("op-a", "2026-11", NOV_KYIV, 2, 1_500),
    statement("op-b", "2026-11", NOV_KYIV, 1, 700),
]


@dataclass
class Shop:
    """The cabinet on chdb with the data set, demo heads for op-a and op-b, keys issued with ACLs recorded."""

    settings: Settings
    registry: RegistryService
    app: Any


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    tmp = tmp_path_factory.mktemp("opdata")
    settings = Settings(
        pki_dir=tmp / "pki",
        registry=RegistrySettings(dsn=SecretStr(f"sqlite:///{tmp / 'r.sqlite'}")),
        web={"default_language": "en"},  # the English source strings, as in tests/web/conftest.py
    )
    registry = RegistryService.from_settings(settings)
    registry.add(
        registry_system(),
        [
            {"kind": "operator", "operator_id": op, "legal_name": op, "edrpou": demo_edrpou(n)}
            for n, op in enumerate(("op-a", "op-b"), 1)
        ],
    )
    heads = ensure_demo_heads(settings, registry)
    assert [h.name for h in heads] == ["head-op-a", "head-op-b"]
    seeded = len(registry.audit_entries())
    assert ensure_demo_heads(settings, registry) == heads and len(registry.audit_entries()) == seeded
    CertificateAuthority(settings.pki_dir).ensure()
    acls = Acls()
    desk = KeyDesk(
        AccessKeys(
            settings.pki_dir,
            settings.topics,
            settings.kafka,
            KeyStore(registry),
            grant_fn=acls.grant,
            revoke_fn=acls.revoke,
        ),
        "127.0.0.1:9093",
    )
    client = connect(ClickHouseSettings(dsn=SecretStr(f"chdb://{tmp / 'chdb'}"), database=DB))
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
        create_tables(client, DB)
        insert(client, EVENTS, EVENTS_ROWS)
        insert(client, REJECTIONS, REJECTION_ROWS)
        insert(client, TAX_EVENTS, TAX_ROWS)
        rebuild_all(client, DB)
        yield Shop(settings, registry, app_from_settings(settings, Dashboard(client, DB), registry, desk))
    finally:
        client.close()


@pytest.fixture(scope="module")
def site(shop: Shop) -> Iterator[tuple[TestClient, RegistryService]]:
    with TestClient(shop.app, base_url="http://127.0.0.1") as c:
        folder = qes_dir(shop.settings)
        res = login(c, (folder / "head-op-a.crt").read_bytes(), (folder / "head-op-a.key").read_bytes())
        assert res.status_code == 303 and res.headers["location"] == "/operator"
        yield c, shop.registry


def receipts(client: TestClient, **query: str) -> list[dict[str, Any]]:
    res = client.get("/api/operator/receipts", params=query)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["operator_id"] == "op-a"
    rows: list[dict[str, Any]] = body["rows"]
    return rows


def test_search_by_receipt_source_and_bet_reference(site: tuple[TestClient, RegistryService]) -> None:
    client, registry = site
    [row] = receipts(client, receipt_id="rcpt-a-777")
    assert row["outcome"] == "accepted" and row["source_id"] == "s-a9" and row["amount"] == 7_000
    [row] = receipts(client, bet_ref="bet-777")  # op-b has the same bet reference: not shown
    assert row["receipt_id"] == "rcpt-a-777"
    found = receipts(client, source_id="s-a1", seq="5")  # accepted, then re-sent with other content
    assert {(r["outcome"], r["reason"]) for r in found} == {
        ("accepted", ""),
        ("rejected", "conflicting_duplicate"),
    }
    assert {r["seq"] for r in receipts(client, source_id="s-a1")} == {1, 2, 3, 5, 6, 7, 8}
    rejected = next(r for r in found if r["outcome"] == "rejected")
    [again] = receipts(client, receipt_id=rejected["receipt_id"])
    assert again["reason"] == "conflicting_duplicate"
    page = client.get("/operator/receipts", params={"receipt_id": "rcpt-a-777"}).text
    assert "rcpt-a-777" in page and "70.00" in page  # kopecks shown as UAH
    looks = [r for r in registry.audit_entries() if r.action == "lookup"]
    assert looks and looks[-1].principal == "operator:head-op-a@op-a" and "rcpt-a-777" in looks[-1].after


def test_another_operators_ids_find_nothing(site: tuple[TestClient, RegistryService]) -> None:
    client, _ = site
    assert receipts(client, receipt_id="rcpt-b-777") == []  # op-b's receipt ID
    assert receipts(client, source_id="s-b1", seq="1") == []  # op-b's source
    assert receipts(client, receipt_id="rcpt-b-777", operator_id="op-b", operator="op-b") == []
    page = client.get("/operator/receipts", params={"receipt_id": "rcpt-b-777", "operator": "op-b"})
    assert page.status_code == 200 and "Nothing found for your operator" in page.text
    recent = client.get("/operator/receipts").text  # latest rejections: op-a's only
    assert "licence_kind_mismatch" in recent and "non_positive_amount" not in recent
    quality = client.get("/operator/quality", params={"period": "all", "operator": "op-b"}).text
    assert "conflicting_duplicate" in quality and "non_positive_amount" not in quality
    taxes = client.get("/operator/taxes", params={"period": "all", "operator": "op-b"}).text
    assert 'data-period="2026-11"' in taxes and "15.00" in taxes  # op-a's revision 2: GGR 15.00 UAH
    assert "7.00" not in taxes and "r-b-win" not in taxes  # op-b's statement and discrepancy


def test_codes_are_described_in_the_readers_language(site: tuple[TestClient, RegistryService]) -> None:
    """Reason codes, event kinds and data-quality issues keep their code and gain their description."""
    client, _ = site
    try:
        recent = client.get("/operator/receipts", params={"lang": "uk"}).text
        assert "Вид ліцензії (licence_kind) не відповідає виду, зазначеному в реєстрі ліцензій." in recent
        assert "<code>licence_kind_mismatch</code>" in recent and '<td data-kind="BET">ставка</td>' in recent
        assert "<td>10.11.2026, 00:15:00 (UTC+02:00)</td>" in recent  # rejected at 22:15 UTC, in Kyiv time
        # the validator's detail said in Ukrainian, the receipt's English kept in data-detail
        assert "ліцензію &#39;LIC-X&#39; не зареєстровано за оператором op-a</small>" in recent
        assert 'data-detail="licence &#39;LIC-X&#39; is not registered to op-a"' in recent
        # the decoder's detail too (web.machine_texts)
        assert "events[0].amount, байт 52: запис закінчується перед цим полем</small>" in recent
        quality = client.get("/operator/quality", params={"period": "all"}).text
        assert "Сума (amount) перевищує" in quality and "<code>absurd_amount</code>" in quality
        assert '<td data-category="rejection">відхилення</td>' in quality
        # the statement's status described, its code kept; issued at 00:00 UTC, shown in Kyiv time
        taxes = client.get("/operator/taxes", params={"period": "all"}).text
        assert '<td class="status" data-status="OPEN">відкритий (період триває)</td>' in taxes
        assert "<td>10.11.2026, 02:00:00 (UTC+02:00)</td>" in taxes and "Сформовано" in taxes
        [row] = client.get("/api/operator/receipts", params={"source_id": "s-a1", "seq": "8"}).json()["rows"]
        assert row["reason"] == "absurd_amount" and row["reason_description"].startswith("Сума (amount)")
        [row] = client.get("/api/operator/receipts", params={"source_id": "s-a2", "seq": "1"}).json()["rows"]
        assert row["detail"] == "licence 'LIC-X' is not registered to op-a"  # the receipt's, as written
        assert row["detail_said"] == "ліцензію 'LIC-X' не зареєстровано за оператором op-a"
    finally:
        client.get("/operator/receipts", params={"lang": "en"})  # the module's other tests read English


def test_bad_searches_are_refused_with_a_reason(site: tuple[TestClient, RegistryService]) -> None:
    client, _ = site
    res = client.get("/api/operator/receipts", params={"seq": "5"})
    assert res.status_code == 400 and "needs its source" in res.json()["error"]
    res = client.get("/api/operator/receipts", params={"source_id": "s-a1", "seq": "five"})
    assert res.status_code == 400 and "whole number" in res.json()["error"]
    res = client.get("/operator/receipts", params={"receipt_id": "r", "bet_ref": "b"})
    assert res.status_code == 400 and "one thing at a time" in res.text
    assert client.get("/api/operator/receipts").status_code == 400


@pytest.mark.usefixtures("english")
def test_search_parsing_and_queries_are_bound_to_the_operator() -> None:
    assert parse_search({}) is None
    assert parse_search({"source_id": " s1 ", "seq": "42"}) == ReceiptSearch(source_id="s1", seq=42)
    with pytest.raises(SearchError, match="printable"):
        parse_search({"bet_ref": "x\x00y"})
    with pytest.raises(SearchError, match="printable"):
        parse_search({"receipt_id": "r" * 129})
    for search in (
        ReceiptSearch(receipt_id="r"),
        ReceiptSearch(source_id="s", seq=1),
        ReceiptSearch(bet_ref="b"),
    ):
        for sql, params in search_queries(search, "op-a", "db"):
            assert "operator_id = {operator:String}" in sql and params["operator"] == "op-a"


def figure(text: str, lang: str) -> Decimal | None:
    """A number as a page writes it (``1 234,50 грн`` in Ukrainian, ``UAH 1,234.50`` in English)."""
    digits = re.sub(r"грн|UAH|\s", "", text)
    if not digits:
        return None
    return Decimal(digits.replace(",", ".") if lang == "uk" else digits.replace(",", ""))


def test_the_operators_main_tasks_in_the_browser(shop: Shop, browser: Any) -> None:  # noqa: F811 - the fixture
    """A demo-style head logs in by QES, finds a receipt, issues a sandbox key, downloads its bundle once."""
    server = WebServer(shop.app, "127.0.0.1", free_port()).start()
    base = server.url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(accept_downloads=True)
    try:
        page = ctx.new_page()
        qes_login(page, base, SimpleNamespace(folder=qes_dir(shop.settings)), "head-op-a")
        assert page.url == f"{base}/operator"
        page.click("#nav-receipts")
        page.fill("#receipt_id", "rcpt-a-777")
        page.click("#search button[type=submit]")
        assert page.locator("#results tbody tr").count() == 1
        assert page.inner_text("#results .receipt") == "rcpt-a-777"
        page.screenshot(path=str(SCREENSHOTS / "cabinet-operator-receipts.png"), full_page=True)
        # reason codes and kinds described in both languages, the validator's English marked as such
        check_in_both_languages(page, f"{base}/operator/receipts", "operator-receipts")
        check_in_both_languages(page, f"{base}/operator/quality", "operator-quality")
        # the taxes page: axe-clean in both languages, and the same figures written each language's way
        taxes = f"{base}/operator/taxes?period=all"
        check_in_both_languages(page, taxes, "operator-taxes")
        figures = {}
        for lang in LANGUAGES:
            page.goto(f"{taxes}&lang={lang}")
            figures[lang] = [figure(t, lang) for t in page.locator("td.num").all_inner_texts()]
        assert figures["uk"] == figures["en"] and Decimal("15.00") in figures["uk"], figures
        page.goto(f"{taxes}&lang=en")
        page.click("#nav-keys")
        page.check("input[name=environment][value=sandbox]")
        page.click("#issue-key button[type=submit]")
        assert "can be downloaded only once" in page.inner_text("#done")
        row = page.locator("#keys tbody tr").first
        with page.expect_download() as download:
            row.locator("button.download").click()
        names = zipfile.ZipFile(download.value.path()).namelist()
        assert "client-settings.txt" in names and any(n.endswith(".p12") for n in names)
        page.screenshot(path=str(SCREENSHOTS / "cabinet-operator-keys.png"), full_page=True)
        with page.expect_navigation():
            row.locator("button.download").click()  # the page still shows the button: the server refuses
        assert "already downloaded" in page.inner_text("#error")
        page.goto(f"{base}/operator/keys")
        assert "downloaded" in page.locator("#keys tbody tr").first.locator(".bundle").inner_text()
    finally:
        ctx.close()
        server.stop()
