"""Create dsom's topics (idempotently) with the configuration each one needs."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from pipeline.kafka.config import OUTPUT_TOPIC_MESSAGE_BYTES, client_config
from pipeline.settings import Settings

# Topics the agents write take any output a valid-sized record can produce (pipeline.core.limits).
_OUTPUT = {"max.message.bytes": str(OUTPUT_TOPIC_MESSAGE_BYTES)}
# The archive is the legal record: never deleted, never compacted.
ARCHIVE_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete", **_OUTPUT}
STATE_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000", **_OUTPUT}
# Operators may be offline for days; ingest and receipts are kept 30 days.
OPERATOR_TOPIC_CONFIG = {"retention.ms": str(30 * 24 * 3600 * 1000)}
RECEIPTS_TOPIC_CONFIG = {**OPERATOR_TOPIC_CONFIG, **_OUTPUT}


def ensure_topics(settings: Settings, topics: Iterable[NewTopic], timeout: float = 30.0) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AdminClient(client_config(settings.kafka))
    wanted = [_with_min_insync(settings, t) for t in topics]
    if not wanted:
        return
    futures = admin.create_topics(wanted, operation_timeout=timeout, request_timeout=timeout)
    for name, fut in futures.items():
        try:
            fut.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"cannot create topic {name}: {exc.args[0].str()}") from exc


def _with_min_insync(settings: Settings, topic: NewTopic) -> NewTopic:
    """``topic`` with the deployment's ``min.insync.replicas`` unless it sets its own."""
    min_isr = settings.topics.min_insync_replicas
    config = dict(topic.config or {})
    if min_isr is None or "min.insync.replicas" in config:
        return topic
    return NewTopic(topic.topic, topic.num_partitions, topic.replication_factor,
                    config={**config, "min.insync.replicas": str(min_isr)})


def system_topics(settings: Settings) -> list[NewTopic]:
    """Every topic the declared agents write or read, and their changelogs (not per-operator ones)."""
    from pipeline.agents.app import app  # noqa: PLC0415 - the registry imports the agents

    return app.new_topics(settings)


def operator_topics(settings: Settings, operator_ids: Iterable[str]) -> list[NewTopic]:
    t = settings.topics
    out: list[NewTopic] = []
    for op in operator_ids:
        out.append(NewTopic(t.ingest(op), t.ingest_partitions, t.replication_factor,
                            config=OPERATOR_TOPIC_CONFIG))
        out.append(NewTopic(t.receipts(op), 1, t.replication_factor, config=RECEIPTS_TOPIC_CONFIG))
        # The sandbox: validated and receipted like the real thing, never archived or taxed.
        out.append(NewTopic(t.sandbox(op), 1, t.replication_factor, config=OPERATOR_TOPIC_CONFIG))
        out.append(NewTopic(t.sandbox_receipts(op), 1, t.replication_factor, config=RECEIPTS_TOPIC_CONFIG))
    return out
