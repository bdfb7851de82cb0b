"""The alert inboxes: who sees which alert, cases acknowledged, assigned and resolved, each audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import World, csrf, login_as
from web import inbox
from web.access import Account, Role
from web.app import app_from_settings

T0 = 1_800_000_000_000_000


def alert(alert_id: str, operator_id: str, rule: str, subject: str, state: str = "OPENED",
          summary: str = "") -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "state": state,
        "rule": rule,
        "rule_version": "2020-01-01",
        "severity": "CRITICAL" if rule == "rtp_deviation" else "WARNING",
        "subject_kind": "MACHINE",
        "subject": subject,
        "operator_id": operator_id,
        "licence_kind": "ONLINE_CASINO",
        "opened_at_us": T0,
        "at_us": T0 + 60_000_000,
        "amounts": orjson.dumps({"stakes": 100}).decode(),
        "measures": orjson.dumps({"z": -4.2}).decode(),
        "summary": summary or f"summary of {alert_id}",
    }


ALERTS = [
    alert("a-rtp-op1", "op-1", "rtp_deviation", "op-1|slot-7|slots",
          summary="op-1|slot-7|slots: RTP 88.10% over 52000 spins against 96.00% certified (z = -4.20, "
                  "evidence e^14.2 against e^9.2 needed over 52000 spins)"),
    alert("a-aml-op2", "op-2", "aml_structuring", "op-2|p_SECRET02"),
    alert("a-rg-op1", "op-1", "rg_score", "op-1|p_CHASER01"),
]


class FakeStore:
    """What the sink's ``alerts`` table answers (queries.latest_alerts), in memory."""

    def latest(
        self,
        operator_id: str | None = None,
        alert_id: str | None = None,
        without_rules: tuple[str, ...] = (),
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        return [
            a
            for a in ALERTS
            if operator_id in (None, a["operator_id"])
            and alert_id in (None, a["alert_id"])
            and a["rule"] not in without_rules
        ][:limit]

    def counts(self, rules: tuple[str, ...]) -> list[dict[str, Any]]:
        return [{"operator_id": "op-1", "rule": "rg_score", "alerts": 1, "still_open": 1}]


@pytest.fixture
def app(world: World) -> Any:
    app = app_from_settings(world.settings, None, world.registry)
    app.__wrapped__.state.cabinet.alerts = FakeStore()
    return app


@pytest.fixture
def as_person(app: Any, world: World) -> Iterator[Any]:
    clients: list[TestClient] = []

    def open_as(name: str) -> TestClient:
        c = TestClient(app, base_url="http://127.0.0.1")
        c.__enter__()
        clients.append(c)
        login_as(c, world, name)
        return c

    yield open_as
    for c in clients:
        c.__exit__(None, None, None)


def act(c: TestClient, side: str, alert_id: str, action: str, note: str = "", assignee: str = "") -> Any:
    return c.post(
        f"/{side}/alerts/{alert_id}",
        follow_redirects=False,
        data={"csrftoken": csrf(c), "action": action, "note": note, "assignee": assignee},
    )


def alert_audit(world: World) -> list[tuple[str, str, str, str | None]]:
    return [
        (r.principal, r.action, r.entity_id, r.reason) for r in world.registry.audit_entries(kind="alert")
    ]


def test_the_regulator_sees_every_alert_but_player_ones_and_their_counts(as_person: Any) -> None:
    page = as_person("taras").get("/regulator/alerts").text
    assert "a-rtp-op1" in page and "a-aml-op2" in page
    assert "a-rg-op1" not in page and "p_CHASER01" not in page
    assert (
        'id="aggregates"' in page
        and '<td>op-1</td><td data-rule="rg_score">Signs of problem gambling <code>rg_score</code></td>'
        '<td class="num">1</td><td class="num">1</td>' in page
    )
    assert 'href="/regulator/alerts"' in as_person("board").get("/regulator").text


def test_the_agents_summary_is_said_in_the_readers_language(as_person: Any) -> None:
    """The agent's English sentence (kept in data-summary) said in Ukrainian, figures the Ukrainian way."""
    taras = as_person("taras")
    page = taras.get("/regulator/alerts", params={"lang": "uk"}).text
    assert ("op-1|slot-7|slots: RTP 88,10\u00a0% за 52\u00a0000 ігор проти сертифікованого 96,00\u00a0%"
            in page)
    assert 'data-summary="op-1|slot-7|slots: RTP 88.10% over 52000 spins' in page
    assert '<span lang="en">summary of a-aml-op2</span>' in page  # a sentence no template wrote: as it is
    english = taras.get("/regulator/alerts", params={"lang": "en"}).text
    assert "RTP 88.10% over 52000 spins" in english and "ігор" not in english


def test_an_operator_sees_and_acts_on_its_own_alerts_only(as_person: Any, world: World) -> None:
    rep = as_person("rep-1")
    page = rep.get("/operator/alerts").text
    assert "a-rtp-op1" in page and "p_CHASER01" in page  # its own responsible-gambling alert, per player
    assert "a-aml-op2" not in page and "p_SECRET02" not in page and 'id="aggregates"' not in page
    refused = act(rep, "operator", "a-aml-op2", "acknowledge")
    assert refused.status_code == 404 and "no such alert" in refused.text
    assert act(rep, "operator", "no-such-alert", "acknowledge").status_code == 404
    assert rep.get("/regulator/alerts").status_code == 403
    assert act(rep, "regulator", "a-rtp-op1", "resolve", "not mine").status_code == 403
    assert alert_audit(world) == []
    assert 'href="/operator/alerts"' in rep.get("/operator").text


def test_acknowledge_assign_and_resolve_are_audited_and_fold_into_the_case(
    as_person: Any, world: World
) -> None:
    officer = as_person("taras")
    assert act(officer, "regulator", "a-rtp-op1", "acknowledge").status_code == 303
    assert act(officer, "regulator", "a-rtp-op1", "assign", assignee="Oksana Melnyk").status_code == 303
    no_note = act(officer, "regulator", "a-rtp-op1", "resolve")
    assert no_note.status_code == 400 and "needs a note" in no_note.text
    assert act(officer, "regulator", "a-rtp-op1", "escalate", "x").status_code == 400
    assert (
        act(officer, "regulator", "a-rg-op1", "acknowledge").status_code == 404
    )  # a player alert: not theirs
    done = act(officer, "regulator", "a-rtp-op1", "resolve", "Lab retest booked; machine sealed.")
    assert done.status_code == 303 and done.headers["location"].startswith("/regulator/alerts?done=")
    assert alert_audit(world) == [
        ("officer:taras", "alert_acknowledge", "a-rtp-op1", None),
        ("officer:taras", "alert_assign", "a-rtp-op1", None),
        ("officer:taras", "alert_resolve", "a-rtp-op1", "Lab retest booked; machine sealed."),
    ]
    assert orjson.loads(world.registry.audit_entries(kind="alert")[1].after)["assignee"] == "Oksana Melnyk"
    assert world.registry.verify_audit().ok
    page = officer.get("/regulator/alerts?show=all").text
    row = page[page.index('data-alert="a-rtp-op1"') :]
    assert "resolved, assigned to Oksana Melnyk" in row and "Lab retest booked" in row
    # The operator's case of the same alert is its own: still new.
    rep = as_person("rep-1")
    assert 'class="case">new' in rep.get("/operator/alerts").text.split('data-alert="a-rtp-op1"')[1]
    assert (
        act(rep, "operator", "a-rg-op1", "resolve", "Player contacted; deposit limit set.").status_code == 303
    )
    assert alert_audit(world)[-1] == (
        "operator:rep-1@op-1",
        "alert_resolve",
        "a-rg-op1",
        "Player contacted; deposit limit set.",
    )


@pytest.mark.usefixtures("english")
def test_cases_fold_from_audit_rows_per_side() -> None:
    class Row:
        def __init__(self, action: str, side: str, **detail: Any) -> None:
            self.action, self.entity_id, self.principal, self.at_us = action, "a1", "p", T0
            self.after, self.reason = orjson.dumps({"side": side, **detail}).decode(), None

    rows = [
        Row("alert_assign", "regulator", assignee="Ann"),
        Row("alert_resolve", "regulator"),
        Row("alert_acknowledge", "regulator"),
        Row("alert_acknowledge", "operator"),
        Row("login", "regulator"),
    ]
    reg = inbox.cases(rows, "regulator")["a1"]
    assert (reg.status, reg.assignee, len(reg.steps)) == (
        "assigned",
        "Ann",
        3,
    )  # acknowledged again: reopened
    assert inbox.cases(rows, "operator")["a1"].status == "acknowledged"
    op = Account("rep-1", Role.OPERATOR, "op-1")
    assert inbox.may_see(op, ALERTS[2]) and not inbox.may_see(op, ALERTS[1])
    assert not inbox.may_see(Account("taras", Role.OFFICER), ALERTS[2])
    assert not inbox.may_see(Account("anna", Role.ANALYST), ALERTS[0])
    # The archive guard's alerts name no operator: the regulator's staff see them, no operator does.
    guard = alert("a-guard", "", "archive_guard", "dsom.archive|config|retention.ms")
    guard["subject_kind"] = "ARCHIVE"
    assert inbox.may_see(Account("taras", Role.OFFICER), guard) and not inbox.may_see(op, guard)
    assert inbox.refusal("assign", "", " ") == "Name the person the alert is assigned to."
    assert (
        inbox.refusal("acknowledge", "x" * 2001, "") is not None
        and inbox.refusal("acknowledge", "", "") is None
    )
