"""pipeline.bench_offline runs every stage over simulated records."""

import sys

import pytest

from pipeline import bench_offline


def test_the_offline_harness_times_every_stage(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["bench_offline", "--events", "3000"])
    bench_offline.main()
    out = capsys.readouterr().out
    simulated = int(out.split(" events simulated")[0])
    assert 3000 <= simulated < 3600  # whole records of 500 events
    lines = [line for line in out.splitlines() if "µs per event in" in line]
    assert [line.split("  ")[0] for line in lines] == [
        "tax agent: process_record", "sink: archive header (raw path)", "sink: receipts -> rejections",
        "sink: tax-events -> tax_events", "sink: archive decoded in Python (resume path)"]
    assert all(float(line.split("µs")[0].split()[-1]) > 0 for line in lines)
