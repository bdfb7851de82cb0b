"""Operators' access keys in the registry's database, on SQLite and PostgreSQL: issue, hand over
once, rotate, revoke, the JSON register of before imported once, and writers that race (threads
with an engine each, as two processes would have)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from alembic import command

from pipeline.security.keys import AccessKey, AccessKeys, BundleGone, KeyNotActive
from pipeline.security.pki import CertificateAuthority
from pipeline.settings import Settings
from registry.access_keys import KeyStore, key_store
from registry.db.engine import alembic_config, make_engine, migrate
from registry.service import RegistryService
from tests.integration.registry.conftest import Clock

REP = "operator:rep-1@op-1"


class Acls:
    """The broker's ACL calls, recorded; ``barrier`` holds each issue until that many are under way."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.granted: list[str] = []
        self.revoked: list[str] = []
        self.barrier = barrier

    def grant(self, kafka: Any, principal: str, grants: list[Any]) -> None:
        if self.barrier is not None:
            self.barrier.wait(30)
        self.granted.append(principal)

    def revoke(self, kafka: Any, principal: str) -> int:
        self.revoked.append(principal)
        return 6


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca = CertificateAuthority(tmp_path / "pki")
    ca.ensure()
    ca.ensure_operator_ca()
    return tmp_path / "pki"


def keys_over(svc: RegistryService, pki: Path, acls: Acls) -> AccessKeys:
    s = Settings(pki_dir=pki)
    return AccessKeys(pki, s.topics, s.kafka, KeyStore(svc), grant_fn=acls.grant, revoke_fn=acls.revoke)


def test_issue_hand_over_once_rotate_revoke_each_a_version_and_an_audit_entry(
    service: RegistryService, pki: Path
) -> None:
    acls = Acls()
    keys = keys_over(service, pki, acls)
    first = keys.issue("op-1", sandbox=True, pkcs12_password="pw-1", keep_password=True, by=REP)
    other = keys.issue("op-2", by="system:dsom-keys")
    assert [k.key_id for k in keys.all()] == [first.key_id, other.key_id]
    assert [k.key_id for k in keys.all("op-1")] == [first.key_id]
    assert keys.all("op-1")[0] == first and AccessKeys.bundle_ready(first)

    key, data = keys.take_bundle(first.key_id, "broker:9093", by=REP)
    assert data[:2] == b"PK" and key.handed_over_at is not None
    assert not Path(first.key).exists() and Path(first.cert).exists()
    with pytest.raises(BundleGone) as gone:
        keys.take_bundle(first.key_id, "broker:9093", by=REP)
    assert gone.value.key.handed_over_at == key.handed_over_at

    new = keys.issue(
        "op-1", sandbox=True, pkcs12_password="pw-2", keep_password=True, replaces=first.key_id, by=REP
    )
    revoked = keys.revoke(first.key_id, by=REP)
    assert revoked.state == "revoked" and revoked.revoked_at and acls.revoked == [first.principal]
    with pytest.raises(KeyNotActive):
        keys.revoke(first.key_id, by=REP)
    with pytest.raises(KeyError):
        keys.revoke("k-none", by=REP)

    store = keys.register
    assert isinstance(store, KeyStore)
    assert [(k.state, k.handed_over_at is not None) for k in store.history(first.key_id)] == [
        ("active", False),
        ("active", True),
        ("revoked", True),
    ]
    assert {k.key_id: k.state for k in keys.all("op-1")} == {first.key_id: "revoked", new.key_id: "active"}
    assert keys.all("op-1")[1].replaces == first.key_id
    entries = [(e.principal, e.action, e.entity_id) for e in service.audit_entries()]
    assert entries == [
        (REP, "key_issue", first.key_id),
        ("system:dsom-keys", "key_issue", other.key_id),
        (REP, "key_bundle", first.key_id),
        (REP, "key_rotate", new.key_id),
        (REP, "key_revoke", first.key_id),
    ]  # the refused second bundle and second revocation wrote nothing
    assert service.verify_audit().ok


def test_concurrent_issues_from_two_processes_keep_every_key(dsn: str, pki: Path) -> None:
    """Eight issues at once, each through its own engine (as separate processes): none is lost.

    The JSON register of before lost keys here: each writer read the file, added its key and
    replaced the file, so the last of writers that read together won.
    """
    engines = [make_engine(dsn) for _ in range(8)]
    migrate(engines[0])
    acls = Acls(threading.Barrier(8))  # every issue reaches the register at the same moment
    services = [RegistryService(e, b"k", Clock()) for e in engines]
    desks = [keys_over(svc, pki, acls) for svc in services]
    with ThreadPoolExecutor(8) as pool:
        issued = list(pool.map(lambda d: d.issue("op-1", sandbox=True, by=REP), desks))
    recorded = desks[0].all("op-1")
    assert len(recorded) == 8 and {k.key_id for k in recorded} == {k.key_id for k in issued}
    svc = services[0]
    assert [e.action for e in svc.audit_entries()] == ["key_issue"] * 8 and svc.verify_audit().ok
    for e in engines:
        e.dispose()


def test_a_bundle_asked_for_twice_at_once_is_handed_over_once(dsn: str, pki: Path) -> None:
    engines = [make_engine(dsn) for _ in range(4)]
    migrate(engines[0])
    desks = [keys_over(RegistryService(e, b"k", Clock()), pki, Acls()) for e in engines]
    key = desks[0].issue("op-1", sandbox=True, pkcs12_password="pw", keep_password=True, by=REP)
    start = threading.Barrier(4)

    def take(d: AccessKeys) -> bytes | str:
        start.wait(30)
        try:
            return d.take_bundle(key.key_id, "broker:9093", by=REP)[1]
        except BundleGone:
            return "gone"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(take, desks))
    assert sum(isinstance(r, bytes) for r in results) == 1 and results.count("gone") == 3
    store = desks[0].register
    assert isinstance(store, KeyStore)
    assert [k.handed_over_at is not None for k in store.history(key.key_id)] == [False, True]
    for e in engines:
        e.dispose()


def test_the_json_register_of_before_is_imported_once(service: RegistryService, pki: Path) -> None:
    old = Path(pki) / "keys.json"
    legacy = [
        AccessKey(
            "k00000001",
            "op-1",
            "op.op-1.k00000001",
            False,
            "/x/k1.crt",
            "/x/k1.key",
            "1a",
            "2027-01-01T00:00:00+00:00",
        ),
        AccessKey(
            "k00000002",
            "op-1",
            "op.op-1.k00000002",
            True,
            "/x/k2.crt",
            "/x/k2.key",
            "2b",
            "2027-01-01T00:00:00+00:00",
            state="revoked",
            revoked_at="2026-06-01T00:00:00+00:00",
        ),
    ]
    old.write_bytes(orjson.dumps([asdict(k) for k in legacy]))
    store = key_store(service, pki)
    assert store.all() == legacy
    assert not old.exists() and (pki / "keys.json.imported").exists()
    assert [(e.principal, e.action) for e in service.audit_entries()] == [
        ("system:keys-import", "key_import")
    ] * 2
    old.write_bytes(orjson.dumps([asdict(k) for k in legacy]))  # restored by hand: nothing is taken twice
    assert store.import_file(old) == [] and len(store.all()) == 2
    acls = Acls()
    keys = keys_over(service, pki, acls)
    assert keys.revoke("k00000001").state == "revoked" and acls.revoked == ["op.op-1.k00000001"]


def test_the_migration_goes_down_and_up(dsn: str) -> None:
    engine = make_engine(dsn)
    migrate(engine)
    command.downgrade(alembic_config(engine), "0002_cabinet_staff")
    migrate(engine)
    svc = RegistryService(engine, b"k", Clock())
    assert KeyStore(svc).all() == []
    engine.dispose()
