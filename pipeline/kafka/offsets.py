"""Many partitions' first and last-stable offsets in one request per broker (the admin API)."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import IsolationLevel, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from pipeline.kafka.config import client_config
from pipeline.settings import KafkaSettings

TP = tuple[str, int]


def watermarks(kafka: KafkaSettings, tps: Sequence[TP], timeout_s: float = 30.0) -> dict[TP, tuple[int, int]]:
    """``(first offset, last stable offset)`` of each of ``tps``.

    A consumer's ``get_watermark_offsets`` asks one partition per request (thousands with a
    thousand operators); ``list_offsets`` batches them per partition leader.
    """
    if not tps:
        return {}
    admin = AdminClient(client_config(kafka))
    parts = [TopicPartition(t, p) for t, p in tps]

    def ask(spec: OffsetSpec) -> dict[TP, int]:
        futures = admin.list_offsets({tp: spec for tp in parts}, request_timeout=timeout_s,
                                     isolation_level=IsolationLevel.READ_COMMITTED)
        return {(tp.topic, tp.partition): fut.result(timeout_s).offset for tp, fut in futures.items()}

    first = ask(OffsetSpec.earliest())  # type: ignore[no-untyped-call]
    stable = ask(OffsetSpec.latest())  # type: ignore[no-untyped-call]
    return {tp: (first[tp], stable[tp]) for tp in stable}
