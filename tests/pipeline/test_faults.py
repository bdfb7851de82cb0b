"""Crash points fire once, only when armed, and only in a process that reaches them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.faults import SINK_AFTER_INSERT, arm, crash_point
from pipeline.settings import REPO_ROOT


def test_an_unarmed_or_disabled_point_does_nothing(tmp_path: Path) -> None:
    crash_point(None, SINK_AFTER_INSERT)
    crash_point(tmp_path, SINK_AFTER_INSERT)  # we are still alive
    with pytest.raises(ValueError):
        arm(tmp_path, "nowhere")


def test_an_armed_point_kills_the_first_process_that_reaches_it_once(tmp_path: Path) -> None:
    arm(tmp_path, SINK_AFTER_INSERT)
    code = (f"from pathlib import Path; from pipeline.faults import crash_point; "
            f"crash_point(Path({str(tmp_path)!r}), {SINK_AFTER_INSERT!r}); print('survived')")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert first.returncode == -9 and "survived" not in first.stdout
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert second.returncode == 0 and "survived" in second.stdout
