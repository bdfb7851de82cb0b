"""``make bench``: end-to-end throughput of the pipeline against the machine's decode ceiling.

Phases, each printed as it runs:
0. warm-up: the same pipeline over throwaway topics (``--warmup-events``), so the broker's JIT
   compiler has done its work before anything is measured (a fresh broker spends whole
   CPU-seconds in C2 compiler threads during its first minute, measured here);
1. preload the ingest topics with simulated traffic (all kinds, all licence kinds, a small
   share of duplicates and invalid events), each operator with its own access key;
2. the ceiling: a plain consume-and-decode loop over the same records (no validation, no sinks);
3. the pipeline: one worker process (validator, tax, ClickHouse sink; ``--workers N`` spreads
   the agents over N processes, see :func:`worker_layout`) from the first record read to the
   last accepted event queryable in ClickHouse (and so archived before it), with the
   workers' CPU time;
4. latency: the same workers, with live traffic generated and sent at ``--rate`` events/s for
   ``--live-seconds``; each accepted event's latency is from its record's hand-over to the
   producer to the time ClickHouse stamped its row (``events.inserted_at``, read after the
   workers stop: only one process can open the chdb folder);
5. the validator's state: live changelog bytes and restored in-memory size, per event decided;
6. the check: ClickHouse holds exactly the valid unique events of both phases, or the bench
   fails loudly.
Figures go to the console and to ``.run/bench/bench.json``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dsom_native
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from pydantic import SecretStr

from pipeline.agents.app import app
from pipeline.agents.clients import kafka_clients
from pipeline.agents.tables import ChangelogTable
from pipeline.agents.topics import ARCHIVE
from pipeline.core.state import PartitionState, state_key_prefix
from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
from pipeline.kafka.changelog import replay
from pipeline.kafka.config import client_config
from pipeline.kafka.lag import LagMonitor
from pipeline.kafka.reader import topic_partitions
from pipeline.operator.fleet import demo_registry
from pipeline.operator.producer import OperatorProducer
from pipeline.operator.simulator import SimBatch, simulate_fleet
from pipeline.progress import scrape
from pipeline.security.bootstrap import grant_services
from pipeline.settings import (
    REPO_ROOT,
    ClickHouseSettings,
    KafkaSettings,
    RegistrySettings,
    Settings,
    TopicSettings,
)
from pipeline.tools.bench_ceiling import measure, plan, topic_bytes
from pipeline.tools.bench_figures import changelog_bytes, deep_size, latency_summary
from pipeline.tools.bench_receipts import ReceiptClock
from registry.access_keys import access_keys
from schemas import EVENT_BATCH, default_codec
from sinks.clickhouse.client import connect

RUN = REPO_ROOT / ".run" / "bench"


def _say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Operators:
    """The bench's simulated operators: their producers and the one traffic stream they share."""

    producers: dict[str, OperatorProducer]
    traffic: Iterator[tuple[str, SimBatch]]
    kafka: dict[str, KafkaSettings]  # each operator's connection, with its own access key

    def encode(self, op: str, batch: SimBatch) -> bytes:
        return batch.raw if batch.raw is not None else default_codec().encode(EVENT_BATCH, {
            "operator_id": op, "source_id": batch.source_id, "sent_at_us": time.time_ns() // 1000,
            "events": batch.events})


def _accepted(batch: SimBatch) -> list[tuple[str, int]]:
    return [key for key, (status, _) in batch.expected.items() if status == "ACCEPTED"]


def preload(settings: Settings, events: int, batch_size: int) -> tuple[Operators, int, int, float]:
    """Produce simulated traffic; return (operators, records, expected accepted events, seconds)."""
    registry = demo_registry(1)
    registry.save(settings.registry_path)
    admin = settings.model_copy(update={"kafka": settings.kafka_as("admin")})
    ops = [o.operator_id for o in registry.operators]
    ensure_topics(admin, system_topics(admin) + operator_topics(admin, ops))
    keys = access_keys(settings, admin.kafka)
    producers, kafkas = {}, {}
    for op in ops:
        key = keys.issue(op)
        kafkas[op] = settings.kafka_with(key.cert, key.key)
        producers[op] = OperatorProducer(settings.model_copy(update={"kafka": kafkas[op]}), op)
    operators = Operators(producers, simulate_fleet(registry, seed=7, batch_size=batch_size,
                                                    bad_share=0.005, duplicate_share=0.005), kafkas)
    encoded = []  # encode first, so the produce figure is Kafka's, not the simulator's
    sent = accepted = 0
    for op, batch in operators.traffic:
        encoded.append((op, batch.source_id.encode(), operators.encode(op, batch)))
        sent += len(batch.events)
        accepted += len(_accepted(batch))
        if sent >= events:
            break
    started = time.perf_counter()
    for op, record_key, value in encoded:
        producers[op].send_raw(record_key, value)
    for p in producers.values():
        p.flush(120)
    return operators, len(encoded), accepted, time.perf_counter() - started


EventKey = tuple[str, str, int]  # (operator, source, seq)


def live(operators: Operators, rate: float, seconds: float,
         every_event: dict[EventKey, int] | None = None) -> tuple[dict[EventKey, int], int]:
    """Send the operators' traffic at ``rate`` events/s for ``seconds``, as it is generated.

    Returns when each accepted event's record was handed to the producer (UTC microseconds,
    keyed by (operator, source, seq)) and how many events were sent; ``every_event`` gets the
    same for every event sent (each one is answered by a receipt). Pacing is by events:
    each record leaves when the events before it are due, so bursts stay one record long.
    """
    sent_at: dict[tuple[str, str, int], int] = {}
    every_event = {} if every_event is None else every_event
    sent = 0
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = sent / rate
        if due > elapsed:
            time.sleep(due - elapsed)
        op, batch = next(operators.traffic)
        value = operators.encode(op, batch)
        at = time.time_ns() // 1000
        operators.producers[op].send_raw(batch.source_id.encode(), value)
        for source_id, seq in _accepted(batch):
            sent_at.setdefault((op, source_id, seq), at)
        for source_id, seq in batch.expected:
            every_event.setdefault((op, source_id, seq), at)
        sent += len(batch.events)
    for p in operators.producers.values():
        p.flush(60)
    return sent_at, sent


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
    engine = os.environ.get("BENCH_ALERTS_ENGINE")  # python: the alerts agent's reference reader
    if agents == "alerts" and engine:
        own = own.model_copy(update={"validation": own.validation.model_copy(update={"engine": engine})})
    log = (RUN / f"{worker_id}.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--agents", agents],
                            cwd=REPO_ROOT, env={**os.environ, **own.as_env(), "PYTHONPATH": str(REPO_ROOT)},
                            stdout=log, stderr=subprocess.STDOUT)


def worker_layout(workers: int) -> list[str]:
    """The agents of each worker process; the first owns the chdb folder, so it runs the sink.

    Measured (docs/performance.md): the validator takes about half of the pipeline's CPU,
    the tax agent and the sink a quarter each, so with two processes the validator gets one
    to itself; from three on, the extra processes share the validator and tax groups.
    """
    layout = (["validator,tax,sink"] if workers <= 1 else ["tax,sink", "validator"] if workers == 2
              else ["tax,sink", *["validator,tax"] * (workers - 1)])
    if os.environ.get("BENCH_CHECKPOINTER") == "1":  # issue 15: what the archive's Merkle logs cost
        layout[0] += ",checkpointer"
    if alerts_on():  # issue 17: in a process of its own, so its CPU is its own
        layout.append("alerts")
    return layout


def alerts_on() -> bool:
    """``BENCH_ALERTS=1``: the alerts agent runs too, and its CPU per event is measured.

    ``BENCH_ALERTS_ENGINE=python`` gives that agent alone the Python reference engine (its
    archive read in fastavro), to compare with the compiled reader under the same load.
    """
    return os.environ.get("BENCH_ALERTS") == "1"


class Workers:
    """The pipeline's worker processes for the whole bench.

    The first runs every agent (it owns the chdb folder); extra workers join the validator
    and tax consumer groups only.
    """

    def __init__(self, settings: Settings, workers: int) -> None:
        self.settings = settings
        layout = worker_layout(workers)
        self.ports = [settings.metrics_port, *(_free_port() for _ in layout[1:])]
        self.main = _start_worker(settings, "bench-1", layout[0], self.ports[0])
        pairs = zip(layout[1:], self.ports[1:], strict=True)
        self.extra = [_start_worker(settings, f"bench-{i}", agents, port)
                      for i, (agents, port) in enumerate(pairs, start=2)]
        self.peak_kib = 0
        self.cpu_at_first = self.cpu_at_done = 0.0
        self.broker_pid = _broker_pid()
        self.broker_cpu_at_first = self.broker_cpu_at_done = 0.0
        self.main_cpu_at_first = self.main_cpu_at_done = 0.0  # the sink's worker alone
        # BENCH_ALERTS: the alerts agent's process, kept out of the workers' CPU (reported apart).
        self.alerts = self.extra.pop() if alerts_on() else None
        self.alerts_cpu_at_first = 0.0

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the workers used so far.

        Less noisy than wall time on a shared machine, where other processes take the cores.
        """
        return sum(_cpu_seconds(p.pid) for p in (self.main, *self.extra))

    def broker_cpu_seconds(self) -> float:
        """CPU time of the local broker (0 when it is not ours): it shares the two cores too."""
        return _cpu_seconds(self.broker_pid) if self.broker_pid else 0.0

    def wait_for_rows(self, rows: int, timeout_s: float = 1800) -> tuple[float | None, float]:
        """Poll until ClickHouse holds ``rows`` events; return monotonic times (first read, done).

        The first is None when no poll saw the pipeline before it had read anything.
        """
        s = self.settings
        first = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for p in (self.main, *self.extra, *([self.alerts] if self.alerts else [])):
                if p.poll() is not None:
                    raise SystemExit(f"worker died with {p.returncode}; see the logs in {RUN}")
            try:
                # Rows from the sink's worker; events read from whichever runs the validator.
                t = scrape(s.metrics_host, self.ports[0])
                events_in = t.events_in + sum(scrape(s.metrics_host, p).events_in
                                              for p in self.ports[1:] if first is None)
            except OSError:
                time.sleep(0.2)
                continue
            now = time.monotonic()
            self.peak_kib = max(self.peak_kib, _vm_hwm_kib(self.main.pid))
            if first is None and events_in > 0:
                first = now
                self.alerts_cpu_at_first = _cpu_seconds(self.alerts.pid) if self.alerts else 0.0
                self.cpu_at_first = self.cpu_seconds()
                self.broker_cpu_at_first = self.broker_cpu_seconds()
                self.main_cpu_at_first = _cpu_seconds(self.main.pid)
            if t.clickhouse_rows["events"] >= rows:
                self.cpu_at_done = self.cpu_seconds()
                self.broker_cpu_at_done = self.broker_cpu_seconds()
                self.main_cpu_at_done = _cpu_seconds(self.main.pid)
                return first, now
            time.sleep(0.1)  # each scrape costs the worker CPU (metrics and process collectors)
        raise SystemExit(f"ClickHouse did not reach {rows:,} events within {timeout_s:.0f} s")

    def wait_for_alerts(self, timeout_s: float = 1800) -> tuple[float, float]:
        """Wait until the alerts agent has committed the whole archive.

        Returns its CPU-seconds since the pipeline's first read, and how long after the call it
        caught up. Transaction markers leave one record per partition it never consumes.
        """
        assert self.alerts is not None
        s, started = self.settings, time.monotonic()
        monitor = LagMonitor(s.kafka_as("pipeline"))
        try:
            while time.monotonic() - started < timeout_s:
                if self.alerts.poll() is not None:
                    raise SystemExit(f"the alerts worker died with {self.alerts.returncode}; see {RUN}")
                if monitor.lag(f"{s.topics.prefix}-alerts", ARCHIVE.pattern(s.topics)) <= (
                        s.topics.archive_partitions):
                    cpu_s = _cpu_seconds(self.alerts.pid) - self.alerts_cpu_at_first
                    return cpu_s, time.monotonic() - started
                time.sleep(0.5)
        finally:
            monitor.close()
        raise SystemExit(f"the alerts agent did not catch up within {timeout_s:.0f} s")

    def stop(self) -> None:
        self.peak_kib = max(self.peak_kib, _vm_hwm_kib(self.main.pid))
        every = (self.main, *self.extra, *([self.alerts] if self.alerts else []))
        for p in every:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in every:
            p.wait(120)


def _broker_pid() -> int | None:
    """The pid of the broker ``infra/kafka_local.py`` started for this run, if any."""
    try:
        return int((Path(os.environ.get("DSOM_RUN_DIR", RUN)) / "kafka" / "broker.pid").read_text())
    except (OSError, ValueError):
        return None


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def dedup_state(settings: Settings) -> dict[str, Any]:
    """Size of the validator's state: live changelog bytes per kind, and the restored structures.

    The changelog is read whole (as a worker taking the partitions over would) after the
    workers stopped; ``memory`` is the deep size of the restored per-partition objects of the
    Python engine, ``native_memory`` what the compiled engine's states report for the same
    entries (their allocations at the allocator's sizes, tables at capacity).
    """
    kafka = settings.kafka_as("pipeline")
    group = settings.topics.reader_group
    entries: list[tuple[bytes, bytes | None]] = []
    changelog = settings.topics.validator_state
    changelog_tps = topic_partitions(kafka, "^" + changelog.replace(".", r"\.") + "$", group=group)
    replay(kafka, changelog, [tp.partition for tp in changelog_tps], lambda k, v: entries.append((k, v)),
           group=group)
    ingest = topic_partitions(kafka, settings.topics.ingest_pattern, group=group)
    tps = [(tp.topic, tp.partition) for tp in ingest]
    own = settings.model_copy(update={"kafka": kafka})
    window = settings.validation.conflict_window_per_source
    table = ChangelogTable(changelog, settings.topics.state_partitions,
                           lambda t, p: PartitionState(t, p, conflict_window=window),
                           kafka_clients(own).replay)
    table.restore(tps)
    states = dict(table.items())
    seen: set[int] = set()  # shared objects (interned source IDs) are counted once
    # Whole lists, alive while measured: ids of freed temporaries would be reused and skipped.
    seqs = [st.sources for st in states.values()]
    bets = [(st.bets, st.stakes, st.refunded, st.bet_batches, st.bet_expiry) for st in states.values()]
    windows = [st.windows for st in states.values()]
    native = {tp: dsom_native.ValidatorState(*tp, window) for tp in tps}
    by_prefix = {state_key_prefix(*tp): st for tp, st in native.items()}
    for key, value in entries:
        owner = by_prefix.get(key[: key.index(b"|", key.index(b"|") + 1) + 1])
        if owner is not None:
            owner.apply(key, value)
    native_memory = [st.memory() for st in native.values()]
    return {
        "changelog_bytes": changelog_bytes(entries),
        "memory_bytes": {"seq": deep_size(seqs, seen), "bets": deep_size(bets, seen),
                         "windows": deep_size(windows, seen)},
        "native_memory_bytes": {part: sum(m[part] for m in native_memory)
                                for part in ("seq", "bets", "windows")},
        "window_sources": sum(len(st.windows) for st in states.values()),
        "window_events": sum(len(w) for st in states.values() for w in st.windows.values()),
        "sources": sum(len(st.sources) for st in states.values()),
        "intervals": sum(len(q.starts) for st in states.values() for q in st.sources.values()),
        "open_bets": sum(len(st.bets) for st in states.values()),
    }


def warm_up(settings: Settings, events: int, batch_size: int, workers: int) -> None:
    """Run the pipeline once over throwaway topics and its own chdb folder, then stop it."""
    warm = settings.model_copy(update={
        "topics": settings.topics.model_copy(update={"prefix": f"warm{int(time.time())}"}),
        "clickhouse": ClickHouseSettings(dsn=SecretStr(f"chdb://{RUN / 'chdb-warm'}")),
        "metrics_port": _free_port()})
    shutil.rmtree(RUN / "chdb-warm", ignore_errors=True)
    grant_services(warm)
    started = time.perf_counter()
    _, _, accepted, _ = preload(warm, events, batch_size)
    pool = Workers(warm, workers)
    try:
        pool.wait_for_rows(accepted)
    finally:
        pool.stop()
    shutil.rmtree(RUN / "chdb-warm", ignore_errors=True)
    _say(f"   {events:,} events through the pipeline in {time.perf_counter() - started:.1f} s")


def run_bench(events: int, batch_size: int, workers: int = 1, rate: float = 5000.0,
              live_seconds: float = 20.0, warmup_events: int = 100_000) -> int:
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=os.environ.get("DSOM_KAFKA__BOOTSTRAP_SERVERS",
                                                             "127.0.0.1:19292")),
        topics=TopicSettings(prefix=f"bench{int(time.time())}"),
        clickhouse=ClickHouseSettings(dsn=SecretStr(f"chdb://{RUN / 'chdb'}")),
        registry_path=RUN / "registry.json",
        registry=RegistrySettings(dsn=SecretStr(f"sqlite:///{RUN / 'registry.sqlite'}")),  # its keys
        pki_dir=Path(os.environ.get("DSOM_PKI_DIR", RUN / "pki")),
        metrics_port=_free_port(),  # never a port another checkout's demo or tests may hold
    )
    RUN.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(RUN / "chdb", ignore_errors=True)  # the check counts rows: start from none
    grant_services(settings)
    if warmup_events:
        _say(f"== warm-up: {warmup_events:,} events through the pipeline on throwaway topics")
        warm_up(settings, warmup_events, batch_size, workers)
    _say(f"== preloading {events:,} events in batches of {batch_size} (mTLS, 5 operators)")
    operators, records, accepted, produce_s = preload(settings, events, batch_size)
    _say(f"   {records:,} records produced in {produce_s:.1f} s ({events / produce_s:,.0f} events/s); "
         f"{accepted:,} events must be accepted")
    _say("== ceiling: consume + decode only")
    decoded, ceiling_s = ceiling(settings)
    _say(f"   {decoded:,} events in {ceiling_s:.1f} s ({decoded / ceiling_s:,.0f} events/s)")
    _say(f"== pipeline: {workers} worker process(es) ({' | '.join(worker_layout(workers))}), "
         "until ClickHouse holds all")
    pool = Workers(settings, workers)
    try:
        first, done = pool.wait_for_rows(accepted)
        if first is None:
            raise SystemExit("the pipeline was done before its first progress report")
        seconds = done - first
        rate_e2e = decoded / seconds
        cpu_s = pool.cpu_at_done - pool.cpu_at_first
        broker_cpu_s = pool.broker_cpu_at_done - pool.broker_cpu_at_first
        main_cpu_s = pool.main_cpu_at_done - pool.main_cpu_at_first
        _say(f"   {decoded:,} events in {seconds:.1f} s ({rate_e2e:,.0f} events/s); workers used "
             f"{cpu_s:.1f} CPU-s ({decoded / cpu_s:,.0f} events per CPU-second; the sink's worker "
             f"{main_cpu_s:.1f}), the broker {broker_cpu_s:.1f} CPU-s; "
             f"peak RSS so far {pool.peak_kib / 1024:.0f} MiB")
        alerts: dict[str, float] = {}
        if pool.alerts is not None:
            alerts_cpu_s, after_s = pool.wait_for_alerts()
            alerts = {"alerts_cpu_seconds": alerts_cpu_s,
                      "alerts_cpu_us_per_event": alerts_cpu_s / decoded * 1e6,
                      "alerts_done_after_pipeline_s": after_s}
            _say(f"   alerts agent (own process): {alerts_cpu_s:.1f} CPU-s, "
                 f"{alerts['alerts_cpu_us_per_event']:.1f} µs per event; through the archive "
                 f"{after_s:.1f} s after ClickHouse held all")
        _say(f"== latency: live traffic at {rate:,.0f} events/s for {live_seconds:.0f} s, "
             "produce -> queryable in ClickHouse")
        live_start_us = time.time_ns() // 1000
        clock = ReceiptClock(settings.topics, operators.kafka)
        every_event: dict[tuple[str, str, int], int] = {}
        try:
            sent_at, live_sent = live(operators, rate, live_seconds, every_event)
            pool.wait_for_rows(accepted + len(sent_at), timeout_s=600)
            time.sleep(1.0)  # receipts commit before the archive is read, so they are in by now
        finally:
            received_at = clock.stop()
        _say(f"   {live_sent:,} events sent, {len(sent_at):,} to be accepted")
    finally:
        pool.stop()
    _say("== broker ceiling: the same bytes moved again, raw (every written topic produced once more, "
         "every read topic consumed as often as agents read it, all at once)")
    agents = [app.get(name) for layout in worker_layout(workers) for name in layout.split(",")]
    data_dir = Path(os.environ.get("DSOM_RUN_DIR", RUN)) / "kafka" / "data"
    on_disk = topic_bytes([data_dir], settings.topics.prefix)
    traffic = plan(agents, on_disk, settings.topics)
    events_in_topics = decoded + live_sent
    broker = measure(settings, traffic, events_in_topics, settings.topics.reader_group,
                     lambda: _cpu_seconds(pool.broker_pid) if pool.broker_pid else 0.0)
    broker_ceiling = broker.events / broker.seconds
    _say(f"   {broker.events:,} events' bytes: {broker.bytes_written / 1e6:,.0f} MB written, "
         f"{broker.bytes_read / 1e6:,.0f} MB read in {broker.seconds:.1f} s ({broker_ceiling:,.0f} events/s; "
         f"broker {broker.broker_cpu_seconds / broker.events * 1e6:.1f} µs CPU per event)")
    _say("== dedup state (validator changelog, restored)")
    state = dedup_state(settings)
    client = connect(settings.clickhouse)
    db = settings.clickhouse.database
    try:
        # Events the state covers (repeats excluded): every accepted and every rejected event.
        decided = int(client.query(f"SELECT (SELECT count() FROM {db}.events) + (SELECT count() FROM "
                                   f"{db}.rejections WHERE seq IS NOT NULL)").result_rows[0][0])
        stored = client.query(f"SELECT count(), uniqExact(operator_id, source_id, seq) FROM {db}.events"
                              ).result_rows[0]
        rows = client.query(
            f"SELECT operator_id, source_id, seq, toUnixTimestamp64Micro(inserted_at) FROM {db}.events "
            f"WHERE received_at >= fromUnixTimestamp64Micro({live_start_us}, 'UTC')").result_rows
    finally:
        client.close()
    state["events_decided"] = decided
    state["seq_changelog_bytes_per_event"] = state["changelog_bytes"].get("seq", 0) / max(decided, 1)
    state["seq_memory_bytes_per_event"] = state["memory_bytes"]["seq"] / max(decided, 1)
    bets_changelog = state["changelog_bytes"].get("bets", 0) + state["changelog_bytes"].get("refund", 0)
    state["bets_changelog_bytes_per_event"] = bets_changelog / max(decided, 1)
    state["bets_memory_bytes_per_event"] = state["memory_bytes"]["bets"] / max(decided, 1)
    state["bets_native_memory_bytes_per_event"] = state["native_memory_bytes"]["bets"] / max(decided, 1)
    state["dig_changelog_bytes_per_event"] = state["changelog_bytes"].get("dig", 0) / max(decided, 1)
    per_source = max(state["window_sources"], 1)
    state["windows_bytes_per_source"] = {
        "changelog": state["changelog_bytes"].get("dig", 0) / per_source,
        "memory": state["memory_bytes"]["windows"] / per_source,
        "native_memory": state["native_memory_bytes"]["windows"] / per_source}
    _say(f"   {decided:,} events decided; {state['sources']} sources in {state['intervals']} intervals; "
         f"{state['open_bets']:,} open bets; {state['window_events']:,} content digests kept")
    latency = latency_summary(sent_at, (((op, src, seq), at) for op, src, seq, at in rows))
    receipts = latency_summary(every_event, received_at.items())
    receipts["unanswered"] = sum(1 for key in every_event if key not in received_at)
    expected = accepted + len(sent_at)
    ok = (stored[0] == stored[1] == expected and latency["events"] == len(sent_at) and not latency["unknown"]
          and not receipts["unanswered"])
    figures = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m": os.getloadavg()[0]},
        "events": decoded, "batch_size": batch_size, "workers": workers, "warmup_events": warmup_events,
        "produce_events_per_s": events / produce_s,
        "ceiling_events_per_s": decoded / ceiling_s, "pipeline_events_per_s": rate_e2e,
        "ratio_to_ceiling": rate_e2e / (decoded / ceiling_s),
        "broker_ceiling_events_per_s": broker_ceiling, "ratio_to_broker_ceiling": rate_e2e / broker_ceiling,
        "broker_ceiling": {
            "seconds": broker.seconds, "events": broker.events, "bytes_read": broker.bytes_read,
            "bytes_written": broker.bytes_written, "reads": dict(traffic.reads),
            "writes": list(traffic.writes), "topic_bytes": on_disk,
            "broker_cpu_us_per_event": broker.broker_cpu_seconds / broker.events * 1e6},
        "peak_rss_mib": pool.peak_kib / 1024,
        "worker_cpu_seconds": cpu_s, "events_per_worker_cpu_second": decoded / cpu_s,
        "worker_cpu_us_per_event": cpu_s / decoded * 1e6,
        "broker_cpu_seconds": broker_cpu_s, "broker_cpu_us_per_event": broker_cpu_s / decoded * 1e6,
        "cores_busy": (cpu_s + broker_cpu_s) / seconds,
        "sink_worker_cpu_seconds": main_cpu_s, **alerts,
        "clickhouse_rows": stored[0], "expected_accepted": expected, "exactly_once": ok,
        "latency": {"rate_events_per_s": rate, "seconds": live_seconds, "events_sent": live_sent,
                    **latency},
        "receipt_latency": {"rate_events_per_s": rate, **receipts},
        "dedup_state": state,
    }
    (RUN / "bench.json").write_text(json.dumps(figures, indent=2))
    _say("\n| figure | value |\n| --- | --- |")
    for name in ("produce_events_per_s", "broker_ceiling_events_per_s", "ceiling_events_per_s",
                 "pipeline_events_per_s"):
        _say(f"| {name} | {figures[name]:,.0f} |")
    _say(f"| ratio to the broker ceiling / to the decode ceiling | "
         f"{figures['ratio_to_broker_ceiling']:.0%} / {figures['ratio_to_ceiling']:.0%} |")
    _say(f"| events_per_worker_cpu_second | {figures['events_per_worker_cpu_second']:,.0f} |")
    _say(f"| CPU per event: workers / broker | {figures['worker_cpu_us_per_event']:.1f} / "
         f"{figures['broker_cpu_us_per_event']:.1f} µs |")
    _say(f"| cores kept busy by workers + broker | {figures['cores_busy']:.2f} of {os.cpu_count()} |")
    _say(f"| sink worker (first) CPU-s in the throughput phase | {figures['sink_worker_cpu_seconds']:.1f} |")
    if alerts:
        _say(f"| alerts agent CPU per event (own process, not in the workers' figures) | "
             f"{alerts['alerts_cpu_us_per_event']:.1f} µs |")
    _say(f"| peak_rss_mib | {figures['peak_rss_mib']:.0f} |")
    _say(f"| latency at {rate:,.0f} events/s: p50 / p99 / max | {latency['p50_ms']:,.0f} / "
         f"{latency['p99_ms']:,.0f} / {latency['max_ms']:,.0f} ms ({latency['events']:,} events) |")
    _say(f"| receipt latency at {rate:,.0f} events/s (hand-over -> the operator's consumer has it): "
         f"p50 / p99 / max | {receipts['p50_ms']:,.1f} / {receipts['p99_ms']:,.1f} / "
         f"{receipts['max_ms']:,.1f} ms "
         f"({receipts['events']:,} events, {receipts['unanswered']:,} unanswered) |")
    _say(f"| dedup state (seq intervals): changelog / memory bytes per event | "
         f"{state['seq_changelog_bytes_per_event']:.4f} / {state['seq_memory_bytes_per_event']:.4f} |")
    _say(f"| open-bet state: changelog / memory (Python engine / native engine) bytes per event | "
         f"{state['bets_changelog_bytes_per_event']:.1f} / {state['bets_memory_bytes_per_event']:.1f} / "
         f"{state['bets_native_memory_bytes_per_event']:.1f} |")
    w = state["windows_bytes_per_source"]
    _say(f"| content windows: live changelog / memory (Python engine / native engine) bytes per source | "
         f"{w['changelog']:,.0f} / {w['memory']:,.0f} / {w['native_memory']:,.0f} |")
    _say(f"| every valid event once in ClickHouse | {'yes' if ok else 'NO'} "
         f"({stored[0]:,} rows, {stored[1]:,} unique, {expected:,} expected; "
         f"{latency['events']:,} of {len(sent_at):,} live events found) |")
    _say(f"figures written to {RUN / 'bench.json'}")
    return 0 if ok else 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    raise SystemExit(run_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 1_500_000, 500))
