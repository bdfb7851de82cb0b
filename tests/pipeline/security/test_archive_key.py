"""The archive signing key: created once, owner-only, refused when exposed; its verifier exported."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.checkpoint import Checkpoint, verify_checkpoint
from pipeline.security.archive_key import (
    KEY_FILE,
    VKEY_FILE,
    ArchiveKeyError,
    init_archive_key,
    load_signer,
    load_verifier,
)
from pipeline.settings import REPO_ROOT


def test_the_key_is_created_once_owner_only_and_signs_what_its_vkey_verifies(tmp_path: Path) -> None:
    verifier, new = init_archive_key(tmp_path / "k", "dsom.test/x")
    assert new and stat.S_IMODE((tmp_path / "k" / KEY_FILE).stat().st_mode) == 0o600
    again, new = init_archive_key(tmp_path / "k", "dsom.test/x")
    assert not new and again.vkey() == verifier.vkey()  # never replaced
    note = load_signer(tmp_path / "k", "dsom.test/x").sign(Checkpoint("o/0", 1, bytes(32)).body())
    assert verify_checkpoint(note, load_verifier(tmp_path / "k" / VKEY_FILE)).size == 1


def test_a_missing_or_exposed_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveKeyError, match="run `dsom archive-key init`"):
        load_signer(tmp_path / "none", "dsom.test/x")
    init_archive_key(tmp_path / "k", "dsom.test/x")
    os.chmod(tmp_path / "k" / KEY_FILE, 0o640)
    with pytest.raises(ArchiveKeyError, match="readable by others"):
        load_signer(tmp_path / "k", "dsom.test/x")


def test_the_cli_creates_the_key_and_prints_only_the_public_half(tmp_path: Path) -> None:
    env = {**os.environ, "DSOM_ARCHIVE__KEY_DIR": str(tmp_path / "k"),
           "DSOM_ARCHIVE__ORIGIN": "dsom.test/cli"}
    run = [sys.executable, "-m", "pipeline.cli", "archive-key"]
    made = subprocess.run([*run, "init"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    shown = subprocess.run([*run, "show"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    vkey = (tmp_path / "k" / VKEY_FILE).read_text().strip()
    assert shown.stdout.strip() == vkey and vkey.startswith("dsom.test/cli+") and vkey in made.stdout
    assert "PRIVATE KEY" not in made.stdout + shown.stdout
