"""``make many-operators``: a thousand operators, each with its own topics, on the local cluster.

Measures what one topic family per operator costs: topic creation time, the brokers' memory and
the KRaft metadata log before and after, the workers' start-up (first assignment, state restored)
and how the partitions spread over them, and end-to-end throughput over every operator's topic.
Preloaded traffic is produced as the pipeline principal (issuing a thousand access keys would
measure the PKI, not Kafka); everything else runs as in production. Figures go to the console
and to ``<run dir>/many-operators.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from pydantic import SecretStr

from pipeline.core.partitioning import home_partition
from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
from pipeline.kafka.config import client_config, producer_config
from pipeline.operator.fleet import demo_registry
from pipeline.operator.simulator import simulate_fleet
from pipeline.progress import scrape
from pipeline.security.bootstrap import grant_services
from pipeline.settings import REPO_ROOT, ClickHouseSettings, Settings
from pipeline.tools.chaos import Brokers, ChaosWorker
from schemas import EVENT_BATCH, default_codec

# The workers' log lines of an incremental rebalance (pipeline.agents.transactional, the sink).
ASSIGNED = re.compile(r"^(\S+ \S+) INFO \S+: (validator|tax): assigned (\d+) more partitions "
                      r"\((\d+) in all\), state restored in ([\d.]+) s")
GAVE_UP = re.compile(r"^(\S+ \S+) INFO \S+: (validator|tax): gave up (\d+) partitions \((\d+) kept\)")
SINK_ASSIGNED = re.compile(
    r"^(\S+ \S+) INFO sinks\.clickhouse\.sink: assigned (\d+) partitions in ([\d.]+) s")


def _say(text: str) -> None:
    print(text, flush=True)


def _metadata_log_bytes(brokers: Brokers) -> int:
    """Bytes of node 1's KRaft metadata log (``__cluster_metadata-0``), snapshots included."""
    folder = brokers.run / "node1" / "data" / "__cluster_metadata-0"
    return sum(p.stat().st_size for p in folder.glob("*") if p.is_file())


def _replicas_created(brokers: Brokers, folders: set[str]) -> dict[int, int]:
    """Per node, how many of the partition ``folders`` it has created (one per replica)."""
    out = {}
    for node in range(1, int(os.environ.get("DSOM_KAFKA_NODES", "3")) + 1):
        data = brokers.run / f"node{node}" / "data"
        out[node] = sum(1 for p in data.iterdir() if p.name in folders)
    return out


def _wait_served(brokers: Brokers, topics: list[NewTopic], timeout: float = 900.0) -> float:
    """Until every node has created its replicas of the run's topics; the seconds it took.

    CreateTopics returns once the controller has written the topics to the metadata log; each
    broker then creates its replicas one by one (minutes for thousands on this machine), and
    until a broker has, its metadata answers lack the topics: a producer then drops them from
    its cache and refuses to produce to them (``_UNKNOWN_TOPIC``).
    """
    folders = {f"{t.topic}-{p}" for t in topics for p in range(t.num_partitions)}
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        created = _replicas_created(brokers, folders)
        if all(n >= len(folders) for n in created.values()):
            return time.monotonic() - started
        time.sleep(2)
    raise SystemExit(f"the brokers did not create their replicas within {timeout:.0f} s: {created}")


def _metadata_cpu(brokers: Brokers, client: AdminClient, requests: int = 20,
                  idle_s: float = 20.0) -> dict[str, float]:
    """The brokers' CPU seconds per full metadata request (every topic), net of their idle CPU.

    A regex-subscribed consumer asks for every topic's metadata at each refresh
    (``topic.metadata.refresh.interval.ms``), and so does a ``list_topics()``: with thousands of
    topics each answer is costly, and the brokers' CPU is what the group coordinators share.
    """
    def idle_rate() -> float:
        before, at = brokers.cpu_s(), time.monotonic()
        time.sleep(idle_s / 2)
        return (brokers.cpu_s() - before) / (time.monotonic() - at)

    idle_before = idle_rate()
    before, at = brokers.cpu_s(), time.monotonic()
    for _ in range(requests):
        client.list_topics(timeout=120)
    wall = time.monotonic() - at
    spent = brokers.cpu_s() - before
    # The brokers' own background work (replication, the metadata log) varies: the idle rate is
    # read before and after, and their spread says how far the figure can be trusted.
    idle_after = idle_rate()
    idle = (idle_before + idle_after) / 2
    return {"requests": requests, "wall_s_per_request": wall / requests, "idle_cpu_s_per_s": idle,
            "idle_spread_cpu_s_per_s": abs(idle_before - idle_after),
            "cpu_s_per_request": (spent - idle * wall) / requests}


def run_many(operators: int = 1000, workers: int = 2, events_per_operator: int = 100,
             batch_size: int = 50, chunk: int = 400, run_dir: Path | None = None) -> dict[str, Any]:
    run_dir = run_dir or Path(os.environ.get("DSOM_RUN_DIR", REPO_ROOT / ".run")) / "many"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    base = Settings()
    settings = base.model_copy(update={
        "topics": base.topics.model_copy(update={"prefix": f"many{int(time.time())}"}),
        "clickhouse": ClickHouseSettings(dsn=SecretStr(f"chdb://{run_dir / 'chdb'}")),
        "registry_path": run_dir / "registry.json",
        "pki_dir": Path(os.environ.get("DSOM_PKI_DIR", base.pki_dir)),
    })
    grant_services(settings)
    registry = demo_registry(max(1, operators // 5))
    registry.save(settings.registry_path)
    ids = [o.operator_id for o in registry.operators]
    admin = settings.model_copy(update={"kafka": settings.kafka_as("admin")})
    brokers = Brokers()
    rss_before = brokers.rss_mib()
    meta_before = _metadata_log_bytes(brokers)
    ensure_topics(admin, system_topics(admin))
    wanted = operator_topics(admin, ids)
    _say(f"== {len(ids)} operators: creating {len(wanted)} topics "
         f"({sum(t.num_partitions for t in wanted)} partitions, RF {settings.topics.replication_factor}) "
         f"in chunks of {chunk}")
    started = time.monotonic()
    for i in range(0, len(wanted), chunk):
        ensure_topics(admin, wanted[i:i + chunk], timeout=300)
    create_s = time.monotonic() - started
    _say(f"   created in {create_s:.1f} s ({len(wanted) / create_s:,.0f} topics/s)")
    # Every node holds a replica of every partition (replication factor = nodes here).
    served_s = _wait_served(brokers, wanted)
    _say(f"   every broker serving them {served_s:.1f} s later")
    time.sleep(5)  # let the brokers settle before reading their memory
    rss_after = brokers.rss_mib()
    meta_after = _metadata_log_bytes(brokers)
    client = AdminClient(client_config(settings.kafka_as("admin")))
    started = time.monotonic()
    meta = client.list_topics(timeout=120)
    metadata_s = time.monotonic() - started
    partitions = sum(len(t.partitions) for name, t in meta.topics.items()
                     if name.startswith(settings.topics.prefix))
    metadata_cpu = _metadata_cpu(brokers, client)
    cpu = metadata_cpu
    _say(f"   one full metadata request ({len(meta.topics):,} topics): {metadata_s:.2f} s; brokers' CPU "
         f"{cpu['cpu_s_per_request']:.3f} s per request (idle: {cpu['idle_cpu_s_per_s']:.2f} "
         f"+- {cpu['idle_spread_cpu_s_per_s']:.2f} s/s)")

    _say(f"== preloading {events_per_operator} events per operator in batches of {batch_size} "
         "(as the pipeline principal)")
    pipeline = settings.model_copy(update={"kafka": settings.kafka_as("pipeline")})
    producer = Producer(producer_config(pipeline.kafka))
    codec = default_codec()
    traffic = simulate_fleet(registry, seed=5, batch_size=batch_size, bad_share=0.0, duplicate_share=0.0)
    sent = accepted = 0
    for _ in range(len(ids) * max(1, events_per_operator // batch_size)):
        op, batch = next(traffic)
        value = codec.encode(EVENT_BATCH, {"operator_id": op, "source_id": batch.source_id,
                                           "sent_at_us": time.time_ns() // 1000, "events": batch.events})
        key = batch.source_id.encode()
        while True:
            try:
                producer.produce(settings.topics.ingest(op), key=key, value=value,
                                 partition=home_partition(key, settings.topics.ingest_partitions))
                break
            except BufferError:
                producer.poll(0.1)
            except KafkaException as exc:  # a broker behind on the metadata answered last
                if exc.args[0].code() != KafkaError._UNKNOWN_TOPIC:
                    raise
                producer.poll(0.5)
        producer.poll(0)
        sent += len(batch.events)
        accepted += sum(1 for status, _ in batch.expected.values() if status == "ACCEPTED")
    if producer.flush(300):
        raise SystemExit("the preload was not delivered within 300 s")

    _say(f"== {workers} workers over every operator's topics until ClickHouse holds {accepted:,} events")
    layout = ["validator,tax,sink", *["validator,tax"] * (workers - 1)]
    pool = [ChaosWorker(pipeline, i, agents, run_dir) for i, agents in enumerate(layout)]
    started_at = time.time()
    started = time.monotonic()
    first_rows = None
    rebalance: dict[str, Any] = {}
    try:
        for w in pool:
            w.start()
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            for w in pool:
                if not w.alive():
                    raise SystemExit(f"worker {w.index + 1} died; see {w.log_path}")
            try:
                rows = scrape("127.0.0.1", pool[0].settings.metrics_port).clickhouse_rows["events"]
            except OSError:
                time.sleep(1)
                continue
            if rows and first_rows is None:
                first_rows = time.monotonic() - started
            if rows >= accepted:
                break
            time.sleep(1)
        done_s = time.monotonic() - started
        rss_running = brokers.rss_mib()
        if workers >= 2:
            rebalance = _rebalances(pool)
    finally:
        for w in pool:
            w.terminate()
    lines = _log_lines(pool)
    startup = {f"worker-{w.index + 1}": {
        agent: next((round(e["at"] - started_at, 1) for e in lines
                     if e["worker"] == w.index + 1 and e["agent"] == agent and e["kind"] == "assigned"), None)
        for agent in w.agents.split(",")} for w in pool}
    # The spread once the rebalances settled: each worker's last "(N in all)" per agent.
    spread: dict[str, dict[str, int]] = {}
    for e in lines:
        if e["kind"] in ("assigned", "gave up") and e["at"] < (rebalance.get("left_at") or float("inf")):
            spread.setdefault(e["agent"], {})[f"worker-{e['worker']}"] = e["total"]
    figures = {
        "operators": len(ids), "topics": len(wanted), "partitions": partitions,
        "replication_factor": settings.topics.replication_factor, "workers": workers,
        "machine": {"cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0]},
        "topic_creation_s": create_s, "topics_per_s": len(wanted) / create_s,
        "replicas_created_s_after_creation": served_s,
        "broker_rss_mib": {"before": rss_before, "after_topics": rss_after, "running": rss_running},
        "metadata_log_bytes": {"before": meta_before, "after": meta_after},
        "full_metadata_request_s": metadata_s,
        "full_metadata_request_broker_cpu": metadata_cpu,
        "events": sent, "accepted": accepted,
        "first_rows_s": first_rows, "all_rows_s": done_s,
        "events_per_s_including_startup": accepted / done_s,
        "events_per_s_after_first_rows": accepted / (done_s - first_rows) if first_rows else None,
        "startup_first_assignment_s": startup,
        "partitions_per_worker": spread,
        "rebalance": rebalance,
        "restores": [e for e in lines if e["kind"] == "assigned"],
    }
    (run_dir / "many-operators.json").write_text(json.dumps(figures, indent=2))
    _say(json.dumps({k: v for k, v in figures.items() if k != "restores"}, indent=1))
    return figures


def _log_lines(pool: list[ChaosWorker]) -> list[dict[str, Any]]:
    """The workers' assignment and revocation lines, oldest first (``at``: epoch seconds)."""
    out: list[dict[str, Any]] = []
    for w in pool:
        if not w.log_path.exists():
            continue
        for line in w.log_path.read_text(errors="replace").splitlines():
            if m := ASSIGNED.match(line):
                out.append({"worker": w.index + 1, "kind": "assigned", "agent": m.group(2),
                            "at": _at(m.group(1)), "partitions": int(m.group(3)), "total": int(m.group(4)),
                            "restore_s": float(m.group(5))})
            elif m := GAVE_UP.match(line):
                out.append({"worker": w.index + 1, "kind": "gave up", "agent": m.group(2),
                            "at": _at(m.group(1)), "partitions": int(m.group(3)), "total": int(m.group(4))})
            elif m := SINK_ASSIGNED.match(line):
                out.append({"worker": w.index + 1, "kind": "assigned", "agent": "sink",
                            "at": _at(m.group(1)), "partitions": int(m.group(2)), "total": None,
                            "restore_s": float(m.group(3))})
    return sorted(out, key=lambda e: e["at"])


def _at(asctime: str) -> float:
    return datetime.strptime(asctime, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # noqa: DTZ007 - local, as logged


def _rebalances(pool: list[ChaosWorker], timeout: float = 600.0) -> dict[str, Any]:
    """The last worker leaves (SIGTERM), then comes back: how long until each group settled.

    Settled: for each of the validator and tax, the members that remain (or return) logged the
    assignment that completes the rebalance (the leaver's partitions taken over; the returner's
    share given back and restored). The sink runs on the first worker only (embedded chdb has one
    owner), so its group never rebalances here.
    """
    leaver, stayer = pool[-1], pool[0]
    agents = ("validator", "tax")

    def wait_for(condition: Any) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(_log_lines(pool)):
                return time.time()
            time.sleep(0.2)
        return None

    left_at = time.time()
    leaver.terminate()
    _say(f"== worker {leaver.index + 1} leaves: its partitions move to the others")
    took_over = wait_for(lambda lines: all(any(
        e["kind"] == "assigned" and e["agent"] == a and e["worker"] == stayer.index + 1 and e["at"] >= left_at
        for e in lines) for a in agents))
    time.sleep(5)
    came_at = time.time()
    leaver.start()
    _say(f"== worker {leaver.index + 1} comes back: its share moves back")
    gave_back = wait_for(lambda lines: all(any(
        e["kind"] == "assigned" and e["agent"] == a and e["worker"] == leaver.index + 1 and e["at"] >= came_at
        for e in lines) for a in agents))
    lines = _log_lines(pool)
    between = [e for e in lines if e["kind"] == "assigned" and left_at <= e["at"] < came_at]
    return {
        "left_at": left_at,
        "leave_settled_s": None if took_over is None else round(took_over - left_at, 1),
        "return_settled_s": None if gave_back is None else round(gave_back - came_at, 1),
        "restores_after_leave": between,
        "restores_after_return": [e for e in lines if e["kind"] == "assigned" and e["at"] >= came_at],
        "revocations_after_return": [e for e in lines if e["kind"] == "gave up" and e["at"] >= came_at],
    }
