"""A worker rides out its broker's SIGKILL and restart, mid-transaction and mid-restore."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.archive import verify_archive
from pipeline.security.bootstrap import grant_services
from pipeline.settings import REPO_ROOT, Settings
from tests.integration.conftest import PKI, Worker
from tests.integration.test_ingest_path import (
    DUPLICATES,
    Expected,
    fleet,
    produce_traffic,
    read_receipts,
    seed_registry,
)

pytestmark = pytest.mark.integration
# Its own broker, 300 above the suite's (TEST_PORT) unless DSOM_TEST_OWN_BROKER_PORT says: this test kills it.
PORT = int(os.environ.get("DSOM_TEST_OWN_BROKER_PORT", int(os.environ.get("DSOM_KAFKA_PORT", "19192")) + 300))


class Broker:
    """A broker of this test's own, with the suite's PKI, that the test may kill and restart."""

    def __init__(self, run: Path) -> None:
        self.env = {**os.environ, "DSOM_RUN_DIR": str(run), "DSOM_KAFKA_PORT": str(PORT),
                    "DSOM_KAFKA_CONTROLLER_PORT": str(PORT + 1)}
        if PKI:
            self.env["DSOM_KAFKA_PKI_DIR"] = PKI
        self.pid_file = run / "kafka" / "broker.pid"

    def _run(self, command: str) -> None:
        subprocess.run([sys.executable, str(REPO_ROOT / "infra" / "kafka_local.py"), command],
                       env=self.env, check=True)

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")

    def kill(self) -> None:
        os.kill(int(self.pid_file.read_text()), signal.SIGKILL)
        time.sleep(0.5)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "own-broker")
    b.start()
    try:
        yield b
    finally:
        b.stop()


def test_the_worker_survives_broker_restarts_and_loses_nothing(settings: Settings, broker: Broker,
                                                                tmp_path: Path) -> None:
    s = settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"bootstrap_servers": f"127.0.0.1:{PORT}"}), "agent_stuck_after_s": 10.0,
        # Within the waits below: a stall (seen once after the restart) is ended by a restart.
        "agent_stalled_after_s": 90.0})
    if PKI:
        grant_services(s)
    registry = seed_registry(s)
    traffic = fleet(registry, seed=31)
    expected = produce_traffic(s, traffic, batches=300)
    worker = Worker(s, tmp_path / "worker.log", ("--agents", "validator,tax"))
    worker.start()
    try:
        # 1. The broker dies in the middle of the stream: transactions in flight fail.
        worker.wait_until(lambda t: t.events_in >= len(expected.events) // 4, 120, "a quarter processed")
        broker.kill()
        time.sleep(8)
        assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
        broker.start()
        worker.wait_until(lambda t: t.events_in >= len(expected.events), 240, "every event processed")

        # 2. The broker dies while a restarted worker restores its state from the changelog.
        produce_traffic(s, traffic, batches=100, expected=expected)
        worker.kill()
        worker.start()
        time.sleep(2.5)
        broker.kill()
        time.sleep(8)
        assert worker.proc.poll() is None, worker.log_tail()
        broker.start()
        # After the first run's events, the restarted worker counts only what it processes now.
        worker.wait_until(lambda t: t.events_in > 0 and _all_receipted(s, expected), 240,
                          "every event receipted after the second restart")
        assert worker.stop() == 0, worker.log_tail()
    finally:
        if worker.proc is not None and worker.proc.poll() is None:
            worker.proc.kill()

    counts, outcome, record_level = read_receipts(s)
    assert counts.pop(DUPLICATES) == expected.duplicates_sent
    assert set(counts) == set(expected.events) and max(counts.values()) == 1
    assert {k: outcome[k] for k in expected.events} == expected.events
    assert record_level == expected.record_reasons
    report = verify_archive(s)
    assert not report.findings, report.findings  # the chains verify
    assert set(report.event_ids) == expected.accepted and max(report.event_ids.values()) == 1
    log = worker.log_path.read_text(errors="replace")
    met = [line for line in log.splitlines() if "restarting it in" in line or "transaction failed" in line]
    print(f"faults the agents met and rode out: {len(met)}")


def _all_receipted(s: Settings, expected: Expected) -> bool:
    counts, _, _ = read_receipts(s)
    return set(counts) - {DUPLICATES} >= set(expected.events)
