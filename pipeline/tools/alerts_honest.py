"""False positives and cost of the alerts core: honest simulated traffic through ArchiveWatch, no I/O.

``python -m pipeline.tools.alerts_honest [events]`` runs a fleet of honest simulated operators
(no defects, no late data, no tax mistakes; players on the simulator's session model) at about
10 events/s per operator of simulated time, through the pure core the alerts agent runs, and
prints, per rule, the subjects alerted among the subjects seen (players, machines), with a 95 %
upper bound on the false-positive rate, and the core's cost per event. AML threshold reports
(``aml_single``, ``aml_daily_total``) are counted apart: they are not suspicions, honest high
rollers must be reported. docs/alerts.md quotes its figures.
"""

from __future__ import annotations

import math
import sys
import time
from collections import defaultdict

from pipeline.core.alert_rules import AlertRules
from pipeline.core.tax import TaxRates
from pipeline.operator.fleet import demo_registry
from pipeline.operator.simulator import Fleet
from pipeline.settings import DAY_US, HOUR_US, AlertSettings, TaxSettings

SUSPICIONS = ("rg_score", "aml_structuring", "rtp_deviation")  # false positives on honest traffic
REPORTS = ("aml_single", "aml_daily_total")  # threshold reports: required, not errors
KYIV_SUMMER_US = 3 * HOUR_US
# Players per operator: at about 10 events/s an operator has a few hundred players in a session
# at any time; with sessions of about 30 min and breaks of hours that takes thousands (with
# too few, breaks are cut short to find a player present).
PLAYERS = 20_000


def upper_bound(k: int, n: int, z: float = 1.96) -> float:
    """The Wilson score interval's upper end for ``k`` hits in ``n`` trials (95 % two-sided)."""
    if n == 0:
        return 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min((centre + spread) / (1 + z * z / n), 1.0)


def main(events: int = 1_000_000) -> dict[str, tuple[int, int]]:
    """Run ``events`` honest events; the (subjects alerted, subjects seen) per rule."""
    from pipeline.core.watch import ArchiveWatch  # noqa: PLC0415

    rules = AlertRules.load(AlertSettings().rules_path)
    watch = ArchiveWatch(b"h|0|", rules, rates=TaxRates.load(TaxSettings().rates_path))
    fleet = Fleet(demo_registry(1), seed=17, bad_share=0.0, duplicate_share=0.0, late_share=0.0,
                  bad_record_share=0.0, levy_mistake_share=0.0, batch_size=200, players=PLAYERS)
    start = now = 1_750_000_000_000_000  # simulated clock: 200 events per 20 s per operator
    seen, spent = 0, 0.0
    alerted: dict[str, set[str]] = defaultdict(set)
    player_days: set[tuple[str, int]] = set()
    machines: set[str] = set()
    n_ops = len(fleet.simulators)
    while seen < events:
        op, batch = fleet.next_batch(now)
        now += 20_000_000 // n_ops
        evs = batch.events
        started = time.process_time()  # CPU time: the machine is shared
        watch.record(op, batch.source_id, now, evs, now)
        if seen // 200_000 != (seen + len(evs)) // 200_000:
            watch.sweep(now)
        alerts, _ = watch.drain()
        spent += time.process_time() - started
        seen += len(evs)
        for a in alerts:
            if a["state"] == "OPENED":
                alerted[a["rule"]].add(a["subject"])
        for e in evs:  # Kyiv days: the simulated span is in June, UTC+3
            player_days.add((f"{op}|{e['player_ref']}", (e["occurred_at_us"] + KYIV_SUMMER_US) // DAY_US))
        machines.update(watch.machines)
    print(f"events {seen}, simulated hours {(now - start) / 3.6e9:.1f}, player-days {len(player_days)}, "
          f"machines {len(machines)}")
    out: dict[str, tuple[int, int]] = {}
    for rule in SUSPICIONS + REPORTS:
        n = len(machines) if rule == "rtp_deviation" else len(player_days)
        k = len(alerted.get(rule, ()))
        out[rule] = (k, n)
        kind = "threshold report" if rule in REPORTS else "false positive"
        print(f"{rule:16} {k:5} of {n:6} subjects ({kind}: {k / max(n, 1):.3%}, "
              f"95 % upper bound {upper_bound(k, n):.3%})")
    print(f"core cost: {spent / seen * 1e6:.2f} us/event ({seen / spent:,.0f} events/s, one core)")
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
