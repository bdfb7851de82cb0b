"""Read a worker's /metrics endpoint into totals that progress lines and tests can use."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Totals:
    events_in: float = 0.0
    accepted: float = 0.0
    accepted_wins: float = 0.0
    payouts_taxed: float = 0.0
    statements: float = 0.0
    duplicates: float = 0.0
    rejected: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    clickhouse_rows: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def rejected_total(self) -> float:
        return sum(self.rejected.values())


def scrape(host: str, port: int, timeout: float = 2.0) -> Totals:
    text = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout).read().decode()
    t = Totals()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "dsom_events_in_total":
                t.events_in += s.value
            elif s.name == "dsom_events_accepted_total":
                t.accepted += s.value
                if s.labels.get("kind") == "WIN":
                    t.accepted_wins += s.value
            elif s.name == "dsom_payouts_taxed_total":
                t.payouts_taxed += s.value
            elif s.name == "dsom_ggr_statements_issued_total":
                t.statements += s.value
            elif s.name == "dsom_events_duplicate_total":
                t.duplicates += s.value
            elif s.name == "dsom_events_rejected_total":
                t.rejected[s.labels["reason"]] += s.value
            elif s.name == "dsom_clickhouse_rows":
                t.clickhouse_rows[s.labels["table"]] += s.value
    return t
