"""``make backlog``: an operator back from a 30-hour outage sends its backlog while the others stream live.

The law lets an operator send, within 72 hours, what it could not send during an outage of more
than 24 hours. Here four operators stream live at ``rate`` events/s while the fifth sends
``backlog_events`` events whose times span the 30 hours it was offline, as fast as its producer
can. Measured: the live operators' latency (sent -> receipted) before and during the drain, and
the rate the backlog drains at. Everything must still be receipted once. Figures go to the
console and to ``<run dir>/backlog.json``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from pipeline.agents.app import app
from pipeline.core.partitioning import home_partition
from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
from pipeline.kafka.config import consumer_config
from pipeline.operator.fleet import demo_registry
from pipeline.operator.simulator import simulate_fleet
from pipeline.registry import Registry
from pipeline.security.bootstrap import grant_services
from pipeline.settings import HOUR_US, Settings
from pipeline.tools.bench_figures import percentile
from pipeline.tools.chaos import ChaosWorker, ReceiptWatch, Traffic, _read_receipts, experiment_settings
from pipeline.tools.chaos_plan import EventKey, Expected
from schemas import EVENT_BATCH, default_codec

OUTAGE_US = 30 * HOUR_US


def _say(text: str) -> None:
    print(text, flush=True)


def _drained(settings: Settings, topic: str, timeout: float) -> float:
    """When the validator had committed every record of ``topic`` (epoch seconds, to 0.2 s).

    Its offsets commit in the transaction that writes the records' receipts, so this is the
    moment the last receipt became visible to the operator.
    """
    group = app.get("validator").consumer_group(settings.topics)
    consumer = Consumer(consumer_config(settings.kafka, group))
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.topics.ingest_partitions)]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in parts}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = consumer.committed(parts, timeout=30)
            if all(ends[tp.partition] == 0 or tp.offset >= ends[tp.partition] for tp in done):
                return time.time()
            time.sleep(0.2)
        raise RuntimeError(f"the backlog was not drained within {timeout:.0f} s")
    finally:
        consumer.close()


def run_backlog(backlog_events: int = 200_000, rate: float = 800.0, workers: int = 2,
                run_dir: Path | None = None) -> dict[str, Any]:
    run_dir, settings = experiment_settings("backlog", run_dir)
    grant_services(settings)
    registry = demo_registry(1)
    registry.save(settings.registry_path)
    admin = settings.model_copy(update={"kafka": settings.kafka_as("admin")})
    ids = [o.operator_id for o in registry.operators]
    ensure_topics(admin, system_topics(admin) + operator_topics(admin, ids))
    late_op, live_ops = ids[2], tuple(i for i in ids if i != ids[2])
    pipeline = settings.model_copy(update={"kafka": settings.kafka_as("pipeline")})
    live = Traffic(settings, rate, seed=3, only=live_ops)
    late = Traffic(settings, rate, seed=4, only=(late_op,))
    live.prepare()
    late.prepare()
    # The live operators' receipts only: a reader shared with the backlog's queued the live
    # receipts behind it, and decoding the backlog's in this process took the CPU the live
    # reader needed (the drain is timed from the validator's offsets instead, and every
    # receipt is counted once the run is over).
    watch = ReceiptWatch(pipeline, only=live_ops)
    stop_live, stop_watch = threading.Event(), threading.Event()
    layout = ["validator,tax,sink", *["validator,tax"] * (workers - 1)]
    pool = [ChaosWorker(pipeline, i, agents, run_dir) for i, agents in enumerate(layout)]
    # The backlog, encoded before the clock starts (the hand-over then measures Kafka and the
    # pipeline, not this tool's encoder): its events span the 30 hours of the outage.
    codec = default_codec()
    backlog: list[tuple[str, bytes]] = []
    batches = max(1, backlog_events // 500)
    start_us = time.time_ns() // 1000 - OUTAGE_US
    step = OUTAGE_US // batches
    ticks = iter(range(batches + 1))
    offline = Registry(operators=tuple(o for o in registry.operators if o.operator_id == late_op))
    late_expected = Expected()
    for op, batch in simulate_fleet(offline, seed=9, batches=batches, batch_size=500, bad_share=0.0,
                                    duplicate_share=0.0, clock=lambda: start_us + next(ticks) * step):
        late_expected.add(op, batch)
        raw = batch.raw if batch.raw is not None else codec.encode(EVENT_BATCH, {
            "operator_id": op, "source_id": batch.source_id, "sent_at_us": time.time_ns() // 1000,
            "events": batch.events})
        backlog.append((batch.source_id, raw))
    try:
        for w in pool:
            w.start()
        threading.Thread(target=watch.run, args=(stop_watch,), daemon=True).start()
        live_thread = threading.Thread(target=live.run, args=(stop_live,), daemon=True)
        live_thread.start()
        while len(watch.first_seen) < 5_000:  # the pipeline is warm
            time.sleep(0.5)
        warm_at = time.time()
        time.sleep(15.0)  # a live baseline
        _say(f"== the offline operator {late_op} sends its backlog: {len(late_expected.events):,} events "
             f"spanning 30 h, at full speed, while {len(live_ops)} operators stream {rate:,.0f} events/s")
        backlog_start = time.time()
        producer = late.producers[late_op]
        for source_id, raw in backlog:
            producer.send_raw(source_id.encode(), raw)
        producer.flush(600)
        sent_s = time.time() - backlog_start
        _say(f"   handed to Kafka in {sent_s:.1f} s ({len(late_expected.events) / sent_s:,.0f} events/s)")
        drained_at = _drained(pipeline, settings.topics.ingest(late_op), timeout=1800.0)
        time.sleep(10.0)  # live traffic after the drain
        stop_live.set()
        live_thread.join()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not all(k in watch.first_seen for k in live.expected.events):
            time.sleep(0.5)
    finally:
        stop_live.set()
        for w in pool:
            w.terminate()
        stop_watch.set()
    counts, _, _, _ = _read_receipts(pipeline)

    def latencies(keys: dict[EventKey, float], since: float, until: float) -> list[float]:
        return sorted(watch.first_seen[k] - t for k, t in keys.items()
                      if since <= t < until and k in watch.first_seen)

    before = latencies(live.sent_at, warm_at, backlog_start)  # not the workers' start-up
    during = latencies(live.sent_at, backlog_start, drained_at)
    after = latencies(live.sent_at, drained_at, float("inf"))
    drain_s = drained_at - backlog_start
    # Where the slow live events were: by ingest partition, and by when they were sent.
    by_partition: dict[str, list[float]] = {}
    by_second: dict[int, list[float]] = {}
    for k, t in live.sent_at.items():
        if backlog_start <= t < drained_at and k in watch.first_seen:
            home = home_partition(k[1].encode(), settings.topics.ingest_partitions)
            by_partition.setdefault(f"{k[0]}/{home}", []).append(watch.first_seen[k] - t)
            by_second.setdefault(int((t - backlog_start) // 2) * 2, []).append(watch.first_seen[k] - t)
    expected_keys = set(live.expected.events) | set(late_expected.events)
    figures: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0]},
        "backlog_events": len(late_expected.events), "backlog_span_h": 30, "live_rate": rate,
        "backlog_handed_to_kafka_s": sent_s, "backlog_drain_s": drain_s,
        "backlog_drain_events_per_s": len(late_expected.events) / drain_s if drain_s > 0 else None,
        "live_latency_s": {name: {"events": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99),
                                  "max": v[-1] if v else None}
                           for name, v in (("before", before), ("during_drain", during), ("after", after))},
        "during_drain_by_partition": {name: {"events": len(v), "p50": percentile(sorted(v), 50),
                                             "max": max(v)} for name, v in sorted(by_partition.items())},
        "during_drain_by_sent_second": {s: {"events": len(v), "p50": percentile(sorted(v), 50), "max": max(v)}
                                        for s, v in sorted(by_second.items())},
        "receipts_missing": sum(1 for k in expected_keys if counts.get(k, 0) == 0),
        "receipts_doubled": sum(n - 1 for k, n in counts.items() if n > 1),
    }
    figures["ok"] = figures["receipts_missing"] == 0 and figures["receipts_doubled"] == 0
    (run_dir / "backlog.json").write_text(json.dumps(figures, indent=2))
    _say(json.dumps(figures, indent=1))
    return figures
