"""Operator-side commands: stream simulated traffic at a rate, or send events from a file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from fastavro.validation import ValidationError, validate

from pipeline.operator.producer import MAX_EVENTS_PER_BATCH, DeliveryError, OperatorProducer
from pipeline.operator.simulator import Fleet, now_us
from pipeline.registry import Registry
from pipeline.settings import KafkaSettings, Settings
from schemas.codec import EVENT, load_type

FILE_BATCH = 500


class TokenBucket:
    """Paces batches to ``rate`` events/s on average, with bursts of at most ``burst`` events.

    A batch may take more tokens than there are (the bucket goes into debt); the next batch
    waits until the debt is paid, so any batch size keeps the average rate.
    """

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 events/s")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def wait_time(self) -> float:
        """Seconds until the bucket is out of debt (0: send now)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return max(0.0, -self._tokens / self.rate)

    def take(self, n: int) -> None:
        self._tokens -= n


def run_simulator(settings: Settings, registry: Registry, rate: float, seconds: float | None,
                  bad_share: float, duplicate_share: float, stop_event: threading.Event,
                  seed: int = 1, batch_size: int = 200,
                  kafka_for: Callable[[str], KafkaSettings | None] | None = None,
                  fleet: Fleet | None = None) -> int:
    """Stream every operator's simulated traffic at ``rate`` events/s in all; return events sent.

    Runs for ``seconds`` (None: until ``stop_event`` is set). ``kafka_for`` gives each operator
    its own connection (its access key, under mTLS). Pass a :class:`Fleet` to read its
    ``stats()`` / ``total()`` while or after it runs.
    """
    fleet = fleet or Fleet(registry, seed, batch_size=batch_size, bad_share=bad_share,
                           duplicate_share=duplicate_share)
    producers: dict[str, OperatorProducer] = {}
    for sim in fleet.simulators:
        op_id = sim.operator.operator_id
        kafka = kafka_for(op_id) if kafka_for else None
        own = settings.model_copy(update={"kafka": kafka}) if kafka else settings
        producers[op_id] = OperatorProducer(own, op_id)
    bucket = TokenBucket(rate, burst=max(float(batch_size), rate / 10))
    deadline = None if seconds is None else time.monotonic() + seconds
    sent = 0
    try:
        while not stop_event.is_set():
            wait = bucket.wait_time()
            if deadline is not None and time.monotonic() + wait >= deadline:
                stop_event.wait(max(0.0, deadline - time.monotonic()))
                break
            if wait > 0 and stop_event.wait(wait):
                break
            op_id, batch = fleet.next_batch(now_us())
            producer = producers[op_id]
            if batch.raw is not None:
                producer.send_raw(batch.source_id, batch.raw)
            else:
                producer.send(batch.source_id, batch.events)
            n = max(1, len(batch.events))
            bucket.take(n)
            sent += n
    finally:
        _flush_all(producers.values())
    return sent


def _flush_all(producers: Iterable[OperatorProducer]) -> None:
    """Flush every producer, then raise the first failure (if any)."""
    failure: DeliveryError | None = None
    for producer in producers:
        try:
            producer.flush(60)
        except DeliveryError as exc:
            failure = failure or exc
    if failure is not None:
        raise failure


def _file_events(path: Path) -> Iterator[dict[str, Any]]:
    """The events of a JSON Lines file, each checked against the Event schema."""
    schema = load_type(EVENT).schema
    fields = schema["fields"]
    names = {f["name"] for f in fields}
    optional = {f["name"]: None for f in fields if "default" in f}
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{number}: not JSON: {exc}") from exc
            if not isinstance(event, dict):
                raise SystemExit(f"{path}:{number}: expected one Event object per line")
            unknown = sorted(set(event) - names)
            if unknown:
                raise SystemExit(f"{path}:{number}: fields not in the Event schema: {', '.join(unknown)}")
            event = optional | event
            missing = sorted(names - set(event))
            if missing:
                raise SystemExit(f"{path}:{number}: missing fields: {', '.join(missing)}")
            try:
                validate(event, schema, raise_errors=True)
            except ValidationError as exc:
                raise SystemExit(f"{path}:{number}: {'; '.join(str(e) for e in exc.errors)}") from exc
            yield event


def produce_file(settings: Settings, operator_id: str, source_id: str, path: Path, *,
                 sandbox: bool = False, batch_size: int = FILE_BATCH) -> int:
    """Send the events of a JSON Lines file (one ``Event`` per line) as ``operator_id``; return how many.

    The whole file is checked first, so a bad line sends nothing. Optional fields may be left
    out. Sending a file again is safe: dsom drops events it has already decided.
    """
    if not 1 <= batch_size <= MAX_EVENTS_PER_BATCH:
        raise ValueError(f"batch_size must be 1 to {MAX_EVENTS_PER_BATCH}")
    total = sum(1 for _ in _file_events(path))
    producer = OperatorProducer(settings, operator_id, sandbox=sandbox)
    batch: list[dict[str, Any]] = []
    for event in _file_events(path):
        batch.append(event)
        if len(batch) == batch_size:
            producer.send(source_id, batch)
            batch = []
    if batch:
        producer.send(source_id, batch)
    producer.flush(60)
    topics = settings.topics
    receipts = topics.sandbox_receipts(operator_id) if sandbox else topics.receipts(operator_id)
    print(f"sent {total} events from {path} to {producer.topic}; receipts arrive on {receipts}")
    return total
