"""The web application without a browser: login by QES for every role, the refusals, and the route table."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import PEOPLE, World, csrf, form_fields, login, login_as, make_world
from tests.web.test_proofs import FakeArchive
from web.access import HOME, POLICY, PUBLIC, Role
from web.app import app_from_settings, route_table
from web.login.demo import Person, make_people, revoke
from web.login.testpki import Provider, cert_pem, key_pem
from web.proofs import archive_proofs

REFUSED = "not part of your cabinet"


def audit_actions(world: World) -> list[tuple[str, str]]:
    return [(r.principal, r.action) for r in world.registry.audit_entries()]


@pytest.mark.parametrize("name", [p.name for p in PEOPLE])
def test_every_role_logs_in_and_lands_on_its_cabinet(client: TestClient, world: World, name: str) -> None:
    person = next(p for p in PEOPLE if p.name == name)
    res = login_as(client, world, name)
    assert res.headers["location"] == HOME[Role(person.role)]
    cookie = res.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert audit_actions(world)[-1][1] == "login" and name in audit_actions(world)[-1][0]
    if person.role in ("operator", "officer", "regulator", "inspector", "admin", "law"):
        page = client.get(HOME[Role(person.role)])
        assert page.status_code == 200 and person.display_name in page.text


def test_refusals_are_clear_and_audited(tmp_path: Path) -> None:
    world = make_world(tmp_path, crl_refresh_s=0)
    client = TestClient(app_from_settings(world.settings, None, world.registry), base_url="http://127.0.0.1")
    cert, key = world.files("rep-1")
    # a tampered signature
    res = login(client, cert, key, tamper=True)
    assert res.status_code == 403 and "does not match the certificate" in res.text
    # a replayed challenge: a good login, then the same challenge again
    challenge = form_fields(client.get("/login").text)["challenge"]
    assert login(client, cert, key, challenge=challenge).status_code == 303
    res = login(client, cert, key, challenge=challenge)
    assert res.status_code == 403 and "already used" in res.text
    # another provider's certificate
    other = Provider.create("Rogue QTSP")
    ocert, okey = other.issue("Olena Petrenko", "1111111111", "14360570")
    res = login(client, cert_pem(ocert), key_pem(okey))
    assert res.status_code == 403 and "not issued by a trusted" in res.text
    # a good certificate of a person nobody registered
    make_people(
        world.folder,
        [Person("stranger", "S. Tranger", "operator", "9999999999", "op-1")],
        b"not-the-registry-key",
    )
    res = login(client, *world.files("stranger"))
    assert res.status_code == 403 and "No cabinet is registered" in res.text
    # revoked: on the provider's CRL
    revoke(world.folder, ["rep-1"])
    res = login(client, cert, key)
    assert res.status_code == 403 and "has been revoked" in res.text
    refused = [r for r in world.registry.audit_entries() if r.action == "login_refused"]
    assert len(refused) == 5 and all(r.principal == "system:cabinet-login" for r in refused)
    assert '"revoked"' in refused[-1].after
    assert world.registry.verify_audit().ok


def test_login_attempts_are_rate_limited(tmp_path: Path) -> None:
    world = make_world(tmp_path, login_attempts_per_minute=2)
    client = TestClient(app_from_settings(world.settings, None, world.registry), base_url="http://127.0.0.1")
    cert, key = world.files("taras")
    assert [login(client, cert, key, tamper=True).status_code for _ in range(3)] == [403, 403, 429]
    assert "Too many login attempts" in login(client, cert, key).text


def test_csrf_and_cookies(client: TestClient, world: World) -> None:
    login_as(client, world, "rep-1")
    # no CSRF token: refused before the route runs, nothing proposed
    res = client.post(
        "/operator/proposals", data={"what": "site", "domain": "a.example.ua", "licence_id": "LIC-1"}
    )
    assert res.status_code == 403 and "CSRF" in res.text
    assert world.registry.proposals("op-1") == []
    # with the token: proposed
    res = client.post(
        "/operator/proposals",
        data={"csrftoken": csrf(client), "what": "site", "domain": "a.example.ua", "licence_id": "LIC-1"},
        follow_redirects=False,
    )
    assert res.status_code == 303 and len(world.registry.proposals("op-1")) == 1
    # a session cookie edited to claim another user is not accepted: back to the login page
    value = client.cookies.get("dsom_session")
    assert value is not None
    payload, _, rest = value.partition(".")
    forged = (
        base64.b64encode(base64.b64decode(payload + "==").replace(b"rep-1", b"taras")).decode().rstrip("=")
    )
    client.cookies.set("dsom_session", f"{forged}.{rest}")
    res = client.get("/operator", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/login"


def test_an_operator_cannot_reach_another_operators_data(client: TestClient, world: World) -> None:
    login_as(client, world, "rep-1")
    headers = {"x-csrftoken": csrf(client)}
    assert client.get("/registry/records", params={"operator_id": "op-2"}).status_code == 403
    mine = client.get("/registry/records").json()
    assert mine and {r["operator_id"] for r in mine} == {"op-1"}
    res = client.post(
        "/registry/proposals",
        headers=headers,
        json={
            "record": {"kind": "site", "operator_id": "op-2", "domain": "b.example.ua", "licence_id": "LIC-2"}
        },
    )
    assert res.status_code == 403 and res.json()["errors"][0]["code"] == "foreign_asset"
    res = client.post(
        "/operator/proposals",
        data={
            "csrftoken": csrf(client),
            "what": "json",
            "record": '{"kind": "site", "operator_id": "op-2", "domain": "c.example.ua", '
            '"licence_id": "LIC-2"}',
        },
    )
    assert "may only propose changes to its own records" in res.text
    assert world.registry.proposals("op-2") == []


def test_four_eyes_through_the_cabinets(client: TestClient, world: World) -> None:
    login_as(client, world, "taras")  # an officer proposes...
    res = client.post(
        "/registry/proposals",
        headers={"x-csrftoken": csrf(client)},
        json={
            "record": {"kind": "site", "operator_id": "op-1", "domain": "d.example.ua", "licence_id": "LIC-1"}
        },
    )
    assert res.status_code == 201
    pid = res.json()["proposal_id"]
    res = client.post(
        f"/regulator/proposals/{pid}", data={"csrftoken": csrf(client), "verdict": "approve", "reason": "ok"}
    )
    assert "proposed this change and may not decide it" in res.text  # ...and may not approve it himself
    client.post("/logout", data={"csrftoken": csrf(client)})
    login_as(client, world, "oksana")
    res = client.post(
        f"/regulator/proposals/{pid}",
        data={"csrftoken": csrf(client), "verdict": "approve", "reason": "checked"},
        follow_redirects=False,
    )
    assert res.status_code == 303 and world.registry.proposals()[-1].state == "approved"
    audit = client.get("/audit").text
    assert "officer:oksana" in audit and "approve" in audit


def _fill(path: str) -> str:
    return re.sub(
        r"\{[^}]+\}",
        lambda m: {
            "{proposal_id}": "1",
            "{verdict}": "approve",
            "{action}": "suspend",
            "{kind}": "licence",
            "{table}": "payouts",
            "{name}": "taras",
        }.get(m.group(0), "x"),
        path,
    )


def test_every_route_has_a_rule_and_each_role_gets_exactly_its_rule(world: World) -> None:
    """The route x role table, generated from the application's own routes."""
    app = app_from_settings(world.settings, None, world.registry)
    # the archive in memory: this table is about who may call a route, not about reading Kafka
    app.__wrapped__.dependency_overrides[archive_proofs] = FakeArchive
    routes = route_table(app)
    assert len(routes) > 20
    missing = [r for r in routes if r not in POLICY]
    assert not missing, f"routes without a rule in web.access.POLICY: {missing}"
    assert set(POLICY) <= set(routes), f"rules for routes that do not exist: {set(POLICY) - set(routes)}"
    table: list[tuple[str, str, str, bool]] = []
    for name, role in [
        ("rep-1", Role.OPERATOR),
        ("taras", Role.OFFICER),
        ("board", Role.REGULATOR),
        ("analyst", Role.ANALYST),
        ("tax", Role.TAX),
        ("insp", Role.INSPECTOR),
        ("adm", Role.ADMIN),
        ("detective", Role.LAW),
    ]:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            login_as(client, world, name)
            for method, path in routes:
                if path in ("/login", "/logout"):
                    continue
                res = client.request(
                    method,
                    _fill(path),
                    headers={"x-csrftoken": csrf(client)},
                    json={},
                    follow_redirects=False,
                )
                allowed = POLICY[(method, path)] == PUBLIC or role in POLICY[(method, path)]
                table.append((method, path, role.value, allowed))
                assert (REFUSED in res.text) != allowed, (method, path, role, res.status_code, res.text[:300])
    with TestClient(app, base_url="http://127.0.0.1") as anonymous:
        for method, path in routes:
            if POLICY[(method, path)] != PUBLIC:
                res = anonymous.request(method, _fill(path), follow_redirects=False)
                assert res.status_code in (303, 401), (method, path, res.status_code)
    assert {role for _m, _p, role, _a in table} == {r.value for r in Role}  # every role in the table
    assert len(table) == len(Role) * (len(routes) - 3)
