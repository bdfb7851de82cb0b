"""Crash points: where the chaos harness makes a process SIGKILL itself, at an exact moment.

Random SIGKILLs rarely land in a window a few milliseconds wide, such as the sink's between its
ClickHouse insert and its offset commit. The harness (``pipeline/tools/chaos.py``) arms a point
by creating a file named after it in ``Settings.crash_points_dir``; the first process that
reaches the point removes the file (atomically: one process takes it) and kills itself. Without
that setting (production) a crash point is one comparison.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)

SINK_AFTER_INSERT = "sink-after-insert"  # rows stored in ClickHouse, offsets not committed
AGENT_BEFORE_COMMIT = "agent-before-commit"  # outputs and offsets sent, transaction not committed
POINTS = (SINK_AFTER_INSERT, AGENT_BEFORE_COMMIT)


def arm(folder: Path, point: str) -> None:
    """Make the next process that reaches ``point`` kill itself there."""
    if point not in POINTS:
        raise ValueError(f"unknown crash point {point!r}; choose from {', '.join(POINTS)}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / point).touch()


def crash_point(folder: Path | None, point: str) -> None:
    """SIGKILL this process if ``point`` is armed in ``folder`` (and disarm it)."""
    if folder is None:
        return
    try:
        (folder / point).unlink()
    except FileNotFoundError:
        return
    log.warning("crash point %s reached: SIGKILL (chaos harness)", point)
    os.kill(os.getpid(), signal.SIGKILL)
