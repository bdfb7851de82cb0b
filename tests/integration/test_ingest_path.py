"""End to end on the real broker and chdb: N events with duplicates, retries and bad input in,
exactly the valid unique ones out — also across a SIGKILL of the pipeline mid-run."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import pytest

from pipeline.archive import verify_archive
from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
from pipeline.operator.fleet import demo_registry
from pipeline.operator.producer import OperatorProducer
from pipeline.operator.simulator import SimBatch, simulate_fleet
from pipeline.progress import Totals
from pipeline.registry import Registry
from pipeline.settings import Settings
from schemas import RECEIPT_BATCH, default_codec
from sinks.clickhouse.client import connect
from tests.integration.conftest import Worker, as_operator, read_all

pytestmark = pytest.mark.integration
EventKey = tuple[str, str, int]  # (operator, source, seq)


@dataclass
class Expected:
    events: dict[EventKey, tuple[str, str | None]] = field(default_factory=dict)
    record_reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (operator, reason)
    duplicates_sent: int = 0
    bodies: dict[EventKey, dict[str, Any]] = field(default_factory=dict)  # accepted events

    @property
    def accepted(self) -> set[EventKey]:
        return {k for k, (status, _) in self.events.items() if status == "ACCEPTED"}


def fleet(registry: Registry, seed: int) -> Iterator[tuple[str, SimBatch]]:
    return simulate_fleet(registry, seed=seed, batch_size=50, bad_share=0.05, duplicate_share=0.05)


def produce_traffic(settings: Settings, traffic: Iterator[tuple[str, SimBatch]], batches: int,
                    expected: Expected | None = None) -> Expected:
    """Send ``batches`` simulated records; return (or extend) what the pipeline must make of them."""
    expected = expected or Expected()
    producers: dict[str, OperatorProducer] = {}
    for op_id, batch in islice(traffic, batches):
        if op_id not in producers:
            producers[op_id] = OperatorProducer(as_operator(settings, op_id), op_id)
        producer = producers[op_id]
        if batch.raw is not None:
            producer.send_raw(batch.source_id.encode(), batch.raw)
        else:
            producer.send(batch.source_id, batch.events)
        for (source, seq), outcome in batch.expected.items():
            key = (op_id, source, seq)
            assert key not in expected.events, f"simulator reused event ID {key}"
            expected.events[key] = outcome
        for ev in batch.events:
            if batch.expected.get((batch.source_id, ev["seq"])) == ("ACCEPTED", None):
                expected.bodies[(op_id, batch.source_id, ev["seq"])] = ev
        if batch.expected_record_reason:
            expected.record_reasons[(op_id, batch.expected_record_reason)] += 1
        expected.duplicates_sent += batch.duplicates
    for producer in producers.values():
        producer.flush(60)
    return expected


def seed_registry(settings: Settings) -> Registry:
    registry = demo_registry(1)
    registry.save(settings.registry_path)
    ensure_topics(settings, system_topics(settings)
                  + operator_topics(settings, [o.operator_id for o in registry.operators]))
    return registry


def read_receipts(settings: Settings) -> tuple[Counter[EventKey], dict[EventKey, tuple[str, str | None]],
                                              Counter[tuple[str, str]]]:
    """Receipts per event ID (DUPLICATEs apart), each event's outcome, and record-level rejections.

    Each DUPLICATE must name the event's receipt (when it is in the window, as here); they are
    counted under the key ``("DUPLICATE", "", 0)``.
    """
    codec = default_codec()
    counts: Counter[EventKey] = Counter()
    outcome: dict[EventKey, tuple[str, str | None]] = {}
    record_level: Counter[tuple[str, str]] = Counter()
    ids: dict[EventKey, str] = {}
    firsts: list[tuple[EventKey, str | None]] = []
    for msg in read_all(settings, settings.topics.receipts_pattern):
        _, rb = codec.decode(msg.value() or b"", expect=RECEIPT_BATCH)
        for r in rb["receipts"]:
            if r["seq"] is None:
                record_level[(rb["operator_id"], r["reason"])] += 1
                continue
            key = (rb["operator_id"], rb["source_id"], r["seq"])
            if r["status"] == "DUPLICATE":
                firsts.append((key, r["first_receipt_id"]))
                continue
            counts[key] += 1
            outcome[key] = (r["status"], r["reason"])
            ids[key] = r["receipt_id"]
    assert all(ids.get(key) == first for key, first in firsts), "a DUPLICATE names another receipt"
    counts[DUPLICATES] = len(firsts)
    return counts, outcome, record_level


DUPLICATES: EventKey = ("DUPLICATE", "", 0)


def wait_for_clickhouse(worker: Worker, expected: Expected, timeout: float = 180) -> None:
    rejected_events = sum(1 for s, _ in expected.events.values() if s == "REJECTED")
    rejected_rows = rejected_events + sum(expected.record_reasons.values())

    def done(t: Totals) -> bool:
        return (t.clickhouse_rows["events"] >= len(expected.accepted)
                and t.clickhouse_rows["rejections"] >= rejected_rows)

    worker.wait_until(done, timeout, "ClickHouse to hold every accepted and rejected event")
    time.sleep(1.5)  # anything extra (a double count) would land now


def check_everything(settings: Settings, expected: Expected) -> None:
    # Every event got exactly one receipt, with the expected status and reason.
    counts, outcome, record_level = read_receipts(settings)
    # Every repeat sent got a DUPLICATE receipt naming the first (which is counted once, below)
    assert counts.pop(DUPLICATES) == expected.duplicates_sent
    assert set(counts) == set(expected.events), "receipts and produced events differ"
    assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1][:5]
    wrong = {k: (outcome[k], v) for k, v in expected.events.items() if outcome[k] != v}
    assert not wrong, list(wrong.items())[:10]
    assert record_level == expected.record_reasons

    # The archive holds every accepted event once, and its hash chains verify.
    report = verify_archive(settings)
    assert not report.findings, report.findings  # the chains verify
    assert set(report.event_ids) == expected.accepted
    assert max(report.event_ids.values()) == 1

    # ClickHouse holds exactly the valid unique events, and every rejection with its reason.
    client = connect(settings.clickhouse)
    db = settings.clickhouse.database
    rows = client.query(f"SELECT operator_id, source_id, seq FROM {db}.events").result_rows
    assert len(rows) == len(expected.accepted)
    assert {(o, s, int(q)) for o, s, q in rows} == expected.accepted
    rejections = client.query(
        f"SELECT operator_id, source_id, seq, reason FROM {db}.rejections").result_rows
    event_rejections = {(o, s, int(q)): r for o, s, q, r in rejections if q is not None and r and s}
    expected_rejections = {k: reason for k, (status, reason) in expected.events.items()
                           if status == "REJECTED"}
    assert {k: v for k, v in event_rejections.items() if k in expected_rejections} == expected_rejections
    client.close()


def test_valid_unique_events_land_once(settings: Settings, worker: Worker) -> None:
    registry = seed_registry(settings)
    expected = produce_traffic(settings, fleet(registry, seed=11), batches=100)
    assert expected.duplicates_sent > 0 and expected.record_reasons
    assert any(s == "REJECTED" for s, _ in expected.events.values())
    worker.start()
    wait_for_clickhouse(worker, expected)
    # What a timed-out wait_until shows: every thread's stack, the worker running on.
    worker.dump_stacks()
    dump = worker.log_path.read_text(errors="replace")
    assert "most recent call first" in dump and 'File "' in dump and "in run_worker" in dump
    assert worker.stop() == 0
    check_everything(settings, expected)


def test_sigkill_mid_run_loses_nothing_and_counts_nothing_twice(settings: Settings,
                                                                 worker: Worker) -> None:
    registry = seed_registry(settings)
    traffic = fleet(registry, seed=23)
    # Enough traffic, and a close enough look, that the kill lands mid-run: on a quiet machine
    # the validator decided 400 batches between two looks 0.3 s apart.
    expected = produce_traffic(settings, traffic, batches=800)
    worker.start()
    seen: list[float] = []

    def a_third_done(t: Totals) -> bool:
        seen.append(t.events_in)
        return t.events_in >= len(expected.events) // 3

    worker.wait_until(a_third_done, 120, "a third of the events to be processed", interval=0.02)
    worker.kill()
    assert seen[-1] < len(expected.events), "the worker had finished before it was killed"
    produce_traffic(settings, traffic, batches=60, expected=expected)  # sent while it is down
    worker.start()
    wait_for_clickhouse(worker, expected)
    assert worker.stop() == 0
    check_everything(settings, expected)
