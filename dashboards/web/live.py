"""Live pipeline figures for the operational page: this process's metrics and the consumer groups' lag."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY

from dashboards.reports import N_
from pipeline.kafka.lag import agent_groups
from pipeline.settings import Settings

# (label on the page, in English: web/reports.py translates it; metric sample name)
COUNTERS = (
    (N_("events read"), "dsom_events_in_total"),
    (N_("accepted"), "dsom_events_accepted_total"),
    (N_("rejected"), "dsom_events_rejected_total"),
    (N_("duplicates (retries)"), "dsom_events_duplicate_total"),
    (N_("payouts taxed"), "dsom_payouts_taxed_total"),
    (N_("ClickHouse insert errors"), "dsom_sink_errors_total"),
)
LAG = N_("%(agent)s lag (records)")


def metric_totals() -> dict[str, float]:
    """Every sample of this process's registry, summed over labels."""
    totals: dict[str, float] = defaultdict(float)
    for family in REGISTRY.collect():
        for sample in family.samples:
            totals[sample.name] += sample.value
    return totals


def live_figures(settings: Settings) -> Callable[[], dict[str, Any]]:
    """A function the dashboard calls (cached) for the live strip on the operational page.

    Lag comes from the worker's own gauge (``dsom_consumer_lag_records``, refreshed every 10 s
    by its lag monitor), so a page view never opens Kafka connections.
    """
    from pipeline.agents.app import app  # noqa: PLC0415 - the registry imports the agents

    groups = agent_groups(settings, app.default_agents())

    def figures() -> dict[str, Any]:
        """(label, its parameters, the value or None while unknown): the web app translates and formats."""
        totals = metric_totals()
        out: list[tuple[str, dict[str, str], int | None]] = [
            (label, {}, int(totals.get(name, 0))) for label, name in COUNTERS]
        lags = lag_by_group()
        for agent, group, _ in groups:
            value = lags.get(group)
            out.append((LAG, {"agent": agent}, None if value is None else int(value)))
        return {"figures": out}

    return figures


def lag_by_group() -> dict[str, float]:
    lags: dict[str, float] = {}
    for family in REGISTRY.collect():
        if family.name == "dsom_consumer_lag_records":
            for sample in family.samples:
                lags[sample.labels["group"]] = sample.value
    return lags
