"""Prometheus metrics of every stage, and the /metrics endpoint (bound to 127.0.0.1 by default)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

EVENTS_IN = Counter("dsom_events_in_total", "Events read from ingest topics", ["operator"])
RECORDS_IN = Counter("dsom_records_in_total", "Ingest records (batches) read", ["operator"])
ACCEPTED = Counter("dsom_events_accepted_total", "Events accepted", ["operator", "kind"])
REJECTED = Counter("dsom_events_rejected_total", "Events or records rejected", ["operator", "reason"])
SANDBOX_EVENTS = Counter("dsom_sandbox_events_in_total", "Events read from sandbox topics", ["operator"])
DUPLICATES = Counter("dsom_events_duplicate_total", "Events already decided (retries)", ["operator"])
TRANSACTION_SECONDS = Histogram(
    "dsom_agent_transaction_seconds", "Time to process and commit one agent transaction", ["agent"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PAYOUTS_TAXED = Counter("dsom_payouts_taxed_total", "Payouts whose winnings tax was computed")
TAX_DISCREPANCIES = Counter("dsom_tax_discrepancies_total", "Payouts with withheld tax off the tax due")
STATEMENTS_ISSUED = Counter("dsom_ggr_statements_issued_total", "GGR statement revisions issued")
SINK_ROWS = Counter("dsom_sink_rows_total", "Rows inserted into ClickHouse", ["table"])
SINK_INSERT_SECONDS = Histogram(
    "dsom_sink_insert_seconds", "ClickHouse insert latency per batch", ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CLICKHOUSE_ROWS = Gauge("dsom_clickhouse_rows", "Rows in the ClickHouse table (counted at start, then added)",
                        ["table"])
CONSUMER_LAG = Gauge("dsom_consumer_lag_records",
                     "Records the agent's consumer group has not committed yet (measured every 10 s)",
                     ["group"])
SINK_ERRORS = Counter("dsom_sink_errors_total", "Failed ClickHouse inserts (retried)", ["table"])
DEAD_LETTERS = Counter("dsom_dead_letters_total",
                       "Records an agent could not process, set aside on the dead-letter topic", ["agent"])
ALERT_DELIVERIES = Counter("dsom_alert_deliveries_total",
                           "Alerts the alert-delivery agent handed to an endpoint, by outcome "
                           "(delivered, failed, skipped while the endpoint was down)",
                           ["endpoint", "outcome"])
PARTITIONS_PAUSED = Counter("dsom_partitions_paused_total",
                            "Partitions paused while a poll was decided because they were catching up "
                            "(a backlog) and others were not (pipeline.agents.catch_up)", ["agent"])
AGENT_STALLS = Counter("dsom_agent_stalls_total",
                       "Agents that committed nothing for agent_stalled_after_s while records waited "
                       "in their partitions, and were restarted (pipeline.agents.stall)", ["agent"])
AGENT_RESTARTS = Counter("dsom_agent_restarts_total",
                         "Agents restarted inside the worker after an error", ["agent"])
ARCHIVE_GUARD_CHANGES = Counter(
    "dsom_archive_guard_changes_total",
    "ACL or setting changes on the archive or checkpoints topics seen by dsom archive-guard", ["action"])
ARCHIVE_GUARD_BREACHES = Gauge(
    "dsom_archive_guard_findings",
    "Rules the archive's ACLs and settings break now (another writer, retention, compaction): alert above 0")
ARCHIVE_GUARD_LAST_LOOK = Gauge(
    "dsom_archive_guard_last_look_timestamp_seconds",
    "When dsom archive-guard last read the ACLs and settings: alert when it stops advancing")
ARCHIVE_GUARD_ERRORS = Counter("dsom_archive_guard_errors_total", "Failed looks at the broker (retried)")


def serve(host: str, port: int) -> None:
    """Expose /metrics; port 0 disables it."""
    if port:
        start_http_server(port, addr=host)
