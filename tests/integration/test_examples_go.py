"""The Go reference client (examples/go: franz-go + hamba/avro) against the real broker."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.settings import REPO_ROOT, Settings
from schemas.codec import EVENT_BATCH, load_type
from tests.integration.examples import check_dsom_side, issue_key_with_cli, run_example

pytestmark = pytest.mark.integration
PROJECT = REPO_ROOT / "examples" / "go"
BINARY = PROJECT / "dsom-example"


def go_command() -> str:
    # Go's tarball installs to /usr/local/go, which a non-login shell may not have on PATH.
    fallback = "/usr/local/go/bin/go"
    found = shutil.which("go") or (fallback if os.access(fallback, os.X_OK) else None)
    if found is None:
        pytest.skip("the Go example needs the go command (1.26+) on PATH or in /usr/local/go/bin")
    return found


def build() -> Path:
    """``go build``, unless the binary is newer than every source (Go caches modules and builds)."""
    go = go_command()
    sources = [PROJECT / "go.mod", PROJECT / "go.sum", *PROJECT.glob("*.go")]
    if not BINARY.exists() or BINARY.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        out = subprocess.run([go, "build", "-o", BINARY.name, "."], cwd=PROJECT, capture_output=True,
                             text=True, timeout=900)
        assert out.returncode == 0, f"go build failed:\n{out.stdout}\n{out.stderr}"
    return BINARY


def test_the_go_example_sends_retries_and_reconciles(settings: Settings, tmp_path: Path) -> None:
    binary = build()
    key = issue_key_with_cli(settings, tmp_path)
    output = run_example(settings, tmp_path, [str(binary)], PROJECT, "go-example", {
        "DSOM_CERT": str(key.files["cert"]), "DSOM_KEY": str(key.files["key"]),
        "DSOM_CA": str(key.files["ca"])})
    assert "reconciled 7 events of source go-example: 6 accepted, 1 rejected" in output, output
    assert "0 mismatches" in output, output
    # hamba/avro's CRC64AvroLE fingerprint is the wire order dsom uses.
    assert f"EventBatch fingerprint (wire bytes): {load_type(EVENT_BATCH).fingerprint.hex()}" in output
    check_dsom_side(settings, "go-example")
