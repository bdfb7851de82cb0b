"""Least privilege, as data: which Kafka ACLs each kind of principal gets.

Pure: builds the bindings; ``pipeline.security.keys`` applies them with the admin client.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.settings import TopicSettings

LITERAL, PREFIXED = "LITERAL", "PREFIXED"


@dataclass(frozen=True)
class Grant:
    """ALLOW ``operation`` on a resource (``TOPIC``, ``GROUP``, ``TRANSACTIONAL_ID``, ``BROKER``)."""

    resource: str
    name: str
    pattern: str
    operation: str


def operator_grants(topics: TopicSettings, operator_id: str, sandbox: bool = False) -> list[Grant]:
    """An operator's key: write its own ingest (or sandbox) topic, read its own receipts."""
    ingest = topics.sandbox(operator_id) if sandbox else topics.ingest(operator_id)
    receipts = topics.sandbox_receipts(operator_id) if sandbox else topics.receipts(operator_id)
    return [
        Grant("TOPIC", ingest, LITERAL, "WRITE"),
        Grant("TOPIC", ingest, LITERAL, "DESCRIBE"),
        Grant("TOPIC", receipts, LITERAL, "READ"),
        Grant("TOPIC", receipts, LITERAL, "DESCRIBE"),
        # consumer groups for reading receipts are named after the operator
        Grant("GROUP", f"{topics.prefix}.operator.{operator_id}", PREFIXED, "READ"),
    ]


def pipeline_grants(topics: TopicSettings) -> list[Grant]:
    """The pipeline's agents: read ingest, write receipts/archive/state/tax-events, read back."""
    p = topics.prefix
    grants = [
        Grant("TOPIC", f"{p}.", PREFIXED, op) for op in ("READ", "WRITE", "DESCRIBE", "CREATE")
    ]
    grants += [
        Grant("GROUP", f"{p}-", PREFIXED, "READ"),
        Grant("TRANSACTIONAL_ID", f"{p}-", PREFIXED, "WRITE"),
        Grant("TRANSACTIONAL_ID", f"{p}-", PREFIXED, "DESCRIBE"),
    ]
    return grants


def tax_service_grants(topics: TopicSettings) -> list[Grant]:
    """The State Tax Service reads tax-events, nothing else, and writes nothing."""
    return [
        Grant("TOPIC", topics.tax_events, LITERAL, "READ"),
        Grant("TOPIC", topics.tax_events, LITERAL, "DESCRIBE"),
        Grant("GROUP", topics.tax_service_group, PREFIXED, "READ"),
    ]


def admin_grants(topics: TopicSettings) -> list[Grant]:
    """Operations staff: create topics and manage ACLs (issue and revoke keys)."""
    return [
        Grant("BROKER", "kafka-cluster", LITERAL, "ALTER"),
        Grant("BROKER", "kafka-cluster", LITERAL, "DESCRIBE"),
        Grant("BROKER", "kafka-cluster", LITERAL, "CREATE"),
        Grant("TOPIC", f"{topics.prefix}.", PREFIXED, "CREATE"),
        Grant("TOPIC", f"{topics.prefix}.", PREFIXED, "DESCRIBE"),
        Grant("TOPIC", f"{topics.prefix}.", PREFIXED, "ALTER_CONFIGS"),
    ]
