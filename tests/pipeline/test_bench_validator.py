from pipeline.bench_validator import records, run


def test_both_engines_decide_the_bench_traffic_alike() -> None:
    recs = records(3_000, 200)
    assert len(recs) >= 15
    _, py_events, py_outs, _ = run("python", recs)
    _, native_events, native_outs, native_states = run("native", recs)
    assert py_events == native_events >= 3_000
    assert py_outs == native_outs
    assert sum(st.memory()["open_bets"] for st in native_states) > 100
