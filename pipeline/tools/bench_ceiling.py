"""The broker ceiling of ``make bench``: Kafka moving the pipeline's bytes, and nothing else.

After the pipeline has run, its topics hold exactly what it wrote (archive, receipts, tax
events, changelogs) and what it read (the ingest topics and those outputs). The ceiling moves
the same bytes again on the same broker with the same mTLS settings: every topic the run's
agents write is produced once more (to a scratch copy), and every topic they read is consumed
as many times as agents read it, raw (no decoding), all at once, as the pipeline does. The
events the run's ingest topics hold divided by that wall time is the most this broker could
carry with this design's topic layout; the pipeline's rate is then a share of it.

Which topic is read or written how often comes from the agents' declarations
(:data:`pipeline.agents.app.app`), so the plan follows the pipeline as agents change.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from pipeline.agents.app import AgentSpec
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.config import consumer_config, producer_config
from pipeline.settings import Settings, TopicSettings

_PARTITION_DIR = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)$")


@dataclass(frozen=True)
class TrafficPlan:
    """What the pipeline's agents did to each topic: reads per topic, topics written."""

    reads: Mapping[str, int]
    writes: tuple[str, ...]


def plan(agents: Iterable[AgentSpec], topics: Iterable[str], t: TopicSettings) -> TrafficPlan:
    """Match the agents' declared reads and writes (and changelog tables) to existing topic names (pure)."""
    names = sorted(topics)
    reads: Counter[str] = Counter()
    writes: set[str] = set()
    for agent in agents:
        for declared in agent.reads:
            reads.update(n for n in names if re.fullmatch(declared.pattern(t), n))
        for declared in agent.writes:
            writes.update(n for n in names if re.fullmatch(declared.pattern(t), n))
        writes.update(n for n in agent.changelogs(t) if n in names)
    return TrafficPlan(dict(reads), tuple(sorted(writes)))


def topic_bytes(data_dirs: Iterable[Path], prefix: str) -> dict[str, int]:
    """Bytes of record batches each topic of ``prefix`` holds on the broker's disks (log segments only)."""
    sizes: Counter[str] = Counter()
    for data in data_dirs:
        for part in data.iterdir() if data.is_dir() else ():
            m = _PARTITION_DIR.match(part.name)
            if m is None or not m["topic"].startswith(f"{prefix}."):
                continue
            sizes[m["topic"]] += sum(f.stat().st_size for f in part.glob("*.log"))
    return dict(sizes)


def _drain(consumer: Consumer, topic: str, keep: list[tuple[int, bytes | None, bytes | None]] | None) -> int:
    """Read ``topic`` from its start to its end (partition EOF); return the bytes read (keys and values)."""
    meta = consumer.list_topics(topic, timeout=30).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
    pending = set(meta.partitions)
    read = 0
    while pending:
        for msg in consumer.consume(1000, timeout=1.0):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                continue
            key, value = msg.key(), msg.value()
            read += len(key or b"") + len(value or b"")
            if keep is not None:
                keep.append((msg.partition() or 0, key, value))
    consumer.unassign()
    return read


def _reader(settings: Settings, group: str) -> Consumer:
    return Consumer(consumer_config(settings.kafka_as("pipeline"), group, **{"enable.partition.eof": True}))


@dataclass
class CeilingRun:
    events: int
    seconds: float
    bytes_read: int
    bytes_written: int
    broker_cpu_seconds: float


def measure(settings: Settings, traffic: TrafficPlan, events: int, group: str,
            broker_cpu: Callable[[], float] = lambda: 0.0) -> CeilingRun:
    """Produce every written topic once more and consume every read topic as often as it is read, at once."""
    loader = _reader(settings, group)
    copies: dict[str, list[tuple[int, bytes | None, bytes | None]]] = {}
    for topic in traffic.writes:  # loaded first, untimed: the pipeline had these in memory
        copies[topic] = []
        _drain(loader, topic, copies[topic])
    loader.close()
    admin = settings.model_copy(update={"kafka": settings.kafka_as("admin")})
    scratch = {t: f"{settings.topics.prefix}.ceiling.{t.removeprefix(settings.topics.prefix + '.')}"
               for t in copies}
    parts = {t: 1 + max((p for p, _, _ in rows), default=0) for t, rows in copies.items()}
    ensure_topics(admin, [NewTopic(scratch[t], num_partitions=parts[t],
                                   replication_factor=settings.topics.replication_factor) for t in copies])
    totals = {"read": 0, "written": 0}
    lock = threading.Lock()

    def consume(topic: str) -> None:
        c = _reader(settings, group)
        got = _drain(c, topic, None)
        c.close()
        with lock:
            totals["read"] += got

    def produce() -> None:
        p = Producer(producer_config(settings.kafka_as("pipeline")))  # as the agents' producers, untransacted
        written = 0
        for topic, rows in copies.items():
            for partition, key, value in rows:
                while True:
                    try:
                        p.produce(scratch[topic], value, key, partition=partition)
                        break
                    except BufferError:
                        p.poll(0.05)
                written += len(key or b"") + len(value or b"")
        p.flush(300)
        with lock:
            totals["written"] += written

    threads = [threading.Thread(target=produce)]
    for topic, n in traffic.reads.items():
        threads += [threading.Thread(target=consume, args=(topic,)) for _ in range(n)]
    cpu_before = broker_cpu()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return CeilingRun(events, seconds, totals["read"], totals["written"], broker_cpu() - cpu_before)
