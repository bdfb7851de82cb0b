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
    wanted = list(topics)
    if not wanted:
        return
    futures = admin.create_topics(wanted, operation_timeout=timeout, request_timeout=timeout)
    for name, fut in futures.items():
        try:
            fut.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"cannot create topic {name}: {exc.args[0].str()}") from exc


def system_topics(settings: Settings) -> list[NewTopic]:
    t = settings.topics
    rf = t.replication_factor
    return [
        NewTopic(t.archive, t.archive_partitions, rf, config=ARCHIVE_CONFIG),
        NewTopic(t.validator_state, t.state_partitions, rf, config=STATE_CONFIG),
        # The tax service must be able to re-read everything: kept like the archive.
        NewTopic(t.tax_events, t.archive_partitions, rf, config=ARCHIVE_CONFIG),
        NewTopic(t.tax_state, t.state_partitions, rf, config=STATE_CONFIG),
        # Kept like the archive: each entry is evidence of a record dsom could not process.
        NewTopic(t.dead_letter, 1, rf, config=ARCHIVE_CONFIG),
        # The archive's signed tree heads (partition p: archive partition p), kept like it.
        NewTopic(t.checkpoints, t.archive_partitions, rf, config=ARCHIVE_CONFIG),
        NewTopic(t.checkpointer_state, t.state_partitions, rf, config=STATE_CONFIG),
    ]


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
