"""The registry's REST API through FastAPI's TestClient, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from registry.api import create_app
from registry.service import RegistryService
from tests.integration.registry.data import BASE, SITE, machine

OFFICER = {"X-DSOM-Principal": "officer:olena"}
OFFICER2 = {"X-DSOM-Principal": "officer:taras"}
OPERATOR = {"X-DSOM-Principal": "operator:rep-1@op-1"}
REGULATOR = {"X-DSOM-Principal": "regulator:board"}


def test_the_api_serves_openapi_and_the_workflow(service: RegistryService) -> None:
    api = TestClient(create_app(service))
    paths = api.get("/openapi.json").json()["paths"]
    assert "/registry/records" in paths and "/registry/proposals/{proposal_id}/{verdict}" in paths

    assert api.post("/registry/records", json=BASE, headers=OFFICER).status_code == 201
    r = api.post("/registry/records", json=[{**SITE, "domain": "not a domain"}], headers=OFFICER)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "invalid_domain"
    assert api.post("/registry/records", json=[machine(9)], headers=OPERATOR).status_code == 403
    assert api.get("/registry/records").status_code == 422  # no caller: refused

    p = api.post("/registry/proposals", json={"record": machine(9)}, headers=OPERATOR)
    assert p.status_code == 201 and p.json()["state"] == "pending"
    pid = p.json()["proposal_id"]
    assert (
        api.post(f"/registry/proposals/{pid}/approve", json={"reason": "ok"}, headers=OPERATOR).status_code
        == 403
    )
    r = api.post(f"/registry/proposals/{pid}/approve", json={"reason": "checked"}, headers=OFFICER2)
    assert r.status_code == 200 and r.json()["state"] == "approved"
    assert api.get("/registry/records/equipment/m-9", headers=OPERATOR).json()["data"]["serial"] == "SN-9"
    mine = api.get("/registry/records", headers=OPERATOR).json()
    assert {v["operator_id"] for v in mine} == {"op-1"}

    r = api.post("/registry/licences/LIC-OC-2/suspend", json={"reason": "KRAIL 7/2026"}, headers=REGULATOR)
    assert r.status_code == 200 and r.json()["data"]["status"] == "suspended"
    hist = api.get("/registry/records/licence/LIC-OC-2", params={"history": True}, headers=OFFICER).json()
    assert [v["data"]["status"] for v in hist] == ["active", "suspended"]
    assert api.get("/registry/records/licence/LIC-NONE", headers=OFFICER).status_code == 404
    assert api.get("/registry/audit/verify", headers=OFFICER).json()["ok"] is True
    assert api.get("/registry/audit/verify", headers=OPERATOR).status_code == 403


def test_an_operator_registers_its_writer_schema_through_the_api(service: RegistryService,
                                                                 tmp_path: Path) -> None:
    from pipeline.writer_schemas import FolderWriterSchemaStore
    from tests.schemas.test_evolution import HAMBA_TIMESTAMP_FP, batch_json, event_fields, with_timestamp

    app = create_app(service)
    store = app.state.writer_schemas = FolderWriterSchemaStore(tmp_path / "writers")
    api = TestClient(app)
    good = with_timestamp(batch_json())
    r = api.post("/registry/operators/op-1/writer-schemas", json=good, headers=OPERATOR)
    assert r.status_code == 201, r.text
    assert HAMBA_TIMESTAMP_FP in [f["wire"] for f in r.json()["fingerprints"]]
    assert store.load().get("op-1", bytes.fromhex(HAMBA_TIMESTAMP_FP)) is not None
    # Another operator's, or a schema dsom cannot read: refused, nothing kept
    other = api.post("/registry/operators/op-2/writer-schemas", json=good, headers=OPERATOR)
    assert other.status_code == 403 and other.json()["errors"][0]["code"] == "not_authorised"
    bad = batch_json()
    event_fields(bad)[0]["type"] = "string"  # seq
    r = api.post("/registry/operators/op-1/writer-schemas", json=bad, headers=OPERATOR)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "incompatible_schema"
    assert "events[].seq: written as string, dsom reads long" in r.json()["errors"][0]["message"]
    assert len(list((tmp_path / "writers").glob("*/*.avsc"))) == 1
    entries = service.audit_entries(last=5)
    assert any(e.action == "register_writer_schema" and e.entity_id == "op-1" for e in entries)


def test_rows_are_entered_through_the_served_api(service: RegistryService) -> None:
    """What `make demo` does: the API served on a thread, the rows posted to it over HTTP."""
    import socket

    from pipeline.settings import RegistrySettings, Settings
    from registry.api import Background
    from registry.seed import post_rows

    with socket.socket() as sock:  # a free port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = Background(Settings(registry=RegistrySettings(api_port=port)), service).start()
    try:
        assert post_rows(api.url, BASE, "system:demo", "demo seed") == len(BASE)
        assert {v.entity_id for v in service.current("operator")} == {"op-1", "op-2"}
        try:
            post_rows(api.url, [machine(1)], "system:demo", "again")
        except RuntimeError as exc:
            assert "409" in str(exc) and "already_registered" in str(exc)
        else:
            raise AssertionError("a second registration of m-1 was accepted")
    finally:
        api.stop()
