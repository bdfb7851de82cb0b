"""The ClickHouse sink's declaration; its code is in sinks/clickhouse (imported when it runs).

Not transactional: it stores rows with idempotent inserts, then commits their offsets
(sinks/clickhouse/sink.py explains why that is exactly-once in ClickHouse).
"""

from __future__ import annotations

from pipeline.agents.alerts import ALERTS
from pipeline.agents.app import AgentSpec, app
from pipeline.agents.tax import TAX_EVENTS
from pipeline.agents.topics import ARCHIVE, RECEIPTS, REGISTRY

SINK = app.declare(AgentSpec(
    name="sink",
    group="sink-clickhouse",
    # tax-events and alerts by pattern: their agents may create them after the sink starts.
    # The registry's topic, for the reports' joins as of each event's time (docs/registry.md).
    reads=(ARCHIVE, RECEIPTS, TAX_EVENTS.created_late(), ALERTS.created_late(), REGISTRY),
    writes=(),
    tables=(),
    target="sinks.clickhouse.sink:ClickHouseSink",
    transactional=False,
    description="Stores the archive, rejections, tax-events, alerts and the registry's history in "
                "ClickHouse (reports, inboxes).",
))
