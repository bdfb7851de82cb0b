"""Least privilege, as data: which Kafka ACLs each kind of principal gets.

Pure: builds the bindings; ``pipeline.security.keys`` applies them with the admin client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.settings import TopicSettings

if TYPE_CHECKING:
    from pipeline.agents.app import AgentSpec

LITERAL, PREFIXED = "LITERAL", "PREFIXED"
# No dots: a dot ends the operator's part of a group name, so no operator's ID (``op-x-1``)
# is a prefix of another's groups (``op-x-10``).
OPERATOR_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Grant:
    """ALLOW ``operation`` on a resource (``TOPIC``, ``GROUP``, ``TRANSACTIONAL_ID``, ``BROKER``)."""

    resource: str
    name: str
    pattern: str
    operation: str


def operator_group(topics: TopicSettings, operator_id: str) -> str:
    """The consumer group an operator reads its receipts with; ``<group>.<anything>`` may be used too."""
    return f"{topics.prefix}.operator.{operator_id}"


def operator_grants(topics: TopicSettings, operator_id: str, sandbox: bool = False) -> list[Grant]:
    """An operator's key: write its own ingest (or sandbox) topic, read its own receipts."""
    if not OPERATOR_ID.fullmatch(operator_id):
        raise ValueError(f"operator ID {operator_id!r} must be 1-64 characters of A-Z a-z 0-9 _ -")
    group = operator_group(topics, operator_id)
    ingest = topics.sandbox(operator_id) if sandbox else topics.ingest(operator_id)
    receipts = topics.sandbox_receipts(operator_id) if sandbox else topics.receipts(operator_id)
    return [
        Grant("TOPIC", ingest, LITERAL, "WRITE"),
        Grant("TOPIC", ingest, LITERAL, "DESCRIBE"),
        Grant("TOPIC", receipts, LITERAL, "READ"),
        Grant("TOPIC", receipts, LITERAL, "DESCRIBE"),
        # Consumer groups for reading receipts: the operator's own name, or it followed by a dot.
        # A bare prefix would also match every operator whose ID starts with this one's.
        Grant("GROUP", group, LITERAL, "READ"),
        Grant("GROUP", f"{group}.", PREFIXED, "READ"),
    ]


def pipeline_grants(topics: TopicSettings, agents: Iterable[AgentSpec]) -> list[Grant]:
    """The pipeline's agents: read ingest, write receipts/archive/state/tax-events, read back.

    Each transactional agent writes under its own transactional IDs (``<its group>-<worker>``),
    from its declaration: no other principal's producer can be fenced by the pipeline's.
    """
    p = topics.prefix
    grants = [
        Grant("TOPIC", f"{p}.", PREFIXED, op) for op in ("READ", "WRITE", "DESCRIBE", "CREATE")
    ]
    # The agents' groups, and dsom's own readers' (the reader group, the tools' lag readers).
    grants.append(Grant("GROUP", f"{p}-", PREFIXED, "READ"))
    for agent in agents:
        if agent.transactional:
            ids = f"{agent.consumer_group(topics)}-"
            grants += [Grant("TRANSACTIONAL_ID", ids, PREFIXED, "WRITE"),
                       Grant("TRANSACTIONAL_ID", ids, PREFIXED, "DESCRIBE")]
    return grants


def tax_service_grants(topics: TopicSettings) -> list[Grant]:
    """The State Tax Service reads tax-events, nothing else, and writes nothing."""
    return [
        Grant("TOPIC", topics.tax_events, LITERAL, "READ"),
        Grant("TOPIC", topics.tax_events, LITERAL, "DESCRIBE"),
        Grant("GROUP", topics.tax_service_group, PREFIXED, "READ"),
    ]


def key_issuer_grants() -> list[Grant]:
    """The cabinets' key issuance: create and delete ACLs (ALTER), list them (DESCRIBE); nothing else.

    Unlike ``admin`` it cannot create topics or change their settings (so not the archive's
    retention). ALTER on the cluster still covers every ACL, a Kafka limit: a grant of archive
    writes it made would be found by ``dsom verify-archive --guard`` (docs/archive.md).
    """
    return [
        Grant("BROKER", "kafka-cluster", LITERAL, "ALTER"),
        Grant("BROKER", "kafka-cluster", LITERAL, "DESCRIBE"),
    ]


def archive_guard_grants(topics: TopicSettings) -> list[Grant]:
    """The archive guard (``dsom archive-guard``) looks at every ACL and the two topics' settings.

    DESCRIBE on the cluster lists ACLs; it may change nothing, so it is not the admin it watches.
    The one thing it writes is its alerts, to the alerts topic (an idempotent producer: WRITE on
    the topic suffices since Kafka 2.8, no IDEMPOTENT_WRITE on the cluster).
    """
    return [
        Grant("BROKER", "kafka-cluster", LITERAL, "DESCRIBE"),
        Grant("TOPIC", topics.archive, LITERAL, "DESCRIBE_CONFIGS"),
        Grant("TOPIC", topics.checkpoints, LITERAL, "DESCRIBE_CONFIGS"),
        Grant("TOPIC", topics.alerts, LITERAL, "WRITE"),
        Grant("TOPIC", topics.alerts, LITERAL, "DESCRIBE"),
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
