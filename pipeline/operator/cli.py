"""Operator-side commands: stream simulated traffic at a rate, or send events from a file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from pipeline.operator.producer import OperatorProducer
from pipeline.operator.simulator import simulate_fleet
from pipeline.registry import Registry
from pipeline.settings import KafkaSettings, Settings
from schemas.codec import EVENT, load_type

FILE_BATCH = 500


def run_simulator(settings: Settings, registry: Registry, rate: float, seconds: float | None,
                  bad_share: float, duplicate_share: float, stop_event: threading.Event,
                  seed: int = 1, batch_size: int = 200,
                  kafka_for: Callable[[str], KafkaSettings | None] | None = None) -> int:
    """Stream every operator's traffic at ``rate`` events/s in all; return events sent.

    ``kafka_for`` gives each operator its own connection (its access key, under mTLS).
    """
    producers = {}
    for op in registry.operators:
        kafka = kafka_for(op.operator_id) if kafka_for else None
        own = settings.model_copy(update={"kafka": kafka}) if kafka else settings
        producers[op.operator_id] = OperatorProducer(own, op.operator_id)
    fleet = simulate_fleet(registry, seed=seed, batch_size=batch_size, bad_share=bad_share,
                           duplicate_share=duplicate_share)
    started = time.monotonic()
    sent = 0
    try:
        for op_id, batch in fleet:
            elapsed = time.monotonic() - started
            if stop_event.is_set() or (seconds is not None and elapsed >= seconds):
                break
            ahead = sent / rate - elapsed  # pace by events, not batches
            if ahead > 0:
                stop_event.wait(ahead)
            producer = producers[op_id]
            if batch.raw is not None:
                producer.send_raw(batch.source_id.encode(), batch.raw)
            else:
                producer.send(batch.source_id, batch.events)
            sent += max(1, len(batch.events))
    finally:
        for producer in producers.values():
            producer.flush(60)
    return sent


def produce_file(settings: Settings, operator_id: str, source_id: str, path: Path) -> int:
    """Send the events of a JSON Lines file (one ``Event`` per line) as ``operator_id``."""
    optional = [f["name"] for f in load_type(EVENT).schema["fields"] if "default" in f]
    producer = OperatorProducer(settings, operator_id)
    batch: list[dict[str, Any]] = []
    sent = 0
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{number}: not JSON: {exc}") from exc
            batch.append({name: None for name in optional} | event)
            if len(batch) == FILE_BATCH:
                producer.send(source_id, batch)
                sent, batch = sent + len(batch), []
    if batch:
        producer.send(source_id, batch)
        sent += len(batch)
    producer.flush(60)
    print(f"sent {sent} events from {path} to {producer.topic}; receipts arrive on "
          f"{settings.topics.receipts(operator_id)}")
    return sent
