"""The inspector's, law enforcement's, the regulator's (cases), the administrator's and the tax officer's
cabinets on chdb, without a browser: each role's main task, the refusals, and the audit entries."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeSerializer
from pydantic import SecretStr

from dashboards.web.dashboard import Dashboard
from pipeline.settings import ClickHouseSettings
from registry.core.access import Principal, PrincipalRole
from registry.staff import CaseStore, CaseVersion, StaffStore
from sinks.clickhouse.client import connect
from sinks.clickhouse.tables import EVENTS, TAX_EVENTS, create_tables
from tests.web.conftest import World, csrf, login, login_as, make_world
from web import i18n, labels
from web.app import app_from_settings
from web.login.core import fingerprint
from web.login.demo import load_provider
from web.login.testpki import Provider, cert_pem

DB = "cabinet_events"
HOUR = 3_600_000_000
NOW = int(time.time()) * 1_000_000


def _event(n: int, op: str, kind: str, player: str, amount: int, ago_h: int, **more: str) -> dict[str, Any]:
    return {
        "receipt_id": f"rc-{n}",
        "operator_id": op,
        "source_id": f"s-{op}",
        "seq": n,
        "kind": kind,
        "licence_id": "LIC-1" if op == "op-1" else "LIC-2",
        "player_ref": player,
        "amount": amount,
        "currency": "UAH",
        "occurred_at": NOW - ago_h * HOUR,
        "received_at": NOW - ago_h * HOUR + 1,
        "chain_id": f"{op}/0",
        "chain_index": n,
        **more,
    }


EVENTS_ROWS = [
    _event(1, "op-1", "BET", "P1", 10_000, 5, bet_ref="b-1", site_id="casino-1.example.ua"),
    _event(2, "op-1", "WIN", "P1", 25_000, 4, bet_ref="b-1", site_id="casino-1.example.ua"),
    _event(3, "op-1", "BET", "P2", 5_000, 3, bet_ref="b-2", site_id="casino-1.example.ua"),
    _event(4, "op-2", "BET", "P1", 7_000, 2, bet_ref="b-9", equipment_id="m-7", establishment_id="hall-2",
           channel="ESTABLISHMENT", licence_kind="SLOT_HALL"),
    _event(5, "op-2", "BET", "P3", 9_000, 1, bet_ref="b-10", equipment_id="m-7", establishment_id="hall-2"),
    _event(6, "op-1", "BET", "P1", 3_000, 24 * 45, bet_ref="b-old"),  # 45 days ago: before the default period
]


def _tax(record_type: str, key: str, op: str, **more: Any) -> dict[str, Any]:
    return {
        "record_type": record_type,
        "row_key": key,
        "operator_id": op,
        "occurred_at": NOW - 4 * HOUR,
        **more,
    }


TAX_ROWS = [
    _tax(
        "payout",
        "rc-2",
        "op-1",
        receipt_id="rc-2",
        player_ref="P1",
        amount=25_000,
        pit_rate_ppm=180_000,
        pit_due=4_500,
        pit_withheld=4_000,
        military_rate_ppm=50_000,
        military_due=1_250,
        military_withheld=1_250,
        discrepancy=1,
    ),
    _tax(
        "discrepancy",
        "rc-2",
        "op-1",
        receipt_id="rc-2",
        amount=25_000,
        pit_due=4_500,
        pit_withheld=4_000,
        military_due=1_250,
        military_withheld=1_250,
    ),
    _tax(
        "statement",
        "2026-11|1",
        "op-1",
        period="2026-11",
        revision=1,
        status="OPEN",
        ggr=1_000,
        ggr_tax_due=100,
    ),
    _tax(
        "statement",
        "2026-11|2",
        "op-1",
        period="2026-11",
        revision=2,
        status="OPEN",
        ggr=1_500,
        ggr_tax_due=150,
    ),
]


def _insert(client: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    def default(t: str) -> Any:
        return bytes(32) if t.startswith("FixedString") else "" if "String" in t else 0

    data = [[r.get(c.name, default(c.type)) for c in table.columns] for r in rows]
    client.insert(
        table.name, data, column_names=table.column_names, database=DB, column_type_names=table.column_types
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Any]]:
    folder: Path = tmp_path_factory.mktemp("events") / "chdb"
    world = make_world(tmp_path_factory.mktemp("cabinet"))
    client = connect(ClickHouseSettings(dsn=SecretStr(f"chdb://{folder}"), database=DB))
    try:
        create_tables(client, DB)
        _insert(client, EVENTS, EVENTS_ROWS)
        _insert(client, TAX_EVENTS, TAX_ROWS)
        yield world, app_from_settings(world.settings, Dashboard(client, DB), world.registry)
    finally:
        client.close()


def session(site: tuple[World, Any], name: str) -> TestClient:
    world, app = site
    c = TestClient(app, base_url="http://127.0.0.1")
    login_as(c, world, name)
    return c


def audit_all(world: World) -> list[Any]:
    return list(world.registry.audit_entries())


def audit(world: World, action: str) -> list[Any]:
    return [r for r in world.registry.audit_entries() if r.action == action]


def look(c: TestClient, **form: str) -> Any:
    return c.post("/inspect", data={"csrftoken": csrf(c), **form})


def receipts(html: str) -> list[str]:
    return sorted(set(__import__("re").findall(r'class="receipt_id">(rc-\d+)<', html)))


def test_the_inspector_drills_down_by_each_key_and_every_look_is_audited(site: tuple[World, Any]) -> None:
    world, _ = site
    c = session(site, "insp")
    why = "complaint 17/2026 from a player"
    assert receipts(look(c, by="receipt", value="rc-4", reason=why).text) == ["rc-4"]
    assert receipts(look(c, by="bet", value="b-1", reason=why).text) == ["rc-1", "rc-2"]
    assert receipts(look(c, by="player", value="P1", reason=why).text) == ["rc-1", "rc-2", "rc-4"]
    assert receipts(look(c, by="machine", value="m-7", reason=why).text) == ["rc-4", "rc-5"]
    assert receipts(look(c, by="site", value="casino-1.example.ua", reason=why).text) == [
        "rc-1",
        "rc-2",
        "rc-3",
    ]
    assert receipts(look(c, by="player", value="P1", operator="op-2", reason=why).text) == ["rc-4"]
    # no dates: a player's events of the last 30 days, and the page says so; a receipt, at any age
    page = look(c, by="player", value="P1", reason=why).text
    assert 'id="period"' in page and "No dates were given: the last 30 days" in page and "rc-6" not in page
    since = time.strftime("%Y-%m-%d", time.gmtime(NOW / 1e6 - 60 * 86400))
    old = look(c, by="player", value="P1", reason=why, since=since)
    assert receipts(old.text) == ["rc-1", "rc-2", "rc-4", "rc-6"] and 'id="period"' not in old.text
    # a site's newest day first (web.lookup.newest_first): it holds the newest two; four rows take
    # the whole period (the site has three), as one query over it does
    site = "casino-1.example.ua"
    assert receipts(look(c, by="site", value=site, reason=why, limit="2").text) == ["rc-2", "rc-3"]
    four = look(c, by="site", value=site, reason=why, since=since, limit="4")
    assert receipts(four.text) == ["rc-1", "rc-2", "rc-3"]
    assert receipts(look(c, by="receipt", value="rc-6", reason=why).text) == ["rc-6"]
    page = look(c, by="receipt", value="rc-4", reason=why).text
    assert "70.00" in page  # kopecks shown as UAH
    # codes described with the code kept beside, UTC times in Kyiv time with the offset, columns named
    assert '<td class="kind" data-code="BET">bet <code>BET</code></td>' in page
    assert '<td class="channel" data-code="ESTABLISHMENT">establishment <code>ESTABLISHMENT</code>' in page
    assert '<td class="licence_kind" data-code="SLOT_HALL">slot machine hall <code>SLOT_HALL</code>' in page
    kyiv = re.search(r'<td class="occurred_at" data-utc="([^"]+Z)">([^<]+)</td>', page)
    assert kyiv and kyiv[2].endswith(("(UTC+02:00)", "(UTC+03:00)"))
    token = i18n.use("en")
    try:
        assert kyiv[2] == labels.moment(kyiv[1])  # the UTC time written in Kyiv time
    finally:
        i18n.reset(token)
    assert '<th data-column="received_at">received</th>' in page
    # rc-4 came by an establishment: its site and app are null, an empty cell, not the word None
    assert '<td class="site_id"></td>' in page and ">None<" not in page
    assert 'aria-describedby="events-note"' in page and "The table has 25 columns;" in page
    c.get("/inspect", params={"lang": "uk"})  # the same, in Ukrainian
    try:
        uk = look(c, by="receipt", value="rc-4", reason=why).text
        assert '<td class="kind" data-code="BET">ставка <code>BET</code>' in uk
        assert "зал гральних автоматів <code>SLOT_HALL</code>" in uk and '>канал</th>' in uk
        assert re.search(r'<td class="occurred_at" data-utc="[^"]+">\d\d\.\d\d\.\d{4}, ', uk)
        assert '<td class="site_id"></td>' in uk and ">None<" not in uk
    finally:
        c.get("/inspect", params={"lang": "en"})
    # no reason: refused, and the refusal is audited too
    res = look(c, by="receipt", value="rc-4", reason="")
    assert res.status_code == 403 and "State the reason" in res.text
    looks = audit(world, "lookup")
    assert len(looks) == 13 and all(r.principal == "inspector:insp" and r.reason == why for r in looks)
    assert json.loads(looks[0].after)["value"] == "rc-4" and looks[0].entity_id == "receipt:rc-4"
    assert audit(world, "lookup_refused")[-1].principal == "inspector:insp"
    # the JSON API: the same look-up, the same audit
    res = c.post(
        "/api/lookup", headers={"x-csrftoken": csrf(c)}, json={"by": "bet", "value": "b-2", "reason": why}
    )
    assert res.status_code == 200 and [r["receipt_id"] for r in res.json()["rows"]] == ["rc-3"]
    assert len(audit(world, "lookup")) == 14


def test_law_enforcement_sees_only_its_granted_case_until_it_expires(site: tuple[World, Any]) -> None:
    world, _ = site
    reg = session(site, "board")
    expires = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
    form = {
        "csrftoken": csrf(reg),
        "case_id": "CR-2026/15",
        "granted_to": "detective",
        "operators": "op-1",
        "subjects": "P1",
        "basis": "court ruling 757/123/26",
        "expires": expires,
    }
    res = reg.post("/cases", data=form, follow_redirects=False)
    assert res.status_code == 303, res.text[:500]
    assert "granted" in reg.get(res.headers["location"]).text
    bad = reg.post("/cases", data={**form, "case_id": "CR-x", "operators": "op-404"})
    assert bad.status_code == 400 and "Unknown operator(s): op-404" in bad.text
    bad = reg.post("/cases", data={**form, "case_id": "CR-y", "granted_to": "insp"})
    assert bad.status_code == 400 and "not an active law-enforcement account" in bad.text
    assert [r.principal for r in audit(world, "case_grant")] == ["regulator:board"]

    law = session(site, "detective")
    page = law.get("/inspect").text
    assert "CR-2026/15" in page and "court ruling 757/123/26" in page
    why = "investigation 12024000000000123"
    # in scope: the subject's events at op-1 only (op-2's event of the same player stays outside)
    ok = look(law, case_id="CR-2026/15", by="player", value="P1", reason=why)
    assert ok.status_code == 200 and receipts(ok.text) == ["rc-1", "rc-2"]
    # a receipt of another operator: the query is limited to the case, so nothing is found
    assert receipts(look(law, case_id="CR-2026/15", by="receipt", value="rc-4", reason=why).text) == []
    # out of scope: another player, another operator, no case, another officer's case
    for form, message in [
        ({"by": "player", "value": "P2"}, "Player P2 is outside the scope of case CR-2026/15"),
        ({"by": "bet", "value": "b-9", "operator": "op-2"}, "Operator op-2 is outside the scope"),
        ({"by": "receipt", "value": "rc-1", "case_id": ""}, "Choose the case"),
    ]:
        res = look(law, **{"case_id": "CR-2026/15", "reason": why, **form})
        assert res.status_code == 403 and message in res.text, res.text[-2000:]
    other = session(site, "detective2")
    res = look(other, case_id="CR-2026/15", by="player", value="P1", reason=why)
    assert res.status_code == 403 and "is not granted to you" in res.text
    # expired, and withdrawn
    board = Principal("board", PrincipalRole.REGULATOR)
    CaseStore(world.registry).put(
        board,
        CaseVersion("CR-old", "detective", ("op-1",), (), "letter 1", NOW - HOUR, True, 0, ""),
        "case_grant",
        "letter 1",
    )
    res = look(law, case_id="CR-old", by="player", value="P1", reason=why)
    assert res.status_code == 403 and "Case CR-old expired on" in res.text
    res = reg.post(
        "/cases/withdraw",
        data={"csrftoken": csrf(reg), "case_id": "CR-2026/15", "reason": "ruling annulled"},
        follow_redirects=False,
    )
    assert res.status_code == 303
    res = look(law, case_id="CR-2026/15", by="player", value="P1", reason=why)
    assert res.status_code == 403 and "was withdrawn" in res.text
    looks = [
        r
        for r in world.registry.audit_entries()
        if r.principal == "law:detective" and r.action.startswith("lookup")
    ]
    assert [r.action for r in looks] == ["lookup", "lookup", *["lookup_refused"] * 5]
    assert all(json.loads(r.after).get("case_id") is not None for r in looks)
    assert world.registry.verify_audit().ok


def test_the_administrator_adds_changes_and_disables_staff(site: tuple[World, Any], tmp_path: Path) -> None:
    world, app = site
    provider = load_provider(world.folder)  # the trusted (test) provider issues the newcomer's certificate
    cert, key = provider.issue("Nadia Bilyk", "8888888899")
    (tmp_path / "nadia.crt").write_bytes(cert_pem(cert))
    from web.login.testpki import key_pem  # noqa: PLC0415

    nadia = (cert_pem(cert), key_pem(key))
    adm = session(site, "adm")
    assert (
        login(TestClient(app, base_url="http://127.0.0.1"), *nadia).status_code == 403
    )  # not yet an account

    def add(name: str, pem: bytes, role: str = "inspector") -> Any:
        # as the page's script sends it: a multipart upload, the CSRF token in the header
        return adm.post(
            "/admin/staff",
            data={"name": name, "role": role, "reason": "order 44-k of 2026-11-30"},
            files={"certificate": (f"{name}.crt", pem, "application/x-x509-ca-cert")},
            headers={"x-csrftoken": csrf(adm)},
            follow_redirects=False,
        )

    assert add("nadia", nadia[0]).status_code == 303
    row = next(s for s in StaffStore(world.registry).current() if s.name == "nadia")
    assert row.role == "inspector" and row.cert_fingerprint == fingerprint(cert)
    assert "8888888899" not in json.dumps(row.as_detail())  # only the keyed hash is kept
    c = TestClient(app, base_url="http://127.0.0.1")
    assert login(c, *nadia).headers["location"] == "/inspect"
    assert c.get("/inspect").status_code == 200
    # refusals: an untrusted provider's certificate, a duplicate, a name taken
    rogue, _k = Provider.create("Rogue QTSP").issue("X", "8888888800")
    res = add("rogue", cert_pem(rogue))
    assert res.status_code == 400 and "not issued by a trusted" in res.text
    assert "already the account nadia" in add("nadia2", nadia[0]).text
    assert "already an account named nadia" in add("nadia", nadia[0]).text
    # change the role: the next login lands in the new cabinet
    res = adm.post(
        "/admin/staff/nadia",
        data={"csrftoken": csrf(adm), "action": "role", "role": "tax", "reason": "moved to the tax unit"},
        follow_redirects=False,
    )
    assert res.status_code == 303
    assert login(TestClient(app, base_url="http://127.0.0.1"), *nadia).headers["location"] == "/tax"
    # the session opened as an inspector ends at once: back to the login page
    res = c.get("/inspect", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/login"
    # disable: login refused
    res = adm.post(
        "/admin/staff/nadia",
        data={"csrftoken": csrf(adm), "action": "disable", "reason": "left the service"},
        follow_redirects=False,
    )
    assert res.status_code == 303
    res = login(TestClient(app, base_url="http://127.0.0.1"), *nadia)
    assert res.status_code == 403 and "No cabinet is registered" in res.text
    assert "disabled" in adm.get("/admin/staff").text
    assert [v.role for v in StaffStore(world.registry).history("nadia")] == ["inspector", "tax", "tax"]
    actions = [
        (r.action, r.principal) for r in audit_all(world) if r.kind == "staff" and r.entity_id == "nadia"
    ]
    assert actions == [
        ("staff_add", "admin:adm"),
        ("staff_role", "admin:adm"),
        ("staff_disable", "admin:adm"),
    ]
    res = adm.post(
        "/admin/staff/adm", data={"csrftoken": csrf(adm), "action": "disable", "reason": "oops ..."}
    )
    assert "cannot disable your own account" in res.text
    upload_without_the_csrf_header_is_refused(site, adm)


def upload_without_the_csrf_header_is_refused(site: tuple[World, Any], adm: TestClient) -> None:
    """asgi-csrf 0.11 cannot read a multipart body's token (simonw/asgi-csrf#38): it raised a TypeError.

    Uploads carry the token in the header; a multipart POST without it, or with a wrong or forged
    one, is refused as a wrong token is (403), never a 500, and adds nothing. (Called by the staff
    test with its administrator's session: the module's logins stay under the rate limit.)
    """
    world, app = site
    pem = cert_pem(load_provider(world.folder).issue("Olha Moroz", "8888888811")[0])
    fields = {"name": "olha", "role": "inspector", "reason": "order 45-k of 2026-11-30"}
    upload = {"certificate": ("olha.crt", pem, "application/x-x509-ca-cert")}
    # the same session with a token cookie and header of its own making (not signed by the server)
    forger = TestClient(app, base_url="http://127.0.0.1")
    forged = URLSafeSerializer("not the key").dumps("x", "csrftoken")
    forger.cookies.set("dsom_session", str(adm.cookies.get("dsom_session")))
    forger.cookies.set("csrftoken", forged)
    for client, headers, data in ((adm, {}, {"csrftoken": csrf(adm)}), (adm, {"x-csrftoken": "wrong"}, {}),
                                  (forger, {"x-csrftoken": forged}, {})):
        res = client.post("/admin/staff", data={**fields, **data}, files=upload, headers=headers,
                          follow_redirects=False)
        assert res.status_code == 403 and "no valid CSRF token" in res.text, (headers, res.text[:300])
    assert "olha" not in {s.name for s in StaffStore(world.registry).current()}
    # the whole form, file and token (as the page sends it), and a file that is not a certificate
    res = adm.post("/admin/staff", data=fields, files={"certificate": ("x.crt", b"junk", "text/plain")},
                   headers={"x-csrftoken": csrf(adm)}, follow_redirects=False)
    assert res.status_code == 400 and "This certificate cannot be used" in res.text
    res = adm.post("/admin/staff", data=fields, headers={"x-csrftoken": csrf(adm)}, follow_redirects=False)
    assert res.status_code == 400 and "Choose the person" in res.text
    res = adm.post("/admin/staff", data=fields, files=upload, headers={"x-csrftoken": csrf(adm)},
                   follow_redirects=False)
    assert res.status_code == 303 and "olha" in {s.name for s in StaffStore(world.registry).current()}


def test_the_staff_file_is_imported_once_per_person(site: tuple[World, Any]) -> None:
    world, _ = site
    imported = [r.entity_id for r in audit(world, "staff_import")]
    assert {"taras", "board", "adm", "detective"} <= set(imported)
    assert all(r.principal == "system:staff-import" for r in audit(world, "staff_import"))
    assert len(imported) == len(set(imported))


def test_the_tax_officer_reads_statements_payouts_discrepancies_and_exports(site: tuple[World, Any]) -> None:
    world, _ = site
    c = session(site, "tax")
    page = c.get("/tax").text
    assert "15.00" in page and "10.00" not in page  # revision 2's GGR only (1_500 kopecks)
    # columns named, statuses labelled, rates as percent, times in Kyiv time; the data kept in data-raw
    assert '<th scope="col" data-column="ggr_tax_due">GGR tax due</th>' in page and ">None<" not in page
    assert "up to 1,000,000 rows" in page and 'The table has 20 columns;' in page  # the hidden ones announced
    uk = c.get("/tax", params={"table": "payouts", "player": "P1", "lang": "uk"}).text
    c.get("/tax", params={"lang": "en"})
    assert '<th scope="col" data-column="pit_due">ПДФО до утримання</th>' in uk
    assert '<td class="num" data-raw="180000">18\u00a0%</td>' in uk and '<td data-raw="1">так</td>' in uk
    assert '<td class="num" data-raw="4500">45,00 грн</td>' in uk
    assert re.search(r'<td data-raw="[^"]+Z">\d\d\.\d\d\.\d{4}, \d\d:\d\d:\d\d \(UTC\+0[23]:00\)</td>', uk)
    page = c.get("/tax", params={"table": "payouts", "player": "P1"}).text
    assert "rc-2" in page and "45.00" in page and "40.00" in page
    assert 'id="period"' in page and "No dates were chosen" in page  # the last 30 days, said on the page
    assert 'id="period"' not in c.get("/tax", params={"table": "payouts", "receipt": "rc-2"}).text
    assert "rc-2" in c.get("/tax", params={"table": "discrepancies"}).text
    assert "Statements are per operator" in c.get("/tax", params={"table": "statements", "player": "P1"}).text
    assert c.get("/api/tax/payouts").json()["rows"][0]["receipt_id"] == "rc-2"
    res = c.get("/api/tax/payouts.csv", params={"operator": "op-1"})
    assert res.status_code == 200 and "attachment" in res.headers["content-disposition"]
    # row 1 the machine names, row 2 their labels (money in kopecks), then the data as the data holds it
    names, shown, *rows = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))
    assert names[:2] == ["occurred_at", "receipt_id"] and shown[:2] == ["occurred", "receipt ID"]
    assert shown[names.index("pit_due")] == "PIT due, kopecks"
    assert [(r[1], r[names.index("pit_due")], r[names.index("pit_withheld")]) for r in rows] == [
        ("rc-2", "4500", "4000")]
    raw = c.get("/api/tax/payouts.csv", params={"operator": "op-1", "labels": "0"}).text
    assert raw.splitlines()[1].startswith('"20')  # ?labels=0: ClickHouse's CSV as it is, for programs
    table = pq.read_table(io.BytesIO(c.get("/api/tax/statements.parquet").content))
    assert table.column("revision").to_pylist() == [2]
    assert table.schema.field("ggr").metadata[b"label_uk"].decode() == "GGR, коп."
    exports = audit(world, "export")
    assert [(r.principal, r.kind, r.entity_id) for r in exports[-2:]] == [
        ("tax:tax", "tax", "payouts"),
        ("tax:tax", "tax", "statements"),
    ]
    assert json.loads(exports[-2].after)["operator"] == "op-1"
    assert c.get("/api/tax/bets.csv").status_code == 400
    # the tax officer's cabinet has no look-ups
    assert c.post("/inspect", data={"csrftoken": csrf(c)}).status_code == 403
