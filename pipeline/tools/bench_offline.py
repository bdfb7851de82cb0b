"""One-thread harness, no Kafka: each stage's per-record work over the bench's simulated records.

``python -m pipeline.tools.bench_offline [--events N] [--batch-size B] [--rounds R] [--reference]``:
the bench's traffic (five demo operators, 0.5 % invalid events and duplicates, a few bad
records), encoded first, is decided by each validator engine from fresh states (their outputs
compared, so a figure never comes from a run that decided differently; the native engine's
open-bet state is then measured); the native engine's archive and receipts records then go
through the tax agent's and the sink's per-record work.
Each figure is the best of ``rounds``, so a busy neighbour disturbs it less. It measures the
code, not Kafka or ClickHouse.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.core.processor import Outcome, make_processor
from pipeline.core.tax import TaxRates
from pipeline.core.taxation import TaxProcessor, TaxState
from pipeline.operator.fleet import demo_registry
from pipeline.operator.simulator import simulate_fleet
from pipeline.settings import Settings, TopicSettings, ValidationSettings
from schemas import EVENT_BATCH, TAX_DISCREPANCY, default_codec
from sinks.clickhouse import avro, records
from sinks.clickhouse.rows import Columns, add_archive_batch, add_payouts, add_rejections, add_tax_event
from sinks.clickhouse.tables import EVENTS, REJECTIONS, TAX_EVENTS

Record = tuple[str, int, int, bytes, bytes, int]  # topic, partition, offset, key, value, now_us
KYIV_NOVEMBER_US = 1_793_500_000_000_000  # 2026-11: the tax statements' periods are Kyiv months


def ingest_records(events: int, batch_size: int, start_us: int | None = None,
                   step_us: int = 0) -> list[Record]:
    """At least ``events`` simulated events as ingest records.

    The clock starts at ``start_us`` (default: now) and moves ``step_us`` per record.
    """
    codec, topics = default_codec(), TopicSettings()
    clock = [time.time_ns() // 1000 if start_us is None else start_us]
    out: list[Record] = []
    sent = 0
    offsets: dict[str, int] = {}
    for op, batch in simulate_fleet(demo_registry(1), seed=7, clock=lambda: clock[0], batch_size=batch_size,
                                    bad_share=0.005, duplicate_share=0.005):
        value = batch.raw if batch.raw is not None else codec.encode(EVENT_BATCH, {
            "operator_id": op, "source_id": batch.source_id, "sent_at_us": clock[0], "events": batch.events})
        topic = topics.ingest(op)
        offsets[topic] = offsets.get(topic, -1) + 1
        out.append((topic, 0, offsets[topic], batch.source_id.encode(), value, clock[0]))
        sent += len(batch.events)
        clock[0] += step_us
        if sent >= events:
            return out
    return out


def validate(engine: str, recs: list[Record]) -> tuple[float, int, list[Outcome], list[Any]]:
    """Seconds to decide ``recs`` with ``engine``, events decided, the outcomes and the states."""
    proc = make_processor(demo_registry(1), ValidationSettings(engine=engine),  # type: ignore[arg-type]
                          TopicSettings(), default_codec())
    states: dict[tuple[str, int], Any] = {}
    outs = []
    started = time.perf_counter()
    for topic, partition, offset, key, value, now in recs:
        state = states.get((topic, partition))
        if state is None:
            state = states[(topic, partition)] = proc.new_state(topic, partition)
        outs.append(proc.process(state, offset, key, value, now))
    return time.perf_counter() - started, sum(o.events_in for o in outs), outs, list(states.values())


@dataclass
class Records:
    archive: list[bytes]
    receipts: list[bytes]
    events: int


def outputs(outs: list[Outcome]) -> Records:
    """The archive and receipts records the validator wrote for ``outs``."""
    return Records([o.archive_value for o in outs if o.archive_value is not None],
                   [o.receipts_value for o in outs if o.receipts_value is not None],
                   sum(o.events_in for o in outs))


def simulate(events: int, batch_size: int = 500) -> Records:
    """Archive and receipts records of ``events`` simulated events, as the validator writes them."""
    recs = ingest_records(events, batch_size, KYIV_NOVEMBER_US, 5_000)
    return outputs(validate("native", recs)[2])


def best_of(rounds: int, work: Callable[[], int]) -> tuple[float, int]:
    """(best seconds, items) of ``rounds`` runs of ``work``, which returns the items it handled."""
    best, items = float("inf"), 0
    for _ in range(rounds):
        started = time.perf_counter()
        items = work()
        best = min(best, time.perf_counter() - started)
    return best, items


def alternated(rounds: int, works: dict[str, Callable[[], int]]) -> dict[str, float]:
    """Best CPU seconds of each work over ``rounds``, the works taking turns within each round.

    Turns, so a neighbour's burst slows each alike; CPU time, not wall-clock, so waiting for a
    core on a shared machine is not counted.
    """
    best = dict.fromkeys(works, float("inf"))
    for _ in range(rounds):
        for name, work in works.items():
            started = time.process_time()
            work()
            best[name] = min(best[name], time.process_time() - started)
    return best


def alerts_works(archive: list[bytes], settings: Settings) -> dict[str, Callable[[], int]]:
    """The alerts agent's per-record work on the archive, with each engine's reader.

    Its read alone, and read + watch + drain (``pipeline.agents.alerts.archive_reader``).
    """
    from pipeline.agents.alerts import archive_reader  # noqa: PLC0415 - the agent's module, only here
    from pipeline.core.alert_rules import AlertRules  # noqa: PLC0415
    from pipeline.core.watch import ArchiveWatch  # noqa: PLC0415

    codec = default_codec()
    rules = AlertRules.load(settings.alerts.rules_path)
    rates = TaxRates.load(settings.tax.rates_path)
    works: dict[str, Callable[[], int]] = {}
    for engine in ("python", "native"):
        read = archive_reader(engine, codec)

        def read_only(read: Callable[[bytes], Any] = read) -> int:
            return sum(len(read(v)[3]) for v in archive)

        def watched(read: Callable[[bytes], Any] = read) -> int:
            watch = ArchiveWatch(b"a|0|", rules, rates=rates)
            n = 0
            for v in archive:
                operator_id, source_id, received_at_us, events = read(v)
                watch.record(operator_id, source_id, received_at_us, events, received_at_us)
                watch.drain()
                n += len(events)
            return n

        works[f"alerts: archive read, {engine} reader"] = read_only
        works[f"alerts: read + watch + drain, {engine} reader"] = watched
    return works


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=500, help="events per ingest record")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help="the tax agent's Python reference reader")
    args = parser.parse_args()
    native = not args.reference
    settings = Settings()
    ingest = ingest_records(args.events, args.batch_size, KYIV_NOVEMBER_US, 5_000)
    decided: dict[str, list[Outcome]] = {}
    states: list[Any] = []
    for engine in ("python", "native"):
        best = float("inf")
        for _ in range(args.rounds):
            seconds, events, decided[engine], states = validate(engine, ingest)
            best = min(best, seconds)
        print(f"{'validator, ' + engine + ' engine':48s} {best * 1e6 / events:6.2f} µs per event in  "
              f"({events / best:10,.0f} events/s; {len(ingest)} records)", flush=True)
    same = all(a == b for a, b in zip(decided["python"], decided["native"], strict=True))
    print(f"validator outputs identical in both engines: {'yes' if same else 'NO'}")
    memory = [st.memory() for st in states]  # the native engine's, after the whole traffic
    open_bets, bets_bytes = sum(m["open_bets"] for m in memory), sum(m["bets"] for m in memory)
    print(f"native open-bet state: {bets_bytes / max(open_bets, 1):.1f} bytes per open bet, "
          f"{bets_bytes / max(events, 1):.1f} per event ({open_bets} open bets, "
          f"{sum(m['refunded_bets'] for m in memory)} of them refunded)")
    recs = outputs(decided["native"])
    rates = TaxRates.load(settings.tax.rates_path)
    codec = default_codec()
    tax_out: list[bytes] = []

    def tax() -> int:
        proc = TaxProcessor(rates, settings.tax, codec, engine="native" if native else "python")
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
          f"{len(recs.receipts)} receipts records", flush=True)
    for name, work in (("tax agent: process_record", tax), ("sink: archive header (raw path)", sink_archive),
                       ("sink: receipts -> rejections", sink_receipts),
                       ("sink: tax-events -> tax_events", sink_tax),
                       ("sink: archive decoded in Python (resume path)", sink_archive_python)):
        seconds, items = best_of(args.rounds, work)
        print(f"{name:48s} {seconds * 1e6 / recs.events:6.2f} µs per event in  "
              f"({recs.events / seconds:10,.0f} events/s; {items} items)")
    for name, seconds in alternated(args.rounds, alerts_works(recs.archive, settings)).items():
        print(f"{name:48s} {seconds * 1e6 / recs.events:6.2f} µs CPU per event (engines alternated)")


if __name__ == "__main__":
    main()
