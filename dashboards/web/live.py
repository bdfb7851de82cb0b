"""Live pipeline figures for the operational page: this process's metrics and the consumer groups' lag."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY

from pipeline.kafka.lag import group_lag
from pipeline.settings import Settings

log = logging.getLogger(__name__)

# (label on the page, metric sample name)
COUNTERS = (
    ("events read", "dsom_events_in_total"),
    ("accepted", "dsom_events_accepted_total"),
    ("rejected", "dsom_events_rejected_total"),
    ("duplicates (retries)", "dsom_events_duplicate_total"),
    ("payouts taxed", "dsom_payouts_taxed_total"),
    ("ClickHouse insert errors", "dsom_sink_errors_total"),
)


def metric_totals() -> dict[str, float]:
    """Every sample of this process's registry, summed over labels."""
    totals: dict[str, float] = defaultdict(float)
    for family in REGISTRY.collect():
        for sample in family.samples:
            totals[sample.name] += sample.value
    return totals


def live_figures(settings: Settings) -> Callable[[], dict[str, Any]]:
    """A function the dashboard calls (cached) for the live strip on the operational page."""
    topics = settings.topics
    groups = (
        ("validator lag", f"{topics.prefix}-validator", topics.ingest_pattern),
        ("tax agent lag", f"{topics.prefix}-tax", "^" + topics.archive.replace(".", r"\.") + "$"),
        ("ClickHouse sink lag", f"{topics.prefix}-sink-clickhouse",
         "^" + topics.archive.replace(".", r"\.") + "$"),
    )

    def figures() -> dict[str, Any]:
        totals = metric_totals()
        out: list[tuple[str, str]] = [(label, f"{int(totals.get(name, 0)):,}") for label, name in COUNTERS]
        for label, group, pattern in groups:
            try:
                out.append((label + " (records)", f"{group_lag(settings.kafka, group, pattern):,}"))
            except Exception as exc:  # the broker may be away: say so, keep the page
                log.debug("lag of %s unavailable: %s", group, exc)
                out.append((label, "unavailable"))
        return {"figures": out}

    return figures
