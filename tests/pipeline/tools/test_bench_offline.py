"""pipeline.tools.bench_offline runs every stage over simulated records."""

import sys

import pytest

from pipeline.tools import bench_offline


def test_the_offline_harness_times_every_stage(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["bench_offline", "--events", "3000", "--rounds", "1"])
    bench_offline.main()
    out = capsys.readouterr().out
    simulated = int(out.split("events simulated")[0].splitlines()[-1])
    assert 3000 <= simulated < 3600  # whole records of 500 events
    assert "validator outputs identical in both engines: yes" in out
    assert "bytes per open bet" in out
    lines = [line for line in out.splitlines() if "µs per event in" in line]
    assert [line.split("  ")[0] for line in lines] == [
        "validator, python engine", "validator, native engine",
        "tax agent: process_record", "sink: archive header (raw path)", "sink: receipts -> rejections",
        "sink: tax-events -> tax_events", "sink: archive decoded in Python (resume path)"]
    assert all(float(line.split("µs")[0].split()[-1]) > 0 for line in lines)
    alerts = [line for line in out.splitlines() if "µs CPU per event (engines alternated)" in line]
    assert [line.split("  ")[0] for line in alerts] == [
        "alerts: archive read, python reader", "alerts: read + watch + drain, python reader",
        "alerts: archive read, native reader", "alerts: read + watch + drain, native reader"]


def test_both_engines_decide_the_bench_traffic_alike() -> None:
    recs = bench_offline.ingest_records(3_000, 200)
    assert len(recs) >= 15
    _, py_events, py_outs, _ = bench_offline.validate("python", recs)
    _, native_events, native_outs, native_states = bench_offline.validate("native", recs)
    assert py_events == native_events >= 3_000
    assert py_outs == native_outs
    assert sum(st.memory()["open_bets"] for st in native_states) > 100
