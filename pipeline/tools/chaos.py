"""``make chaos``: faults injected at random moments into a live stream on a three-broker cluster.

Simulated operators stream at ``rate`` events/s (each with its own access key, acks=all) while
``dsom worker`` processes run the pipeline (the first runs every agent and owns the chdb folder,
the others the validator and tax agents). The schedule (:mod:`pipeline.tools.chaos_plan`) SIGKILLs
workers at random moments and at two crash points (the sink between its insert and its commit,
an agent between sending its transaction and committing it), restarts a worker while its group
rebalances, SIGKILLs one broker and restarts it, and freezes one broker (SIGSTOP) beyond every
session timeout. Afterwards every event must have exactly one receipt with the expected outcome,
the archive must verify and hold every accepted event once, and ClickHouse too.

Run it with a cluster (``infra/with_cluster.sh``, which sets the bootstrap servers and the
replication settings); brokers are restarted with ``infra/kafka_local.py start N``.
Figures go to the console and to ``<run dir>/chaos.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from pydantic import SecretStr

from pipeline.archive import verify_archive
from pipeline.faults import AGENT_BEFORE_COMMIT, SINK_AFTER_INSERT, arm
from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
from pipeline.kafka.config import FatalErrors, consumer_config
from pipeline.operator.fleet import demo_registry
from pipeline.operator.producer import OperatorProducer
from pipeline.operator.simulator import simulate_fleet
from pipeline.progress import scrape
from pipeline.registry import Registry
from pipeline.security.bootstrap import grant_services
from pipeline.settings import REPO_ROOT, ClickHouseSettings, Settings
from pipeline.tools.bench_figures import percentile
from pipeline.tools.chaos_plan import (
    FREEZE_BROKER,
    KILL_AGENT_BEFORE_COMMIT,
    KILL_BROKER,
    KILL_SINK_AFTER_INSERT,
    KILL_WORKER,
    RESTART_DURING_REBALANCE,
    EventKey,
    Expected,
    Fault,
    Plan,
    caught_up,
    compare,
    recovery_times,
    schedule,
    summary,
    worker_sigkills,
)
from registry.access_keys import access_keys
from schemas import RECEIPT_BATCH, default_codec
from sinks.clickhouse.client import connect

KAFKA_LOCAL = [sys.executable, str(REPO_ROOT / "infra" / "kafka_local.py")]


def _say(text: str) -> None:
    print(text, flush=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChaosWorker:
    """One ``dsom worker`` process the harness may kill and restart (same worker ID each time)."""

    def __init__(self, settings: Settings, index: int, agents: str, log_dir: Path) -> None:
        self.index = index
        self.agents = agents
        self.settings = settings.model_copy(update={
            "worker_id": f"chaos-{index + 1}", "metrics_port": _free_port(), "dashboard_port": 0})
        self.log_path = log_dir / f"worker-{index + 1}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "worker", "--agents", self.agents],
                cwd=REPO_ROOT, env={**os.environ, **self.settings.as_env(), "PYTHONPATH": str(REPO_ROOT)},
                stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def terminate(self, timeout: float = 90) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


class Brokers:
    """The local cluster's nodes, through ``infra/kafka_local.py`` and their pid files."""

    def __init__(self) -> None:
        self.run = Path(os.environ.get("DSOM_RUN_DIR", REPO_ROOT / ".run")) / "kafka"

    def pid(self, node: int) -> int:
        return int((self.run / f"node{node}" / "broker.pid").read_text())

    def signal(self, node: int, sig: signal.Signals) -> None:
        os.kill(self.pid(node), sig)

    def start(self, node: int) -> None:
        subprocess.run([*KAFKA_LOCAL, "start", str(node)], check=True, stdout=subprocess.DEVNULL)

    def cpu_s(self) -> float:
        """CPU seconds (user and system) the nodes' JVMs have used since they started."""
        ticks = 0
        for node in range(1, int(os.environ.get("DSOM_KAFKA_NODES", "3")) + 1):
            try:
                stat = Path(f"/proc/{self.pid(node)}/stat").read_text()
            except (OSError, ValueError):
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> dict[int, float]:
        out = {}
        for node in range(1, int(os.environ.get("DSOM_KAFKA_NODES", "3")) + 1):
            try:
                status = Path(f"/proc/{self.pid(node)}/status").read_text()
            except (OSError, ValueError):
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    out[node] = int(line.split()[1]) / 1024
        return out


@dataclass
class Traffic:
    """The simulated operators' stream, sent at a steady rate from a thread, and what it must give."""

    settings: Settings
    rate: float
    seed: int
    expected: Expected = field(default_factory=Expected)
    sent_at: dict[EventKey, float] = field(default_factory=dict)
    records: int = 0
    error: str | None = None
    key_retries: int = 0  # producers re-created while the brokers learned a new key's ACLs
    only: tuple[str, ...] | None = None  # these operators of the demo registry (None: all)
    # (sent at, events so far, accepted events so far) per record, for the online recovery check
    progress: list[tuple[float, int, int]] = field(default_factory=list)

    producers: dict[str, OperatorProducer] = field(default_factory=dict)

    def prepare(self) -> None:
        """Issue every operator its access key and open its producer (before the clock starts)."""
        admin = self.settings.model_copy(update={"kafka": self.settings.kafka_as("admin")})
        keys = access_keys(self.settings, admin.kafka)
        for op in self.registry().operators:
            key = keys.issue(op.operator_id)
            own = self.settings.model_copy(update={"kafka": self.settings.kafka_with(key.cert, key.key)})
            self.producers[op.operator_id] = self._producer(own, op.operator_id)

    def registry(self) -> Registry:
        registry = demo_registry(1)
        if self.only is None:
            return registry
        return Registry(operators=tuple(o for o in registry.operators if o.operator_id in self.only))

    def _producer(self, settings: Settings, operator_id: str) -> OperatorProducer:
        """A producer that got its producer ID: retried while the brokers learn the new key's ACLs.

        On a cluster each broker applies new ACLs from the metadata log a moment after the
        controller accepted them; an idempotent producer whose producer ID a broker refuses in
        that moment fails fatally ("Cluster authorization failed"). Measured here on a loaded
        machine: seconds, not milliseconds.
        """
        for attempt in range(1, 31):
            fatal = FatalErrors(operator_id)
            producer = OperatorProducer(settings, operator_id, error_cb=fatal)
            deadline = time.monotonic() + 3.0
            refused = None
            while time.monotonic() < deadline and fatal.fatal is None and refused is None:
                try:
                    producer.poll(0.1)
                except KafkaException as exc:  # the fatal error, raised from poll
                    refused = exc
            if fatal.fatal is None and refused is None:
                self.key_retries += attempt - 1
                return producer
            time.sleep(1.0)
        raise RuntimeError(f"{operator_id}: the brokers kept refusing its new key: {fatal.fatal or refused}")

    def run(self, stop: threading.Event) -> None:
        producers = self.producers
        traffic = simulate_fleet(self.registry(), seed=self.seed, batch_size=50, bad_share=0.01,
                                 duplicate_share=0.01)
        started = time.monotonic()
        events = accepted = 0
        try:
            while not stop.is_set():
                due = events / self.rate
                elapsed = time.monotonic() - started
                if due > elapsed:
                    time.sleep(min(due - elapsed, 0.2))
                    continue
                op, batch = next(traffic)
                producer = producers[op]
                if batch.raw is not None:
                    producer.send_raw(batch.source_id.encode(), batch.raw)
                else:
                    producer.send(batch.source_id, batch.events)
                at = time.time()
                for key in self.expected.add(op, batch):
                    self.sent_at[key] = at
                events += len(batch.events)
                accepted += sum(1 for status, _ in batch.expected.values() if status == "ACCEPTED")
                self.progress.append((at, len(self.sent_at), accepted))
                self.records += 1
            for p in producers.values():
                p.flush(300)  # idempotent, acks=all: a broker down for seconds only delays delivery
        except Exception as exc:  # reported, and the run fails
            self.error = f"{type(exc).__name__}: {exc}"


class ReceiptWatch:
    """Notes when each event's receipt first became visible to a read_committed reader."""

    def __init__(self, settings: Settings, only: tuple[str, ...] | None = None) -> None:
        self.settings = settings
        self.only = only  # these operators' receipts (None: every demo operator's)
        self.first_seen: dict[EventKey, float] = {}

    def run(self, stop: threading.Event) -> None:
        s = self.settings
        codec = default_codec()
        consumer = Consumer(consumer_config(s.kafka, s.topics.reader_group))
        names = [s.topics.receipts(o.operator_id) for o in demo_registry(1).operators
                 if self.only is None or o.operator_id in self.only]
        consumer.assign([TopicPartition(n, 0, OFFSET_BEGINNING) for n in names])
        try:
            while not stop.is_set():
                for msg in consumer.consume(500, timeout=0.5):
                    if msg.error() is not None:
                        continue
                    at = time.time()
                    _, rb = codec.decode(msg.value() or b"", expect=RECEIPT_BATCH)
                    for r in rb["receipts"]:
                        if r["seq"] is not None:
                            self.first_seen.setdefault((rb["operator_id"], rb["source_id"], r["seq"]), at)
        finally:
            consumer.close()


@dataclass
class Injected:
    """A fault as it happened: the plan's, when it really started (epoch seconds), and notes."""

    fault: Fault
    at: float = 0.0
    note: str = ""
    sigkills: int = 0


class Harness:
    def __init__(self, settings: Settings, plan: Plan, run_dir: Path) -> None:
        self.s = settings
        self.plan = plan
        self.run_dir = run_dir
        self.brokers = Brokers()
        layout = ["validator,tax,sink", *["validator,tax"] * (plan.workers - 1)]
        self.workers = [ChaosWorker(settings, i, agents, run_dir) for i, agents in enumerate(layout)]
        self.injected: list[Injected] = []
        self.unexpected_exits: list[str] = []
        self.broker_rss: list[dict[int, float]] = []
        self.recovery_timeout_s = 300.0
        self.not_recovered = 0
        self.warm_at = 0.0
        self._restart_lock = threading.Lock()

    # -- faults --

    def inject(self, fault: Fault) -> Injected:
        done = Injected(fault, time.time())
        w = self.workers
        if fault.kind == KILL_WORKER:
            w[fault.target].kill()
            done.sigkills = 1
            self._restart(w[fault.target])
        elif fault.kind in (KILL_SINK_AFTER_INSERT, KILL_AGENT_BEFORE_COMMIT):
            point = SINK_AFTER_INSERT if fault.kind == KILL_SINK_AFTER_INSERT else AGENT_BEFORE_COMMIT
            assert self.s.crash_points_dir is not None
            arm(self.s.crash_points_dir, point)
            victim = self._wait_for_a_death(30.0)
            if victim is None:
                (self.s.crash_points_dir / point).unlink(missing_ok=True)
                done.note = "crash point not reached within 30 s: disarmed"
            else:
                done.at = time.time()
                done.note = f"worker {victim.index + 1} killed itself at {point}"
                done.sigkills = 1
                self._restart(victim)
        elif fault.kind == RESTART_DURING_REBALANCE:
            first, second = w[fault.target], w[(fault.target + 1) % len(w)]
            first.terminate()  # leaves the groups: a rebalance starts
            first.start()  # and joins again: another
            time.sleep(1.0)
            second.kill()  # while that rebalance runs
            done.sigkills = 1
            self._restart(second)
            done.note = f"worker {first.index + 1} restarted, worker {second.index + 1} SIGKILLed 1 s later"
        elif fault.kind == KILL_BROKER:
            self.brokers.signal(fault.target, signal.SIGKILL)
            time.sleep(fault.hold_s)
            started = time.monotonic()
            self.brokers.start(fault.target)
            done.note = f"broker {fault.target} restarted in {time.monotonic() - started:.1f} s"
        elif fault.kind == FREEZE_BROKER:
            self.brokers.signal(fault.target, signal.SIGSTOP)
            time.sleep(fault.hold_s)
            self.brokers.signal(fault.target, signal.SIGCONT)
        return done

    def _restart(self, worker: ChaosWorker, delay: float = 1.0) -> None:
        time.sleep(delay)  # as a supervisor (systemd, Kubernetes) restarts it
        worker.start()

    def _wait_for_a_death(self, timeout: float) -> ChaosWorker | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for worker in self.workers:
                if worker.proc is not None and worker.proc.poll() is not None:
                    worker.proc.wait()
                    return worker
            time.sleep(0.05)
        return None

    def recovered(self, traffic: Traffic, watch: ReceiptWatch, bound_s: float) -> bool:
        try:
            rows = scrape("127.0.0.1", self.workers[0].settings.metrics_port).clickhouse_rows["events"]
        except OSError:
            return False
        return caught_up(traffic.progress, len(watch.first_seen), int(rows), time.time(), bound_s)

    def wait_recovered(self, traffic: Traffic, watch: ReceiptWatch, bound_s: float, timeout: float,
                       stop: threading.Event) -> float | None:
        """Seconds until the pipeline caught up again (None: not within ``timeout``)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout and not stop.is_set():
            self._check_alive()
            if self.recovered(traffic, watch, bound_s):
                return time.monotonic() - started
            stop.wait(0.5)
        return None

    def run_faults(self, faults: list[Fault], traffic: Traffic, watch: ReceiptWatch, bound_s: float,
                   stop: threading.Event) -> None:
        """Warm up, then each fault at a random moment after the pipeline recovered from the last."""
        t0 = time.monotonic()
        while not stop.is_set() and not (traffic.records and len(watch.first_seen) and self.recovered(
                traffic, watch, bound_s)):
            if traffic.error is not None:
                raise RuntimeError(f"the simulated operators failed: {traffic.error}")
            if time.monotonic() - t0 > self.recovery_timeout_s:
                raise RuntimeError(f"the pipeline did not keep up within {bound_s:.0f} s of the traffic "
                                   f"after {self.recovery_timeout_s:.0f} s of warm-up: "
                                   f"{traffic.records} records sent, {len(watch.first_seen)} events "
                                   "receipted (too loaded a machine for this rate: lower CHAOS_RATE)")
            self._check_alive()
            if int(time.monotonic() - t0) % 10 == 0:
                _say(f"   {time.monotonic() - t0:6.1f} s  warming up: {traffic.records} records sent, "
                     f"{len(watch.first_seen)} events receipted")
            stop.wait(0.5)
        _say(f"   {time.monotonic() - t0:6.1f} s  pipeline warm: receipts and ClickHouse rows flowing")
        self.warm_at = time.time()
        for fault in faults:
            if self.wait_recovered(traffic, watch, bound_s, self.recovery_timeout_s, stop) is None:
                _say(f"   {time.monotonic() - t0:6.1f} s  NOT RECOVERED within "
                     f"{self.recovery_timeout_s:.0f} s")
                self.not_recovered += 1
            if stop.wait(fault.after_s):
                return
            self._check_alive()
            done = self.inject(fault)
            self.injected.append(done)
            _say(f"   {time.monotonic() - t0:6.1f} s  {fault.kind:<25} target {fault.target}  {done.note}")
            self.broker_rss.append(self.brokers.rss_mib())
        self.wait_recovered(traffic, watch, bound_s, self.recovery_timeout_s, stop)

    def _check_alive(self) -> None:
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is not None:
                code = worker.proc.returncode
                self.unexpected_exits.append(f"worker {worker.index + 1} exited with {code}")
                worker.start()

    # -- the end --

    def wait_until_done(self, traffic: Traffic, watch: ReceiptWatch, timeout: float) -> bool:
        accepted = len(traffic.expected.accepted)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            receipted = sum(1 for k in traffic.expected.events if k in watch.first_seen)
            try:
                rows = scrape("127.0.0.1", self.workers[0].settings.metrics_port).clickhouse_rows["events"]
            except OSError:
                rows = 0
            if receipted == len(traffic.expected.events) and rows >= accepted:
                return True
            time.sleep(1.0)
        return False


def _read_receipts(settings: Settings) -> tuple[Counter[EventKey], dict[EventKey, tuple[str, str | None]],
                                                Counter[tuple[str, str]], Counter[EventKey]]:
    from pipeline.kafka.reader import read_to_end, topic_partitions

    codec = default_codec()
    counts: Counter[EventKey] = Counter()
    outcome: dict[EventKey, tuple[str, str | None]] = {}
    record_level: Counter[tuple[str, str]] = Counter()
    duplicates: Counter[EventKey] = Counter()  # DUPLICATE receipts: answers to re-sends, not decisions
    group = settings.topics.reader_group
    tps = topic_partitions(settings.kafka, settings.topics.receipts_pattern, group=group)
    for msg in read_to_end(settings.kafka, tps, group=group):
        _, rb = codec.decode(msg.value() or b"", expect=RECEIPT_BATCH)
        for r in rb["receipts"]:
            if r["seq"] is None:
                record_level[(rb["operator_id"], r["reason"])] += 1
                continue
            key = (rb["operator_id"], rb["source_id"], r["seq"])
            if r["status"] == "DUPLICATE":
                duplicates[key] += 1
                continue
            counts[key] += 1
            outcome[key] = (r["status"], r["reason"])
    return counts, outcome, record_level, duplicates


def experiment_settings(name: str, run_dir: Path | None) -> tuple[Path, Settings]:
    """A fresh folder and settings for one experiment: own topic prefix, chdb folder and registry."""
    run_dir = run_dir or Path(os.environ.get("DSOM_RUN_DIR", REPO_ROOT / ".run")) / name
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    base = Settings()
    return run_dir, base.model_copy(update={
        "topics": base.topics.model_copy(update={"prefix": f"{name}{int(time.time())}"}),
        "clickhouse": ClickHouseSettings(dsn=SecretStr(f"chdb://{run_dir / 'chdb'}"), batch_max_wait_s=0.3),
        "registry_path": run_dir / "registry.json",
        "registry": base.registry.model_copy(  # its own, for the keys it issues
            update={"dsn": SecretStr(f"sqlite:///{run_dir / 'registry.sqlite'}")}),
        "pki_dir": Path(os.environ.get("DSOM_PKI_DIR", base.pki_dir)),
    })


def run_chaos(plan: Plan, seed: int = 1, rate: float = 1000.0, bound_s: float = 5.0,
              run_dir: Path | None = None, drain_timeout_s: float = 600.0) -> dict[str, Any]:
    """Run one chaos experiment and return its figures (``figures["ok"]``: nothing lost or doubled)."""
    run_dir, settings = experiment_settings("chaos", run_dir)
    settings = settings.model_copy(update={
        "crash_points_dir": run_dir / "crash-points",
        # A worker blocked in a Kafka call this long past the call's own timeout is replaced (a
        # frozen broker can hold one).
        "agent_stuck_after_s": 15.0,
    })
    grant_services(settings)
    admin = settings.model_copy(update={"kafka": settings.kafka_as("admin")})
    registry = demo_registry(1)
    registry.save(settings.registry_path)
    started = time.monotonic()
    operators = [o.operator_id for o in registry.operators]
    ensure_topics(admin, system_topics(admin) + operator_topics(admin, operators))
    topics_s = time.monotonic() - started
    pipeline = settings.model_copy(update={"kafka": settings.kafka_as("pipeline")})
    faults = schedule(plan, seed)
    _say(f"== chaos: traffic at {rate:,.0f} events/s, {plan.workers} workers, "
         f"{len(faults)} faults ({worker_sigkills(faults)} worker SIGKILLs), seed {seed}; "
         f"topics (RF {settings.topics.replication_factor}, min ISR {settings.topics.min_insync_replicas}) "
         f"created in {topics_s:.1f} s")
    harness = Harness(pipeline, plan, run_dir)
    traffic = Traffic(settings, rate, seed)
    watch = ReceiptWatch(pipeline)
    stop_traffic, stop_watch, stop_faults = threading.Event(), threading.Event(), threading.Event()
    threads = [threading.Thread(target=watch.run, args=(stop_watch,), name="receipts", daemon=True)]
    ok_drain = False
    drain_s = 0.0
    traffic.prepare()
    try:
        for worker in harness.workers:
            worker.start()
        threads[0].start()
        traffic_thread = threading.Thread(target=traffic.run, args=(stop_traffic,), name="traffic",
                                          daemon=True)
        traffic_thread.start()
        harness.run_faults(faults, traffic, watch, bound_s, stop_faults)
        time.sleep(5.0)  # live traffic after the last recovery, too
        stop_traffic.set()
        traffic_thread.join()
        _say(f"== traffic stopped: {len(traffic.expected.events):,} events in {traffic.records:,} records; "
             "waiting for the pipeline to finish")
        drain_started = time.monotonic()
        ok_drain = harness.wait_until_done(traffic, watch, drain_timeout_s)
        drain_s = time.monotonic() - drain_started
        time.sleep(2.0)  # anything extra (a double count) would land now
    finally:
        stop_faults.set()
        stop_traffic.set()
        exit_codes = [w.terminate() for w in harness.workers]
        stop_watch.set()
        threads[0].join(10)
    counts, outcomes, record_level, duplicates = _read_receipts(pipeline)
    archive = verify_archive(pipeline)  # every chain from genesis; what does not verify is a finding
    client = connect(settings.clickhouse)
    db = settings.clickhouse.database
    try:
        rows = client.query(f"SELECT operator_id, source_id, seq, count(), "
                            f"toUnixTimestamp64Micro(min(inserted_at)) FROM {db}.events "
                            "GROUP BY operator_id, source_id, seq").result_rows
    finally:
        client.close()
    clickhouse = {(o, s, int(q)): int(n) for o, s, q, n, _ in rows}
    inserted = {(o, s, int(q)): at / 1e6 for o, s, q, _, at in rows}
    verdict = compare(traffic.expected, counts, outcomes, record_level, archive.event_ids, clickhouse,
                      duplicates)
    done_at = {k: max(t, inserted.get(k, t)) if k in clickhouse else t for k, t in watch.first_seen.items()}
    for k in traffic.expected.accepted:
        if k not in clickhouse:
            done_at.pop(k, None)
    first_fault = min((i.at for i in harness.injected), default=time.time())
    baseline = sorted(done_at[k] - t for k, t in traffic.sent_at.items()
                      if harness.warm_at <= t < first_fault - bound_s and k in done_at)
    recovery = recovery_times([i.at for i in harness.injected], traffic.sent_at, done_at, bound_s)
    by_kind: dict[str, list[float | None]] = {}
    for inj, rec in zip(harness.injected, recovery, strict=True):
        by_kind.setdefault(inj.fault.kind, []).append(rec)
    latencies = sorted(done_at[k] - t for k, t in traffic.sent_at.items() if k in done_at)
    figures: dict[str, Any] = {
        "plan": asdict(plan), "seed": seed, "rate_events_per_s": rate, "bound_s": bound_s,
        "machine": {"cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0]},
        "replication_factor": settings.topics.replication_factor,
        "min_insync_replicas": settings.topics.min_insync_replicas,
        "events": verdict.events, "accepted": verdict.accepted, "records": traffic.records,
        "duplicates_sent": traffic.expected.duplicates_sent,
        "archive_events": archive.events, "archive_chains": len(archive.chains),
        "archive_findings": archive.findings,
        "duplicate_receipts": sum(duplicates.values()),
        "clickhouse_rows": sum(clickhouse.values()),
        "verdict": {**asdict(verdict), "lost": verdict.lost, "doubled": verdict.doubled, "ok": verdict.ok},
        "faults": [{"kind": i.fault.kind, "target": i.fault.target, "after_s": i.fault.after_s,
                    "at_s": round(i.at - harness.warm_at, 1),
                    "hold_s": i.fault.hold_s, "note": i.note, "recovery_s": rec}
                   for i, rec in zip(harness.injected, recovery, strict=True)],
        "worker_sigkills": sum(i.sigkills for i in harness.injected),
        "recovery": {"all": summary(recovery), **{k: summary(v) for k, v in by_kind.items()}},
        "baseline_latency_s": {"p50": percentile(baseline, 50), "p99": percentile(baseline, 99)},
        "latency_s": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                      "max": latencies[-1] if latencies else None},
        "drained": ok_drain, "drain_s": drain_s if ok_drain else None,
        "not_recovered": harness.not_recovered, "worker_exit_codes": exit_codes,
        "unexpected_worker_exits": harness.unexpected_exits,
        "traffic_error": traffic.error, "new_key_producer_retries": traffic.key_retries,
        "broker_rss_mib_max": max((max(r.values()) for r in harness.broker_rss if r), default=None),
    }
    figures["ok"] = bool(verdict.ok and ok_drain and traffic.error is None
                         and not harness.not_recovered and not archive.findings)
    (run_dir / "chaos.json").write_text(json.dumps(figures, indent=2, default=str))
    _print(figures)
    return figures


def _print(f: dict[str, Any]) -> None:
    v = f["verdict"]
    _say("\n| fault | injected | worker SIGKILLs | recovery p50 / max (s) |\n| --- | --- | --- | --- |")
    kinds = Counter(x["kind"] for x in f["faults"])
    for kind, n in sorted(kinds.items()):
        r = f["recovery"][kind]
        kills = sum(1 for x in f["faults"] if x["kind"] == kind) * (kind not in (KILL_BROKER, FREEZE_BROKER))
        _say(f"| {kind} | {n} | {kills} | {r['p50_s']:.1f} / {r['max_s']:.1f}"
             + (f" ({r['unknown']} never recovered)" if r["unknown"] else "") + " |")
    r = f["recovery"]["all"]
    _say(f"| all | {len(f['faults'])} | {f['worker_sigkills']} | {r['p50_s']:.1f} / {r['max_s']:.1f} |")
    _say(f"\nevents {v['events']:,} (accepted {v['accepted']:,}; "
         f"{f['duplicates_sent']:,} duplicates re-sent, {f['duplicate_receipts']:,} DUPLICATE receipts); "
         f"lost {v['lost']}, counted twice {v['doubled']}, wrong outcome {v['wrong_outcome']}; "
         f"archive {f['archive_events']:,} events in {f['archive_chains']} chains, "
         f"{'; '.join(f['archive_findings']) or 'verified'}; "
         f"ClickHouse {f['clickhouse_rows']:,} rows")
    _say(f"latency sent -> receipted and queryable: baseline p50 {f['baseline_latency_s']['p50']:.2f} s, "
         f"p99 {f['baseline_latency_s']['p99']:.2f} s; whole run p50 {f['latency_s']['p50']:.2f} s, "
         f"p99 {f['latency_s']['p99']:.2f} s, max {f['latency_s']['max'] or float('nan'):.1f} s")
    if f["unexpected_worker_exits"] or f["traffic_error"] or not f["drained"]:
        _say(f"PROBLEMS: exits {f['unexpected_worker_exits']}, traffic {f['traffic_error']}, "
             f"drained {f['drained']}")
    _say(f"{'OK' if f['ok'] else 'FAILED'}: every event once, archive verified, one receipt per event"
         if f["ok"] else f"FAILED: {v}")
