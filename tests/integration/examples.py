"""Run a reference client from ``examples/`` as an operator would, then check dsom's side too.

The operator's key is issued with the CLI (``dsom keys issue``), the client runs as a
subprocess with only the handed-over files and the published schemas, and the validator runs
meanwhile. Afterwards the archive must hold exactly the events the client saw accepted, once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.agents.validator import ValidatorAgent
from pipeline.archive import verify_archive
from pipeline.settings import REPO_ROOT, Settings
from schemas import RECEIPT_BATCH, default_codec
from tests.integration.conftest import read_all, settings_env
from tests.integration.test_ingest_path import seed_registry

OPERATOR = "op-online-casino-1"
LICENCE = "LIC-OC-0001"
SITE = "online-casino.example.ua"
# What every example sends: six valid events (one of each kind, two BETs) and a WIN of a bet never placed.
EXPECTED_ACCEPTED, EXPECTED_REJECTED = 6, {"unknown_bet": 1}


@dataclass(frozen=True)
class IssuedKey:
    output: str  # what `dsom keys issue` printed
    files: dict[str, Path]
    password: str


def issue_key_with_cli(settings: Settings, tmp_path: Path) -> IssuedKey:
    """``dsom keys issue`` as the regulator runs it; the files are read from what it prints."""
    password = "example-pw-" + os.urandom(6).hex()
    pw_file = tmp_path / "pkcs12-password"
    pw_file.write_text(password + "\n")
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "keys", "issue", OPERATOR,
                          "--pkcs12-password-file", str(pw_file)],
                         env=settings_env(settings), cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    labels = {"certificate (PEM)": "cert", "private key (PEM, owner-only)": "key",
              "key + certificate (PEM)": "pem", "CA certificate (PEM)": "ca", "PKCS12 keystore": "keystore",
              "PKCS12 truststore (the CA)": "truststore"}
    files = {}
    for label, name in labels.items():
        found = re.search(rf"^  {re.escape(label)}\s+(\S+)$", out.stdout, re.MULTILINE)
        assert found, f"`dsom keys issue` did not print the {label}:\n{out.stdout}"
        files[name] = Path(found.group(1))
        assert files[name].is_file(), files[name]
    assert password not in out.stdout  # chosen by the issuer: never echoed
    return IssuedKey(out.stdout, files, password)


def run_example(settings: Settings, tmp_path: Path, command: Sequence[str], cwd: Path, source: str,
                extra_env: dict[str, str]) -> str:
    """Run the client against the test broker with the validator running; return its output."""
    seed_registry(settings)
    stop = threading.Event()
    agent = threading.Thread(target=ValidatorAgent(settings).run, args=(stop,))
    agent.start()
    try:
        env = {**os.environ, "DSOM_BOOTSTRAP": settings.kafka.bootstrap_servers, "DSOM_OPERATOR": OPERATOR,
               "DSOM_PREFIX": settings.topics.prefix,
               "DSOM_INGEST_PARTITIONS": str(settings.topics.ingest_partitions),
               "DSOM_SCHEMAS": str(REPO_ROOT / "schemas" / "avro"), "DSOM_SOURCE": source,
               "DSOM_LICENCE_ID": LICENCE, "DSOM_SITE_ID": SITE, "DSOM_TIMEOUT_S": "120", **extra_env}
        proc = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    finally:
        stop.set()
        agent.join(30)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{command[0]} example failed ({proc.returncode}):\n{output}"
    return output


def check_dsom_side(settings: Settings, source: str) -> None:
    """dsom's own view: the receipts it wrote for the source, and the archive, agree with the client."""
    statuses: dict[int, list[tuple[str, str | None]]] = {}
    for msg in read_all(settings, settings.topics.receipts(OPERATOR)):
        _, batch = default_codec().decode(msg.value() or b"", expect=RECEIPT_BATCH)
        if batch["source_id"] == source:
            for r in batch["receipts"]:
                if r["status"] == "DUPLICATE":  # a retry's answer (once dsom writes them), not a decision
                    continue
                statuses.setdefault(r["seq"], []).append((r["status"], r["reason"]))
    accepted = [seq for seq, s in statuses.items() if s == [("ACCEPTED", None)]]
    assert len(accepted) == EXPECTED_ACCEPTED, statuses
    rejected = [s[0][1] for s in statuses.values() if s[0][0] == "REJECTED"]
    assert rejected == list(EXPECTED_REJECTED), statuses
    report = verify_archive(settings)  # every hash chain from genesis
    assert not report.findings, report.findings  # the chains verify
    assert report.events == EXPECTED_ACCEPTED  # the retried record added nothing
    assert max(report.event_ids.values()) == 1
