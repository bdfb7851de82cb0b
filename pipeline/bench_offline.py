"""One-thread harness, no Kafka: the tax agent's and the sink's per-record work over simulated records.

``python -m pipeline.bench_offline [--events N]``: simulated traffic (as ``make bench`` makes
it) goes through the validator's processor once to get real archive, receipts and tax-events
records; then each stage's per-record work is timed over them, best of three rounds, so a busy
neighbour disturbs the figure less. It measures the code, not Kafka or ClickHouse.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.core.processor import RecordProcessor
from pipeline.core.state import PartitionState
from pipeline.core.tax import TaxRates
from pipeline.core.taxation import TaxProcessor, TaxState
from pipeline.operator.fleet import demo_registry
from pipeline.operator.simulator import simulate_fleet
from pipeline.settings import Settings
from schemas import EVENT_BATCH, TAX_DISCREPANCY, default_codec
from sinks.clickhouse import avro, records
from sinks.clickhouse.rows import Columns, add_archive_batch, add_payouts, add_rejections, add_tax_event
from sinks.clickhouse.tables import EVENTS, REJECTIONS, TAX_EVENTS


@dataclass
class Records:
    archive: list[bytes]
    receipts: list[bytes]
    events: int


def simulate(events: int, settings: Settings) -> Records:
    """Archive and receipts records of ``events`` simulated events, as the validator writes them."""
    registry = demo_registry(1)
    codec = default_codec()
    proc = RecordProcessor(registry, settings.validation, settings.topics, codec)
    states: dict[str, PartitionState] = {}
    clock = [1_793_500_000_000_000]  # 2026-11, Kyiv
    out = Records([], [], 0)
    offsets: dict[str, int] = {}
    for op, batch in simulate_fleet(registry, seed=7, batch_size=500, bad_share=0.005,
                                    duplicate_share=0.005, clock=lambda: clock[0]):
        topic = settings.topics.ingest(op)
        state = states.setdefault(topic, PartitionState(topic, 0))
        value = batch.raw if batch.raw is not None else codec.encode(EVENT_BATCH, {
            "operator_id": op, "source_id": batch.source_id, "sent_at_us": clock[0], "events": batch.events})
        offset = offsets.get(topic, 0)
        offsets[topic] = offset + 1
        o = proc.process(state, offset, batch.source_id.encode(), value, clock[0])
        if o.archive_value is not None:
            out.archive.append(o.archive_value)
        if o.receipts_value is not None:
            out.receipts.append(o.receipts_value)
        out.events += len(batch.events)
        clock[0] += 5_000
        if out.events >= events:
            return out
    return out


def best_of(rounds: int, work: Callable[[], int]) -> tuple[float, int]:
    """(best seconds, items) of ``rounds`` runs of ``work``, which returns the items it handled."""
    best, items = float("inf"), 0
    for _ in range(rounds):
        started = time.perf_counter()
        items = work()
        best = min(best, time.perf_counter() - started)
    return best, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--reference", action="store_true", help="the tax agent's Python reference reader")
    args = parser.parse_args()
    native = not args.reference
    settings = Settings()
    recs = simulate(args.events, settings)
    rates = TaxRates.load(settings.tax.rates_path)
    codec = default_codec()
    tax_out: list[bytes] = []

    def tax() -> int:
        proc = TaxProcessor(rates, settings.tax, codec, native=native)
        state = TaxState(settings.topics.archive, 0, settings.tax)
        tax_out.clear()
        n = 0
        for value in recs.archive:
            out = proc.process_record(state, value)
            if out.payouts is not None:
                tax_out.append(out.payouts)
            tax_out.extend(codec.encode(TAX_DISCREPANCY, d) for d in out.discrepancies)
            n += out.events
        return n

    def sink_archive() -> int:
        return sum(avro.archive_event_count(v) for v in recs.archive)

    def sink_receipts() -> int:
        cols = Columns(REJECTIONS)
        for i, v in enumerate(recs.receipts):
            add_rejections(cols, records.read_rejected(v), "dsom.receipts.x", 0, i)
        return len(recs.receipts)

    def sink_tax() -> int:
        cols = Columns(TAX_EVENTS)
        for i, v in enumerate(tax_out):
            if records.is_payout_batch(v):
                add_payouts(cols, records.read_payouts(v), settings.topics.tax_events, 0, i)
            else:
                add_tax_event(cols, *codec.decode(v), settings.topics.tax_events, 0, i)
        return cols.rows

    def sink_archive_python() -> int:
        cols = Columns(EVENTS)
        for i, v in enumerate(recs.archive):
            add_archive_batch(cols, codec.decode(v)[1], settings.topics.archive, 0, i)
        return cols.rows

    print(f"{recs.events} events simulated: {len(recs.archive)} archive records, "
          f"{len(recs.receipts)} receipts records")
    for name, work in (("tax agent: process_record", tax), ("sink: archive header (raw path)", sink_archive),
                       ("sink: receipts -> rejections", sink_receipts),
                       ("sink: tax-events -> tax_events", sink_tax),
                       ("sink: archive decoded in Python (resume path)", sink_archive_python)):
        seconds, items = best_of(3, work)
        print(f"{name:48s} {seconds * 1e6 / recs.events:6.2f} µs per event in  "
              f"({recs.events / seconds:10,.0f} events/s; {items} items)")


if __name__ == "__main__":
    main()
