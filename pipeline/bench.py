"""``make bench``: end-to-end throughput of the pipeline against the machine's decode ceiling.

Phases, each printed as it runs:
1. preload the ingest topics with simulated traffic (all kinds, all licence kinds, a small
   share of duplicates and invalid events), each operator with its own access key;
2. the ceiling: a plain consume-and-decode loop over the same records (no validation, no sinks);
3. the pipeline: one worker process (validator, tax, ClickHouse sink) from the first record
   read to the last accepted event queryable in ClickHouse (and so archived before it);
4. the check: ClickHouse holds exactly the valid unique events, or the bench fails loudly.
Figures go to the console and to ``.run/bench/bench.json``.
Not measured yet: the live-rate latency phase (produce → queryable, p50/p99) of issue 5.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from pydantic import SecretStr

from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
from pipeline.kafka.config import client_config
from pipeline.kafka.reader import topic_partitions
from pipeline.operator.fleet import demo_registry
from pipeline.operator.producer import OperatorProducer
from pipeline.operator.simulator import simulate_fleet
from pipeline.progress import scrape
from pipeline.security.bootstrap import grant_services
from pipeline.security.keys import AccessKeys
from pipeline.settings import REPO_ROOT, ClickHouseSettings, KafkaSettings, Settings, TopicSettings
from schemas import EVENT_BATCH, default_codec
from sinks.clickhouse.client import connect

RUN = REPO_ROOT / ".run" / "bench"


def _say(text: str) -> None:
    print(text, flush=True)


def preload(settings: Settings, events: int, batch_size: int) -> tuple[int, int, float]:
    """Produce simulated traffic; return (records, expected accepted events, seconds)."""
    registry = demo_registry(1)
    registry.save(settings.registry_path)
    admin = settings.model_copy(update={"kafka": settings.kafka_as("admin")})
    ops = [o.operator_id for o in registry.operators]
    ensure_topics(admin, system_topics(admin) + operator_topics(admin, ops))
    keys = AccessKeys(settings.pki_dir, settings.topics, admin.kafka)
    producers = {}
    for op in ops:
        key = keys.issue(op)
        kafka = settings.kafka_with(key.cert, key.key)
        producers[op] = OperatorProducer(settings.model_copy(update={"kafka": kafka}), op)
    traffic = simulate_fleet(registry, seed=7, batch_size=batch_size, bad_share=0.005,
                             duplicate_share=0.005)
    codec = default_codec()
    encoded = []  # encode first, so the produce figure is Kafka's, not the simulator's
    sent = accepted = 0
    for op, batch in traffic:
        value = batch.raw if batch.raw is not None else codec.encode(EVENT_BATCH, {
            "operator_id": op, "source_id": batch.source_id, "sent_at_us": time.time_ns() // 1000,
            "events": batch.events})
        encoded.append((op, batch.source_id.encode(), value))
        sent += len(batch.events)
        accepted += sum(1 for status, _ in batch.expected.values() if status == "ACCEPTED")
        if sent >= events:
            break
    started = time.perf_counter()
    for op, record_key, value in encoded:
        producers[op].send_raw(record_key, value)
    for p in producers.values():
        p.flush(120)
    return len(encoded), accepted, time.perf_counter() - started


def ceiling(settings: Settings) -> tuple[int, float]:
    """A plain consume-and-decode loop over every ingest record; return (events, seconds)."""
    kafka = settings.kafka_as("pipeline")
    group = settings.topics.reader_group
    tps = topic_partitions(kafka, settings.topics.ingest_pattern, group=group)
    consumer = Consumer(client_config(kafka, **{
        "group.id": group, "enable.auto.commit": False, "enable.partition.eof": True,
        "fetch.queue.backoff.ms": 10}))
    consumer.assign([TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in tps])
    codec = default_codec()
    pending = {(tp.topic, tp.partition) for tp in tps}
    events = 0
    started = last = 0.0
    while pending:
        for msg in consumer.consume(1000, timeout=1.0):
            started = started or time.perf_counter()  # from the first record, like the pipeline
            if msg.error() is not None:
                pending.discard((msg.topic(), msg.partition()))
                continue
            try:
                _, batch = codec.decode(msg.value() or b"")
                events += len(batch["events"])
            except ValueError:
                pass
            last = time.perf_counter()
    elapsed = last - started
    consumer.close()
    return events, elapsed


def _start_worker(settings: Settings, worker_id: str, agents: str,
                  metrics_port: int) -> subprocess.Popen[bytes]:
    own = settings.model_copy(update={"kafka": settings.kafka_as("pipeline"), "worker_id": worker_id,
                                      "metrics_port": metrics_port})
    log = (RUN / f"{worker_id}.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--agents", agents],
                            cwd=REPO_ROOT, env={**os.environ, **own.as_env(), "PYTHONPATH": str(REPO_ROOT)},
                            stdout=log, stderr=subprocess.STDOUT)


def pipeline_run(settings: Settings, accepted: int, workers: int) -> dict[str, Any]:
    """Run workers until ClickHouse holds every accepted event; return timings and memory.

    The first worker runs every agent (it owns the chdb folder); extra workers join the
    validator and tax consumer groups only.
    """
    proc = _start_worker(settings, "bench-1", "validator,tax,sink", settings.metrics_port)
    extra = [_start_worker(settings, f"bench-{i}", "validator,tax", 0) for i in range(2, workers + 1)]
    first = done = None
    peak_kib = 0
    try:
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"worker died with {proc.returncode}; see {RUN / 'bench-1.log'}")
            try:
                t = scrape(settings.metrics_host, settings.metrics_port)
            except OSError:
                time.sleep(0.2)
                continue
            now = time.monotonic()
            peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
            if first is None and t.events_in > 0:
                first = now
            if t.clickhouse_rows["events"] >= accepted:
                done = now
                break
            time.sleep(0.1)
    finally:
        peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
        for p in (proc, *extra):
            p.send_signal(signal.SIGTERM)
        for p in (proc, *extra):
            p.wait(120)
    if first is None or done is None:
        raise SystemExit("the pipeline did not finish within 30 minutes")
    return {"seconds": done - first, "peak_rss_mib": peak_kib / 1024}


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_bench(events: int, batch_size: int, workers: int = 1) -> int:
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=os.environ.get("DSOM_KAFKA__BOOTSTRAP_SERVERS",
                                                             "127.0.0.1:19292")),
        topics=TopicSettings(prefix=f"bench{int(time.time())}"),
        clickhouse=ClickHouseSettings(dsn=SecretStr(f"chdb://{RUN / 'chdb'}")),
        registry_path=RUN / "registry.json",
        pki_dir=Path(os.environ.get("DSOM_PKI_DIR", RUN / "pki")),
    )
    RUN.mkdir(parents=True, exist_ok=True)
    grant_services(settings)
    _say(f"== preloading {events:,} events in batches of {batch_size} (mTLS, 5 operators)")
    records, accepted, produce_s = preload(settings, events, batch_size)
    _say(f"   {records:,} records produced in {produce_s:.1f} s ({events / produce_s:,.0f} events/s); "
         f"{accepted:,} events must be accepted")
    _say("== ceiling: consume + decode only")
    decoded, ceiling_s = ceiling(settings)
    _say(f"   {decoded:,} events in {ceiling_s:.1f} s ({decoded / ceiling_s:,.0f} events/s)")
    _say(f"== pipeline: {workers} worker process(es) (validator and tax in each; the ClickHouse sink "
         "in the first), until ClickHouse holds all")
    run = pipeline_run(settings, accepted, workers)
    rate = decoded / run["seconds"]
    _say(f"   {decoded:,} events in {run['seconds']:.1f} s ({rate:,.0f} events/s); "
         f"peak RSS {run['peak_rss_mib']:.0f} MiB")
    client = connect(settings.clickhouse)
    try:
        stored = client.query(f"SELECT count(), uniqExact(operator_id, source_id, seq) FROM "
                              f"{settings.clickhouse.database}.events").result_rows[0]
    finally:
        client.close()
    ok = stored[0] == stored[1] == accepted
    figures = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "events": decoded, "batch_size": batch_size, "workers": workers,
        "produce_events_per_s": events / produce_s,
        "ceiling_events_per_s": decoded / ceiling_s, "pipeline_events_per_s": rate,
        "ratio_to_ceiling": rate / (decoded / ceiling_s), "peak_rss_mib": run["peak_rss_mib"],
        "clickhouse_rows": stored[0], "expected_accepted": accepted, "exactly_once": ok,
        "latency": "not measured yet",
    }
    (RUN / "bench.json").write_text(json.dumps(figures, indent=2))
    _say("\n| figure | value |\n| --- | --- |")
    for name in ("produce_events_per_s", "ceiling_events_per_s", "pipeline_events_per_s"):
        _say(f"| {name} | {figures[name]:,.0f} |")
    _say(f"| ratio_to_ceiling | {figures['ratio_to_ceiling']:.0%} |")
    _say(f"| peak_rss_mib | {figures['peak_rss_mib']:.0f} |")
    _say(f"| every valid event once in ClickHouse | {'yes' if ok else 'NO'} "
         f"({stored[0]:,} rows, {stored[1]:,} unique, {accepted:,} expected) |")
    _say(f"figures written to {RUN / 'bench.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000, 500))
