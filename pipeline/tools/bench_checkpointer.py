"""The checkpointer's own cost on a real broker (make bench-checkpointer): CPU per archive event.

``make bench`` measures the checkpointer as the difference between two whole-pipeline runs,
which on this shared machine differ by more than the checkpointer costs. This measures the
checkpointer alone: the archive records the validator makes of simulated traffic (the bench's
fleet, its batch size) are written once to a file, then each run produces them to a fresh
archive (its own topic prefix) and runs the checkpointer agent over them in a process of its
own; the process's CPU time (all threads: librdkafka's fetch, TLS and LZ4 decompression too)
from its first partition assigned to its last commit, divided by the events, is its cost.

Runs alternate the variants named on the command line, so the machine's load falls on each alike.
``--profile`` also writes the agent thread's cProfile (where the Python part of it goes).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pipeline.settings import REPO_ROOT, Settings

RUN = REPO_ROOT / ".run" / "bench-checkpointer"


def make_archive(settings: Settings, events: int, batch_size: int, path: Path) -> tuple[int, int]:
    """The archive values the validator makes of ``events`` simulated events; (records, events)."""
    from pipeline.core.partitioning import home_partition  # noqa: PLC0415
    from pipeline.core.processor import make_processor  # noqa: PLC0415
    from pipeline.operator.fleet import demo_registry  # noqa: PLC0415
    from pipeline.operator.simulator import simulate_fleet  # noqa: PLC0415
    from schemas import EVENT_BATCH, default_codec  # noqa: PLC0415

    registry = demo_registry(1)
    codec = default_codec()
    proc = make_processor(registry, settings.validation, settings.topics, codec)
    t = settings.topics
    states: dict[tuple[str, int], Any] = {}
    offsets: dict[tuple[str, int], int] = {}
    values: list[tuple[str, bytes]] = []  # (operator, archive value)
    archived = sent = 0
    now = time.time_ns() // 1000
    for op, batch in simulate_fleet(registry, seed=7, batch_size=batch_size, bad_share=0.005,
                                    duplicate_share=0.005):
        key = batch.source_id.encode()
        where = (t.ingest(op), home_partition(key, t.ingest_partitions))
        state = states.get(where) or states.setdefault(where, proc.new_state(*where))
        offset = offsets.get(where, 0)
        offsets[where] = offset + 1
        raw = batch.raw if batch.raw is not None else codec.encode(EVENT_BATCH, {
            "operator_id": op, "source_id": batch.source_id, "sent_at_us": now, "events": batch.events})
        out = proc.process(state, offset, key, raw, now)
        if out.archive_value is not None:
            values.append((op, out.archive_value))
            archived += sum(out.accepted.values())
        sent += len(batch.events)
        if sent >= events:
            break
    path.write_bytes(pickle.dumps({"values": values, "events": archived}))
    return len(values), archived


def _counts(archive: Path) -> tuple[int, int]:
    """(records, events) of the archive file, kept beside it (the run's process loads no archive)."""
    counts = archive.with_suffix(".json")
    if not counts.exists():
        data = pickle.loads(archive.read_bytes())
        counts.write_text(json.dumps([len(data["values"]), data["events"]]))
    records, events = json.loads(counts.read_text())
    return records, events


def produce(settings: Settings, archive: Path) -> str:
    """The archive's records produced under a fresh topic prefix, which is returned."""
    from confluent_kafka import Producer  # noqa: PLC0415

    from pipeline.core.archive_log import archive_partition  # noqa: PLC0415
    from pipeline.kafka.admin import ensure_topics, system_topics  # noqa: PLC0415
    from pipeline.kafka.config import producer_config  # noqa: PLC0415

    values = pickle.loads(archive.read_bytes())["values"]
    prefix = f"bcp{uuid.uuid4().hex[:8]}"
    s = _as_broker(settings, prefix)
    ensure_topics(s, system_topics(s))
    producer = Producer(producer_config(s.kafka))  # as the validator writes it: LZ4, linger 5 ms
    parts = s.topics.archive_partitions
    for op, value in values:
        while True:
            try:
                producer.produce(s.topics.archive, value, f"{op}/0".encode(),
                                 partition=archive_partition(op, parts))
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0
    return prefix


def _as_broker(settings: Settings, prefix: str) -> Settings:
    # The broker's own principal: the deployment's ACLs name the topics' prefix, and each run has its own.
    return settings.model_copy(update={"kafka": settings.kafka_as("broker"),
                                       "topics": settings.topics.model_copy(update={"prefix": prefix})})


def run_once(settings: Settings, archive: Path, prefix: str, profile: Path | None) -> dict[str, float]:
    """The checkpointer over the archive produced under ``prefix``: its CPU per event."""
    from pipeline.agents.checkpointer import CheckpointerAgent  # noqa: PLC0415

    records, events = _counts(archive)
    pipeline = _as_broker(settings, prefix)

    class Timed(CheckpointerAgent):
        """The agent, with the CPU clock read at its first assignment and at its last commit."""

        seen = 0
        cpu0 = wall0 = cpu1 = wall1 = 0.0
        done = threading.Event()

        def assigned(self, consumer: Any, partitions: Any) -> None:
            if not Timed.cpu0:
                Timed.cpu0, Timed.wall0 = time.process_time(), time.perf_counter()
            super().assigned(consumer, partitions)

        def handle(self, msg: Any, now: int) -> Any:
            Timed.seen += 1
            return super().handle(msg, now)

        def after_commit(self, deferred: list[Any]) -> None:
            super().after_commit(deferred)
            if Timed.seen >= records and not Timed.done.is_set():
                Timed.cpu1, Timed.wall1 = time.process_time(), time.perf_counter()
                Timed.done.set()

    agent = Timed(pipeline)
    stop = threading.Event()
    prof = cProfile.Profile() if profile else None

    def body() -> None:
        if prof is not None:
            prof.runcall(agent.run, stop)
        else:
            agent.run(stop)

    thread = threading.Thread(target=body)
    thread.start()
    try:
        if not Timed.done.wait(600):
            raise SystemExit(f"the checkpointer handled {Timed.seen} of {records} records in 600 s")
    finally:
        stop.set()
        thread.join(60)
    if prof is not None and profile is not None:
        prof.dump_stats(str(profile))
    cpu = Timed.cpu1 - Timed.cpu0
    return {"records": records, "events": events, "cpu_s": cpu, "wall_s": Timed.wall1 - Timed.wall0,
            "cpu_us_per_event": cpu / events * 1e6, "cpu_us_per_record": cpu / records * 1e6,
            "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def _no_hash() -> None:
    """The leaves not hashed (a constant leaf): what reading the archive costs without the hashing."""
    from pipeline.core.archive_log import PartitionLog  # noqa: PLC0415

    leaf = bytes(32)
    PartitionLog.append = lambda self, *_: self.tree.append(leaf)  # type: ignore[method-assign]


def _big_fetch() -> None:
    """Fewer, larger fetches: up to 8 MB per partition, the broker waiting for 1 MB or 500 ms."""
    from pipeline.agents.checkpointer import CheckpointerAgent  # noqa: PLC0415

    CheckpointerAgent.consumer_overrides = lambda self: {  # type: ignore[method-assign]
        "max.partition.fetch.bytes": 8 << 20, "fetch.min.bytes": 1 << 20, "fetch.wait.max.ms": 500}


# What each run may change, to tell where the CPU goes (``--variants default,nohash``).
VARIANTS = {"default": lambda: None, "nohash": _no_hash, "bigfetch": _big_fetch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=600_000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3, help="runs of each variant, alternated")
    ap.add_argument("--variants", default="", help="comma-separated DSOM_CHECKPOINTER_VARIANT values")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--once", type=Path, help=argparse.SUPPRESS)  # a child run: archive file
    ap.add_argument("--prefix", help=argparse.SUPPRESS)  # the child's archive, produced by the parent
    args = ap.parse_args()
    settings = Settings()
    if args.once:
        VARIANTS[os.environ.get("DSOM_CHECKPOINTER_VARIANT", "default")]()
        prof = RUN / f"profile-{os.environ.get('DSOM_CHECKPOINTER_VARIANT', 'default')}.pstats"
        print(json.dumps(run_once(settings, args.once, args.prefix, prof if args.profile else None)))
        return
    RUN.mkdir(parents=True, exist_ok=True)
    archive = RUN / f"archive-{args.events}-{args.batch_size}.pickle"
    if not archive.exists():
        records, events = make_archive(settings, args.events, args.batch_size, archive)
        print(f"archive: {records:,} records, {events:,} accepted events -> {archive}", flush=True)
    _counts(archive)
    variants = args.variants.split(",") if args.variants else ["default"]
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for i in range(args.runs):
        for v in variants:
            load = os.getloadavg()[0]
            env = {**os.environ, "DSOM_CHECKPOINTER_VARIANT": v, "PYTHONPATH": str(REPO_ROOT)}
            prefix = produce(settings, archive)
            cmd = [sys.executable, "-m", "pipeline.tools.bench_checkpointer", "--once", str(archive),
                   "--prefix", prefix]
            out = subprocess.run(cmd + (["--profile"] if args.profile else []), env=env, cwd=REPO_ROOT,
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            r["load"] = load
            results[v].append(r)
            print(f"run {i + 1} {v}: {r['cpu_us_per_event']:.3f} µs CPU per event, "
                  f"{r['cpu_us_per_record']:.0f} µs per record ({r['records']:,} records, "
                  f"{r['events']:,} events), "
                  f"{r['wall_s']:.1f} s, load {load:.1f}", flush=True)
    for v, rs in results.items():
        per = [r["cpu_us_per_event"] for r in rs]
        print(f"{v}: median {statistics.median(per):.3f} µs CPU per event "
              f"(min {min(per):.3f}, max {max(per):.3f}, {len(per)} runs)")


if __name__ == "__main__":
    main()
