"""The proofs API: who may ask for what, and that what it answers verifies with the standalone tool."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from pipeline.archive_logs import Records
from pipeline.core.archive_log import archive_partition, log_origin, record_leaf
from pipeline.core.checkpoint import Checkpoint, Signer, Verifier
from pipeline.core.merkle import MerkleTree
from pipeline.settings import REPO_ROOT, Settings
from tests.sinks.clickhouse.samples import archive_batch, event
from tests.web.conftest import World, login_as
from web.proofs import ArchiveProofs, archive_proofs

S = Settings()
PARTITION = archive_partition("op-1", S.topics.archive_partitions)
SIGNER = Signer(S.archive.origin, Ed25519PrivateKey.generate())


class FakeArchive(ArchiveProofs):
    """One archive partition in memory: op-1's records and one of op-2's, signed at 2 and 4 records."""

    def __init__(self) -> None:
        super().__init__(S)
        self.log = [(o, b"dsom.ingest.op-1/0", archive_batch([event(seq=o + 1)], first_index=o + 1,
                                                             operator_id="op-1" if o != 2 else "op-2"))
                    for o in range(4)]
        tree = MerkleTree()
        for offset, key, value in self.log:
            tree.append(record_leaf(PARTITION, offset, key, value))
        origin = log_origin(S.archive.origin, S.topics.archive, PARTITION)
        self.signed = [SIGNER.sign(Checkpoint(origin, n, tree.root(n)).body()) for n in (2, 4)]

    def verifier(self) -> Verifier:
        return SIGNER.verifier

    def notes(self) -> list[tuple[str, str]]:
        return [(f"checkpoints {PARTITION}@{i}", n) for i, n in enumerate(self.signed)]

    def records(self, partition: int) -> Records:
        return iter(self.log if partition == PARTITION else [])


@pytest.fixture
def api(client: TestClient) -> Iterator[TestClient]:
    client.app.__wrapped__.dependency_overrides[archive_proofs] = FakeArchive  # type: ignore[attr-defined]
    yield client


def _verify(tmp: Path, doc: dict[str, object]) -> subprocess.CompletedProcess[str]:
    (tmp / "k.vkey").write_text(SIGNER.verifier.vkey())
    (tmp / "p.json").write_text(json.dumps(doc))
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "verify_proof.py"), "--vkey",
                           str(tmp / "k.vkey"), str(tmp / "p.json")],
                          capture_output=True, text=True, timeout=30, check=False)


def test_an_operator_proves_its_own_receipts_only(api: TestClient, world: World, tmp_path: Path) -> None:
    assert api.get("/api/proofs/inclusion/r-00000002").status_code == 401  # not logged in
    login_as(api, world, "rep-1")
    res = api.get("/api/proofs/inclusion/r-00000002")
    assert res.status_code == 200 and res.json()["leaf_index"] == 1 and res.json()["tree_size"] == 4
    ok = _verify(tmp_path, res.json())
    assert ok.returncode == 0 and "receipt r-00000002 is in record 1" in ok.stdout, ok.stderr
    other = api.get("/api/proofs/inclusion/r-00000003")  # op-2's record: as if it did not exist
    assert other.status_code == 404
    assert other.json()["error"] == ("Receipt r-00000003: The receipt is in no archive record covered by a "
                                     "checkpoint yet (unknown, rejected, or newer than the last checkpoint): "
                                     "retry after the next checkpoint.")
    asked = api.get("/api/proofs/inclusion/r-00000003?operator=op-2")
    assert asked.status_code == 403 and "its own receipts only" in asked.json()["error"]


def test_regulator_staff_prove_any_receipt(api: TestClient, world: World) -> None:
    asked = []
    for name, receipt in [("board", "r-00000003"), ("taras", "r-00000002"), ("analyst", "r-00000002"),
                          ("tax", "r-00000002"), ("rep-2", "r-00000002")]:
        login_as(api, world, name)  # one session after the other, on one application
        asked.append((name, api.get(f"/api/proofs/inclusion/{receipt}").status_code))
    assert asked == [("board", 200), ("taras", 200), ("analyst", 403), ("tax", 403), ("rep-2", 404)]


def test_checkpoints_key_and_consistency_for_anyone_logged_in(api: TestClient, world: World,
                                                              tmp_path: Path) -> None:
    login_as(api, world, "tax")
    assert api.get("/api/proofs/key").text.strip() == SIGNER.verifier.vkey()
    [latest] = api.get("/api/proofs/checkpoints").json()["checkpoints"]
    assert latest["partition"] == PARTITION and latest["size"] == 4
    cons = api.get(f"/api/proofs/consistency/{PARTITION}?old=2")
    assert cons.status_code == 200
    ok = _verify(tmp_path, cons.json())
    assert ok.returncode == 0 and "extends its signed tree of 2" in ok.stdout, ok.stderr
    missing = api.get(f"/api/proofs/consistency/{PARTITION}?old=3")
    assert missing.status_code == 404
    assert "no checkpoint of size 3; its signed sizes: 2, 4" in missing.json()["error"]
    assert api.get(f"/api/proofs/consistency/{PARTITION + 1}?old=2").status_code == 404
