"""Writer schemas registered through the CLI land where the validator loads them; bad ones do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.writer_schemas import FolderWriterSchemaStore
from tests.schemas.test_evolution import HAMBA_TIMESTAMP_FP, batch_json, event_fields, with_timestamp


def test_register_checks_keeps_and_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "writers"
    monkeypatch.setenv("DSOM_WRITER_SCHEMAS_DIR", str(folder))
    good = tmp_path / "go.avsc"
    good.write_text(json.dumps(with_timestamp(batch_json())))
    assert main(["schema", "register", "--operator", "op-a", str(good)]) == 0
    out = capsys.readouterr().out
    assert f"fingerprint {HAMBA_TIMESTAMP_FP} (as on the wire; Java prints 16da89c4f4b73240)" in out
    store = FolderWriterSchemaStore(folder)
    assert store.load().get("op-a", bytes.fromhex(HAMBA_TIMESTAMP_FP)) is not None
    changed = store.changed_at()
    assert changed > 0

    bad = batch_json()
    event_fields(bad)[0]["type"] = "string"  # seq
    path = tmp_path / "bad.avsc"
    path.write_text(json.dumps(bad))
    assert main(["schema", "register", "--operator", "op-a", str(path)]) == 1
    assert "events[].seq: written as string, dsom reads long" in capsys.readouterr().err
    assert main(["schema", "register", "--operator", "../etc", str(good)]) == 1
    assert len(list(folder.glob("*/*.avsc"))) == 1

    # A file broken by hand after registration is skipped when loading, not fatal
    next(folder.glob("*/*.avsc")).write_text(json.dumps(bad))
    assert len(store.load()) == 0
