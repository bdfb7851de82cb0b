"""The registry service on SQLite and PostgreSQL: rules, history, workflow, audit, outbox."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from registry import service as registry_service
from registry.core.access import Principal, PrincipalRole
from registry.core.errors import Code, RegistryError, RegistryErrors
from registry.core.model import Status
from registry.db.engine import alembic_config, current_revision
from registry.db.tables import AuditRow, OutboxRow, VersionRow
from registry.service import RegistryService
from tests.integration.registry.conftest import T0, Clock
from tests.integration.registry.data import APP, BASE, HALL, LIC1, LIC2, OP1, OP2, REP, SITE, machine

OFFICER = Principal("olena", PrincipalRole.OFFICER)
OFFICER2 = Principal("taras", PrincipalRole.OFFICER)
REGULATOR = Principal("board", PrincipalRole.REGULATOR)
OP1_REP = Principal("rep-1", PrincipalRole.OPERATOR, "op-1")


def counts(svc: RegistryService) -> tuple[int, int, int]:
    with svc.engine.connect() as c:
        return tuple(
            c.scalar(select(func.count()).select_from(t)) or 0  # type: ignore[return-value]
            for t in (VersionRow, AuditRow, OutboxRow)
        )


def refused(call: Any, *args: Any, **kw: Any) -> list[Code]:
    with pytest.raises((RegistryError, RegistryErrors)) as e:
        call(*args, **kw)
    exc = e.value
    if isinstance(exc, RegistryErrors):
        return [x.code for x in exc.errors]
    assert isinstance(exc, RegistryError)
    return [exc.code]


def test_migrations_run_and_an_import_is_versioned_audited_and_queued(service: RegistryService) -> None:
    head = ScriptDirectory.from_config(alembic_config(service.engine)).get_current_head()
    assert head is not None and current_revision(service.engine) == head
    added = service.add(OFFICER, BASE)
    assert len(added) == len(BASE) and counts(service) == (10, 10, 10)
    reg = service.snapshot()
    op1, op2 = reg.operator("op-1"), reg.operator("op-2")
    assert op1 is not None and op2 is not None
    assert op1.equipment == ("m-1", "m-2") and op1.establishments == ("hall-1",)
    assert op2.sites == ("casino.example.ua",) and op2.apps == ("ua.example.casino",)
    assert reg.licence("op-1", "LIC-SH-1") is not None
    rep = service.show("representative", "rep-1")
    assert rep is not None and "1234567890" not in str(rep.data) and len(rep.data["tax_number_hmac"]) == 64
    assert service.verify_audit().ok


BAD: list[tuple[str, list[dict[str, Any]], Code]] = [
    ("invalid EDRPOU", [{**OP1, "operator_id": "op-3", "edrpou": "12345679"}], Code.INVALID_EDRPOU),
    ("overlapping licence", [{**LIC1, "valid_from_us": T0 - 10**12 + 5}], Code.OVERLAPPING_LICENCE),
    ("serial already registered", [machine(3, serial="SN-1")], Code.DUPLICATE_SERIAL),
    ("not a domain", [{**SITE, "domain": "casino_ua"}], Code.INVALID_DOMAIN),
    (
        "unknown operator",
        [{**HALL, "operator_id": "op-9", "establishment_id": "hall-9"}],
        Code.UNKNOWN_OPERATOR,
    ),
    (
        "another operator's licence",
        [{**SITE, "operator_id": "op-1", "domain": "x.example.ua"}],
        Code.FOREIGN_ASSET,
    ),
]


@pytest.mark.parametrize(("what", "rows", "code"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_its_code_and_writes_nothing(
    service: RegistryService, what: str, rows: list[dict[str, Any]], code: Code
) -> None:
    service.add(OFFICER, BASE)
    before = counts(service)
    # A good row beside the bad one: the whole import is refused.
    assert refused(service.add, OFFICER, [machine(7), *rows]) == [code]
    assert counts(service) == before


def test_an_import_streams_in_chunks_all_or_nothing(service: RegistryService,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``import_rows`` reads its source twice, parents first, children a chunk at a time; one bad row
    anywhere (here in the last chunk, after chunks were written) and nothing is kept."""
    monkeypatch.setattr(registry_service, "IMPORT_CHUNK", 2)
    machines = [machine(n) for n in range(1, 6)]
    reads = 0

    def source(rows: list[dict[str, Any]]) -> Any:
        def read() -> Any:
            nonlocal reads
            reads += 1
            return iter(rows)
        return read

    bad = [*machines, SITE, APP, OP1, OP2, LIC1, LIC2, HALL, machine(6, serial="SN-2"),
           machine(7, serial="SN-6")]
    # the machines come before their hall in the file; SN-2 is taken by m-2 (written two chunks before)
    assert refused(service.import_rows, OFFICER, source(bad)) == [Code.DUPLICATE_SERIAL]
    assert counts(service) == (0, 0, 0) and reads == 2
    with pytest.raises(RegistryErrors) as e:  # every bad row is reported with its line, the rule's after
        service.import_rows(OFFICER, source([*bad, {**SITE, "domain": "bad_domain"}]))
    assert [(x.code, x.line) for x in e.value.errors] == [(Code.INVALID_DOMAIN, 15)]  # fields first
    assert service.import_rows(OFFICER, source(bad[:-2])) == 12
    assert counts(service) == (12, 12, 12) and service.verify_audit().ok
    reg = service.snapshot()
    op1 = reg.operator("op-1")
    assert op1 is not None and op1.equipment == ("m-1", "m-2", "m-3", "m-4", "m-5")


def test_a_suspension_is_a_new_version_and_history_answers_as_of_any_instant(
    service: RegistryService, clock: Clock
) -> None:
    service.add(OFFICER, BASE)
    with service.engine.connect() as c:
        original = c.execute(select(VersionRow).where(VersionRow.entity_id == "LIC-SH-1")).one()
    known_before = clock.t
    suspend_from = clock.t + 1000
    v = service.sanction(
        REGULATOR, "LIC-SH-1", Status.SUSPENDED, "KRAIL 99/2026: unpaid fee", since_us=suspend_from
    )
    assert v.data["status"] == "suspended" and v.valid_from_us == suspend_from
    before = service.show("licence", "LIC-SH-1", at_us=suspend_from - 1)
    after = service.show("licence", "LIC-SH-1", at_us=suspend_from)
    assert before is not None and before.data["status"] == "active"
    assert after is not None and after.data["status"] == "suspended"
    # What the registry said before it recorded the suspension:
    then = service.show("licence", "LIC-SH-1", at_us=suspend_from, known_at_us=known_before)
    assert then is not None and then.data["status"] == "active"
    # Nothing was updated in place.
    with service.engine.connect() as c:
        assert c.execute(select(VersionRow).where(VersionRow.seq == original.seq)).one() == original
    lic = service.snapshot(at_us=suspend_from + 5).licence("op-1", "LIC-SH-1")
    # The validator's snapshot: still valid, but stopped from the suspension on (licence_suspended).
    assert lic is not None and lic.valid_to_us is None
    stop = lic.stop_at(suspend_from + 5)
    assert stop is not None and stop.status == "suspended" and stop.from_us == suspend_from
    assert lic.stop_at(suspend_from - 1) is None
    assert refused(service.sanction, OFFICER, "LIC-SH-1", Status.REVOKED, "x") == [Code.NOT_AUTHORISED]
    service.sanction(REGULATOR, "LIC-SH-1", Status.REVOKED, "KRAIL 100/2026", since_us=suspend_from + 10)
    assert refused(
        service.sanction, REGULATOR, "LIC-SH-1", Status.ACTIVE, "appeal", since_us=suspend_from + 20
    ) == [Code.INVALID_TRANSITION]


def test_the_workflow_operator_proposes_another_officer_decides(service: RegistryService) -> None:
    service.add(OFFICER, BASE)
    p = service.propose(OP1_REP, machine(5))
    assert p.state == "pending" and service.show("equipment", "m-5") is None
    assert refused(service.decide, OP1_REP, p.proposal_id, True, "mine") == [Code.NOT_AUTHORISED]
    approved = service.decide(OFFICER2, p.proposal_id, True, "certificate checked")
    assert approved.state == "approved" and service.show("equipment", "m-5") is not None
    assert refused(service.decide, OFFICER, p.proposal_id, False, "late") == [Code.ALREADY_DECIDED]
    # Four eyes: an officer's own proposal needs another officer.
    q = service.propose(OFFICER, machine(6))
    assert refused(service.decide, OFFICER, q.proposal_id, True, "ok") == [Code.FOUR_EYES]
    rejected = service.decide(OFFICER2, q.proposal_id, False, "certificate expired")
    assert rejected.state == "rejected" and service.show("equipment", "m-6") is None
    # An operator may not touch another operator's records.
    assert refused(service.propose, OP1_REP, {**APP, "store": "app_store"}) == [Code.FOREIGN_ASSET]
    assert refused(service.propose, OP1_REP, {**SITE, "operator_id": "op-1"}) == [Code.FOREIGN_ASSET]
    actions = [(a.action, a.entity_id) for a in service.audit_entries() if a.entity_id in ("m-5", "m-6")]
    assert actions == [("propose", "m-5"), ("approve", "m-5"), ("propose", "m-6"), ("reject", "m-6")]
    assert [p.state for p in service.proposals()] == ["approved", "rejected"]


def test_audit_verify_catches_an_edited_and_a_deleted_entry(service: RegistryService) -> None:
    service.add(OFFICER, [OP1, LIC1, HALL])
    service.sanction(REGULATOR, "LIC-SH-1", Status.SUSPENDED, "KRAIL 1/2026")
    entries = service.audit_entries("LIC-SH-1")
    assert [(e.action, e.principal, e.reason) for e in entries] == [
        ("add", "officer:olena", None),
        ("suspend", "regulator:board", "KRAIL 1/2026"),
    ]
    assert '"status":"active"' in entries[1].before and '"status":"suspended"' in entries[1].after
    assert service.verify_audit().ok
    with service.engine.begin() as c:
        c.execute(text("UPDATE audit_log SET reason = 'nothing happened' WHERE seq = 4"))
    report = service.verify_audit()
    assert report.problems == ["entry 4 was altered (its content does not match its hash)"]
    with service.engine.begin() as c:
        c.execute(text("UPDATE audit_log SET reason = 'KRAIL 1/2026' WHERE seq = 4"))
        c.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    problems = service.verify_audit().problems
    assert "entry 2 missing (deleted?)" in problems


def test_the_outbox_carries_each_entitys_whole_history(service: RegistryService) -> None:
    service.add(OFFICER, [OP1, LIC1])
    service.sanction(REGULATOR, "LIC-SH-1", Status.SUSPENDED, "KRAIL 2/2026")
    with service.engine.connect() as c:
        rows = c.execute(select(OutboxRow.key, OutboxRow.value).order_by(OutboxRow.seq)).all()
    assert [k for k, _ in rows] == ["operator/op-1", "licence/LIC-SH-1", "licence/LIC-SH-1"]
    assert rows[-1][1].count('"seq"') == 2  # both versions of the licence


def test_export_then_import_reproduces_the_registry(service: RegistryService, dsn: str) -> None:
    service.add(OFFICER, [OP1, LIC1, HALL, machine(1), {**REP}])
    rows = list(service.export())
    assert len(rows) == 5 and all("since_us" in r for r in rows)
    assert not any("tax_number" == k for r in rows for k in r)


def test_an_operator_reads_only_its_own_records(service: RegistryService) -> None:
    service.add(OFFICER, BASE)
    mine = service.current(who=OP1_REP)
    assert mine and {v.operator_id for v in mine} == {"op-1"}
    assert refused(service.current, operator_id="op-2", who=OP1_REP) == [Code.NOT_AUTHORISED]
