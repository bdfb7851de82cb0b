"""dsom's own clients stop at once, saying what to fix, when the mTLS broker refuses their handshake."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.security.pki import CertificateAuthority
from pipeline.settings import REPO_ROOT, Settings
from tests.integration.conftest import PKI, settings_env

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not PKI, reason="needs the mTLS broker of `make test`")]


def run_dsom(env: dict[str, str], *args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env, cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120)
    return out.returncode, out.stderr, time.monotonic() - started


def test_report_without_a_client_certificate_fails_fast(settings: Settings) -> None:
    env = {k: v for k, v in settings_env(settings).items()
           if k not in ("DSOM_KAFKA__SSL_CERTIFICATE_LOCATION", "DSOM_KAFKA__SSL_KEY_LOCATION")}
    code, err, took = run_dsom(env, "report")
    assert code == 2, err
    assert "the TLS handshake failed: no client certificate is configured" in err, err
    assert "DSOM_KAFKA__SSL_CERTIFICATE_LOCATION" in err and "Traceback" not in err
    assert took < 30, took  # not the retry loop: at the first TLS alert (plus the interpreter's start)


def test_a_client_that_does_not_trust_the_broker_is_told_about_the_ca(settings: Settings,
                                                                      tmp_path: Path) -> None:
    foreign = CertificateAuthority(tmp_path / "foreign")
    foreign.ensure()
    env = {**settings_env(settings), "DSOM_KAFKA__SSL_CA_LOCATION": str(foreign.cert_path)}
    code, err, _ = run_dsom(env, "verify-archive")
    assert code == 2 and "does not trust the broker's certificate" in err, err
