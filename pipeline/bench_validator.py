"""Offline validator throughput: each engine over the same simulated records, one thread, no Kafka.

``python -m pipeline.bench_validator [--events N] [--batch-size B] [--rounds R]``: the bench's
traffic (five demo operators, 0.5 % invalid events and duplicates, a few bad records), encoded
first, then decided by each engine from fresh states, best of ``rounds``; the outputs of the
two engines are compared too, so a figure never comes from a run that decided differently.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from pipeline.core.processor import Outcome, make_processor
from pipeline.operator.fleet import demo_registry
from pipeline.operator.simulator import simulate_fleet
from pipeline.settings import TopicSettings, ValidationSettings
from schemas import EVENT_BATCH, default_codec

Record = tuple[str, int, int, bytes, bytes, int]  # topic, partition, offset, key, value, now_us


def records(events: int, batch_size: int) -> list[Record]:
    codec, topics = default_codec(), TopicSettings()
    now = time.time_ns() // 1000
    out: list[Record] = []
    sent = 0
    offsets: dict[str, int] = {}
    for op, batch in simulate_fleet(demo_registry(1), seed=7, clock=lambda: now, batch_size=batch_size,
                                    bad_share=0.005, duplicate_share=0.005):
        value = batch.raw if batch.raw is not None else codec.encode(EVENT_BATCH, {
            "operator_id": op, "source_id": batch.source_id, "sent_at_us": now, "events": batch.events})
        topic = topics.ingest(op)
        offsets[topic] = offsets.get(topic, -1) + 1
        out.append((topic, 0, offsets[topic], batch.source_id.encode(), value, now))
        sent += len(batch.events)
        if sent >= events:
            return out
    return out


def run(engine: str, recs: list[Record]) -> tuple[float, int, list[Outcome], list[Any]]:
    """Seconds to decide ``recs``, events decided, the outcomes and the states."""
    proc = make_processor(demo_registry(1), ValidationSettings(engine=engine),  # type: ignore[arg-type]
                          TopicSettings(), default_codec())
    states: dict[tuple[str, int], Any] = {}
    outs = []
    started = time.perf_counter()
    for topic, partition, offset, key, value, now in recs:
        state = states.get((topic, partition))
        if state is None:
            state = states[(topic, partition)] = proc.new_state(topic, partition)
        outs.append(proc.process(state, offset, key, value, now))
    return time.perf_counter() - started, sum(o.events_in for o in outs), outs, list(states.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    recs = records(args.events, args.batch_size)
    results: dict[str, list[Outcome]] = {}
    for engine in ("python", "native"):
        best = float("inf")
        for _ in range(args.rounds):
            seconds, events, outs, _ = run(engine, recs)
            best = min(best, seconds)
        results[engine] = outs
        print(f"{engine:>6}: {events:,} events in {len(recs)} records: {events / best:,.0f} events/s, "
              f"{best / events * 1e6:.2f} µs/event (best of {args.rounds})", flush=True)
    same = all(a == b for a, b in zip(results["python"], results["native"], strict=True))
    print(f"outputs identical: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
