"""``dsom registry`` and ``dsom audit`` end to end, on SQLite and PostgreSQL (DSN from the environment)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select, text

from pipeline.cli import main
from pipeline.operator.fleet import demo_registry
from pipeline.registry import Registry
from registry.db.engine import make_engine
from registry.db.tables import VersionRow
from tests.integration.registry.data import LIC1, OP1


@pytest.fixture
def env(dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DSOM_REGISTRY__DSN", dsn)
    monkeypatch.setenv("DSOM_REGISTRY__TAX_NUMBER_KEY", "test-key")
    monkeypatch.setenv("DSOM_REGISTRY_PATH", str(tmp_path / "registry.json"))
    return tmp_path


def versions(dsn: str) -> int:
    engine = make_engine(dsn)
    with engine.connect() as c:
        n = c.scalar(select(func.count()).select_from(VersionRow)) or 0
    engine.dispose()
    return n


def test_seed_import_suspend_and_audit_verify(env: Path, dsn: str, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.settings import Settings
    from registry.cli import seed_database

    # `dsom registry seed` also creates topics; its database half is this function.
    snapshot = seed_database(Settings(), 1)
    demo = demo_registry(1)

    def content(reg: Registry) -> dict[str, object]:
        return {o.operator_id: (set(o.equipment), set(o.sites), set(o.apps), o.licences)
                for o in reg.operators}

    assert content(snapshot) == content(demo)
    seeded = versions(dsn)
    assert seed_database(Settings(), 1) == snapshot and versions(dsn) == seeded  # seeding twice adds nothing

    bad = env / "bad.jsonl"
    bad.write_bytes(b"\n".join(orjson.dumps(r) for r in [OP1, {**OP1, "operator_id": "op-x", "edrpou": "1"}]))
    assert main(["registry", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 2: edrpou: expected 8 digits" in err and "nothing was written" in err
    assert versions(dsn) == seeded

    good = env / "good.jsonl"
    good.write_bytes(b"\n".join(orjson.dumps(r) for r in [OP1, LIC1]))
    assert main(["registry", "import", str(good)]) == 0
    assert main(["registry", "suspend", "LIC-SH-1", "--reason", "KRAIL 5/2026"]) == 2  # an officer may not
    assert "may not suspend" in capsys.readouterr().err
    regulator = ["--as", "regulator:board"]
    assert main(["registry", "suspend", "LIC-SH-1", "--reason", "KRAIL 5/2026", *regulator]) == 0
    capsys.readouterr()
    assert main(["registry", "show", "licence", "LIC-SH-1"]) == 0
    assert orjson.loads(capsys.readouterr().out)["data"]["status"] == "suspended"
    out = env / "export.jsonl"
    assert main(["registry", "export", "--out", str(out)]) == 0
    exported = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert {r["operator_id"] for r in exported} >= {"op-1", "op-casino-hall-1"}

    assert main(["audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    engine = make_engine(dsn)
    with engine.begin() as c:
        c.execute(text("UPDATE audit_log SET principal = 'officer:nobody' WHERE seq = 3"))
    engine.dispose()
    assert main(["audit", "verify"]) == 1
    captured = capsys.readouterr()
    assert "entry 3 was altered" in captured.err and "BROKEN" in captured.out


def test_the_snapshot_file_still_loads_for_the_validator(env: Path) -> None:
    from pipeline.settings import Settings
    from registry.cli import seed_database

    seed_database(Settings(), 1).save(env / "registry.json")
    assert len(Registry.load(env / "registry.json").operators) == 5
