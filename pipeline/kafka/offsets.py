"""Where many partitions' committed records end, and whether any lie past given offsets."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from confluent_kafka import IsolationLevel, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from pipeline.kafka.config import client_config
from pipeline.kafka.reader import committed_reader
from pipeline.settings import KafkaSettings

TP = tuple[str, int]


def end_offsets(admin: AdminClient, tps: Sequence[TP], isolation: IsolationLevel,
                timeout_s: float = 30.0) -> dict[TP, int]:
    """Where each of ``tps`` ends: the high watermark (READ_UNCOMMITTED) or the last stable offset.

    A consumer's ``get_watermark_offsets`` asks one partition per request (thousands with a
    thousand operators); ``list_offsets`` asks each partition leader once for all of its.
    """
    spec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    futures = admin.list_offsets({TopicPartition(t, p): spec for t, p in tps}, request_timeout=timeout_s,
                                 isolation_level=isolation)
    return {(tp.topic, tp.partition): fut.result(timeout_s).offset for tp, fut in futures.items()}


class Offsets:
    """Asks over one admin client, made on first use and kept (each new one costs TLS handshakes)."""

    def __init__(self, kafka: KafkaSettings, group: str) -> None:
        self._kafka = kafka
        self._group = group  # never joined or committed, but the principal needs READ on it
        self._admin: AdminClient | None = None

    def stable(self, tps: Sequence[TP], timeout_s: float = 30.0) -> dict[TP, int]:
        """The last stable offset of each of ``tps``: where their committed records end."""
        if not tps:
            return {}
        if self._admin is None:
            self._admin = AdminClient(client_config(self._kafka))
        return end_offsets(self._admin, tps, IsolationLevel.READ_COMMITTED, timeout_s)

    def records_from(self, starts: Mapping[TP, int], timeout_s: float = 30.0) -> set[TP]:
        """The partitions of ``starts`` with a committed record at or after their offset.

        Read, not computed from offsets: commit markers and aborted transactions' records take
        offsets too, and no consumer is handed them.
        """
        if not starts:
            return set()
        # From an offset retention has removed, on from the first kept, as the agents' consumers.
        consumer = committed_reader(self._kafka, self._group, **{"auto.offset.reset": "earliest"})
        try:
            consumer.assign([TopicPartition(t, p, o) for (t, p), o in starts.items()])
            pending, found = set(starts), set()
            deadline = time.monotonic() + timeout_s
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer within {timeout_s:.0f} s reading {sorted(pending)}")
                for msg in consumer.consume(num_messages=len(pending), timeout=0.5):
                    tp = (msg.topic() or "", msg.partition() or 0)
                    err = msg.error()
                    if err is None:
                        found.add(tp)
                    elif err.code() != KafkaError._PARTITION_EOF:
                        continue  # a retriable fetch error: librdkafka fetches again
                    pending.discard(tp)
            return found
        finally:
            consumer.close()
