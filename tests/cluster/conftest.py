"""The three-broker cluster as a fixture: started for the session, always stopped again.

Collected only when ``DSOM_KAFKA_NODES`` asks for a cluster (``make test`` runs this folder so,
with its own ports, data folder and PKI); without it these tests are not collected at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pipeline.settings import REPO_ROOT

NODES = int(os.environ.get("DSOM_KAFKA_NODES", "1"))
if NODES < 3:
    collect_ignore_glob = ["test_*.py"]

KAFKA_LOCAL = [sys.executable, str(REPO_ROOT / "infra" / "kafka_local.py")]


def _bootstrap() -> str:
    done = subprocess.run([*KAFKA_LOCAL, "bootstrap"], check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[str]:
    """Bootstrap servers of a running local cluster (replication factor 3, min.insync.replicas 2).

    Ports and folders come from ``DSOM_KAFKA_PORT`` / ``DSOM_KAFKA_CONTROLLER_PORT`` /
    ``DSOM_RUN_DIR``; the environment of the session then points dsom's settings at it.
    """
    bootstrap = _bootstrap()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DSOM_KAFKA__BOOTSTRAP_SERVERS", bootstrap)
        mp.setenv("DSOM_TOPICS__REPLICATION_FACTOR", "3")
        mp.setenv("DSOM_TOPICS__MIN_INSYNC_REPLICAS", "2")
        subprocess.run([*KAFKA_LOCAL, "start"], check=True)
        try:
            yield bootstrap
        finally:
            subprocess.run([*KAFKA_LOCAL, "stop"], check=False)
