"""Fixtures for tests against the real local Kafka broker (started by ``make test``) and chdb."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Message
from confluent_kafka.admin import AdminClient

from pipeline.kafka.config import client_config
from pipeline.kafka.reader import read_to_end, topic_partitions
from pipeline.progress import Totals, scrape
from pipeline.security.bootstrap import grant_services
from pipeline.settings import REPO_ROOT, Settings
from pipeline.worker import DUMP_STACKS_SIGNAL
from registry.access_keys import access_keys

BOOTSTRAP = os.environ.get("DSOM_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092")
# Set by `make test`: the broker then requires client certificates from this PKI and
# authorizes by ACL, and every test connects as the principal it plays.
PKI = os.environ.get("DSOM_PKI_DIR")


@pytest.fixture(scope="session", autouse=True)
def kafka_broker() -> str:
    conf = {"bootstrap.servers": BOOTSTRAP}
    if PKI:
        conf = client_config(Settings(pki_dir=Path(PKI)).kafka_as("broker"))
    try:
        AdminClient(conf).list_topics(timeout=10)
    except Exception as exc:  # noqa: BLE001 - any failure means: no broker
        pytest.fail(f"no Kafka broker at {BOOTSTRAP} ({exc}); run the suite with `make test`, "
                    "which starts one")
    return BOOTSTRAP


def read_all(settings: Settings, pattern: str) -> list[Message]:
    """Every committed record of the topics matching ``pattern``, read as dsom's reader."""
    group = settings.topics.reader_group
    return list(read_to_end(settings.kafka, topic_partitions(settings.kafka, pattern, group=group),
                            group=group))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings isolated per test: own topic prefix, groups, chdb folder and registry.

    With TLS, the services' ACLs are granted for the test's prefix and the settings connect
    as the pipeline; operators connect with keys of their own (:func:`as_operator`).
    """
    s = Settings(
        kafka={"bootstrap_servers": BOOTSTRAP},
        topics={"prefix": f"t{uuid.uuid4().hex[:10]}", "ingest_partitions": 2,
                "archive_partitions": 3, "state_partitions": 3},
        clickhouse={"dsn": f"chdb://{tmp_path / 'chdb'}", "batch_max_wait_s": 0.2},
        registry_path=tmp_path / "registry.json",
        registry={"dsn": f"sqlite:///{tmp_path / 'registry.sqlite'}"},
        metrics_port=free_port(),
        dashboard_port=free_port(),
        worker_id="it-1",
        **({"pki_dir": Path(PKI)} if PKI else {}),
    )
    if not PKI:
        return s
    grant_services(s)
    return s.model_copy(update={"kafka": s.kafka_as("pipeline")})


_operator_keys: dict[tuple[str, str, bool], Settings] = {}


def as_operator(settings: Settings, operator_id: str, sandbox: bool = False) -> Settings:
    """``settings`` connecting as the operator, with an access key of its own (issued once)."""
    if not PKI:
        return settings
    cache_key = (settings.topics.prefix, operator_id, sandbox)
    if cache_key not in _operator_keys:
        keys = access_keys(settings, settings.kafka_as("admin"))
        key = keys.issue(operator_id, sandbox=sandbox)
        _operator_keys[cache_key] = settings.model_copy(
            update={"kafka": settings.kafka_with(key.cert, key.key)})
    return _operator_keys[cache_key]


def settings_env(s: Settings) -> dict[str, str]:
    return {**os.environ, **s.as_env(), "PYTHONPATH": str(REPO_ROOT)}


class Worker:
    """A ``dsom worker`` subprocess, as production runs it."""

    def __init__(self, settings: Settings, log_path: Path, args: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.log_path = log_path
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", *self.args],
                                     env=settings_env(self.settings), stdout=log, stderr=log,
                                     cwd=REPO_ROOT)

    def wait_until(self, predicate: Callable[[Totals], bool], timeout: float, what: str,
                   interval: float = 0.3) -> Totals:
        """Poll the worker's /metrics every ``interval`` s until ``predicate``; else fail with its log."""
        deadline = time.monotonic() + timeout
        last: Totals | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode} while waiting for "
                                     f"{what}; log:\n{self.log_tail()}")
            try:
                last = scrape("127.0.0.1", self.settings.metrics_port)
            except OSError:
                time.sleep(interval)
                continue
            if predicate(last):
                return last
            time.sleep(interval)
        self.dump_stacks()
        raise AssertionError(f"timed out waiting for {what}; last metrics: {last}\n"
                             f"log ({self.log_path}):\n{self.log_tail(200)}")

    def dump_stacks(self) -> None:
        """Have the worker write its threads' stacks to its log (where a stalled agent waits)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(DUMP_STACKS_SIGNAL)
            time.sleep(1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"worker ignored SIGTERM; log:\n{self.log_tail()}") from None
        return self.proc.returncode

    def log_tail(self, n: int = 60) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    w = Worker(settings, tmp_path / "worker.log")
    yield w
    if w.proc is not None and w.proc.poll() is None:
        w.proc.kill()
        w.proc.wait(10)
