"""The brokers' CPU time, as make many-operators reads it from /proc (utime + stime)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.tools.chaos import Brokers


def test_cpu_seconds_are_the_processes_user_and_system_time(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    node = tmp_path / "kafka" / "node1"
    node.mkdir(parents=True)
    (node / "broker.pid").write_text(str(os.getpid()))  # this process stands in for a broker
    monkeypatch.setenv("DSOM_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("DSOM_KAFKA_NODES", "2")  # node 2 has no pid file: left out
    before = Brokers().cpu_s()
    sum(i * i for i in range(3_000_000))
    after = Brokers().cpu_s()
    times = os.times()
    assert after > before
    assert abs(after - (times.user + times.system)) < 0.1  # clock ticks of 10 ms, threads included
