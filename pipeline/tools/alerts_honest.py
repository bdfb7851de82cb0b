"""False positives and cost of the alerts core: honest simulated traffic through ArchiveWatch, no I/O.

``python -m pipeline.tools.alerts_honest [events]`` runs a fleet of honest simulated operators
(no defects, no late data, no tax mistakes) at about 10 events/s per operator of simulated
time, through the pure core the alerts agent runs, and prints the responsible-gambling, AML and
RTP alerts raised and the core's cost per event. docs/alerts.md quotes its figures.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

from pipeline.core.alert_rules import AlertRules
from pipeline.core.tax import TaxRates
from pipeline.operator.fleet import demo_registry
from pipeline.operator.simulator import Fleet
from pipeline.settings import AlertSettings, TaxSettings

SUPERVISED = ("rg_score", "aml_single", "aml_daily_total", "rtp_deviation")


def main(events: int = 1_000_000) -> None:
    from pipeline.core.watch import ArchiveWatch  # noqa: PLC0415

    rules = AlertRules.load(AlertSettings().rules_path)
    watch = ArchiveWatch(b"h|0|", rules, rates=TaxRates.load(TaxSettings().rates_path))
    fleet = Fleet(demo_registry(1), seed=17, bad_share=0.0, duplicate_share=0.0, late_share=0.0,
                  bad_record_share=0.0, levy_mistake_share=0.0, batch_size=200)
    now = 1_750_000_000_000_000  # simulated clock: 200 events per 20 s per operator
    seen, spent, opened = 0, 0.0, Counter[str]()
    subjects: set[str] = set()
    n_ops = len(fleet.simulators)
    while seen < events:
        op, batch = fleet.next_batch(now)
        now += 20_000_000 // n_ops
        evs = batch.events
        started = time.perf_counter()
        watch.record(op, batch.source_id, now, evs, now)
        if seen // 200_000 != (seen + len(evs)) // 200_000:
            watch.sweep(now)
        alerts, entries = watch.drain()
        spent += time.perf_counter() - started
        seen += len(evs)
        for a in alerts:
            if a["rule"] in SUPERVISED and a["state"] == "OPENED":
                opened[a["rule"]] += 1
                subjects.add(a["subject"])
    players = len(watch.players)
    print(f"events {seen}, simulated hours {(now - 1_750_000_000_000_000) / 3.6e9:.1f}, players {players}, "
          f"machines {len(watch.machines)}")
    print(f"alerts opened (RG/AML/RTP): {dict(opened)} on {len(subjects)} subjects")
    print(f"core cost: {spent / seen * 1e6:.2f} us/event ({seen / spent:,.0f} events/s, one core)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
