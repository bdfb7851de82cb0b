"""Receipt latency for ``make bench``: from an operator's hand-over to its producer to its receipt.

Each operator reads its own receipts topic with its own access key and a group of its own
(``<operator group>.bench``), ``read_committed`` as the contract tells operators to, from the
topic's end at the start of the live phase. Arrival times are taken as each record is
consumed; the records are decoded only afterwards, so decoding costs nothing in the
measured path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping

from confluent_kafka import Consumer, TopicPartition

from pipeline.kafka.config import consumer_config
from pipeline.security.acls import operator_group
from pipeline.settings import KafkaSettings, TopicSettings
from schemas import default_codec

EventKey = tuple[str, str, int]  # (operator, source, seq)


class ReceiptClock:
    """One consumer thread per operator, stamping every receipt record as it arrives."""

    def __init__(self, topics: TopicSettings, operators: Mapping[str, KafkaSettings]) -> None:
        self._stop = threading.Event()
        self._arrivals: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        self._threads = []
        self._ready = threading.Barrier(len(operators) + 1)
        for op, kafka in operators.items():
            consumer = Consumer(consumer_config(kafka, f"{operator_group(topics, op)}.bench",
                                                **{"fetch.wait.max.ms": 5}))
            topic = topics.receipts(op)
            thread = threading.Thread(target=self._run, args=(consumer, topic), daemon=True,
                                      name=f"receipts-{op}")
            self._threads.append(thread)
            thread.start()
        self._ready.wait(60)  # every consumer holds its partitions, from the end, before traffic

    def _run(self, consumer: Consumer, topic: str) -> None:
        try:
            meta = consumer.list_topics(topic, timeout=30).topics[topic]
            tps = []
            for p in meta.partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
                tps.append(TopicPartition(topic, p, high))
            consumer.assign(tps)
        finally:
            self._ready.wait(60)
        try:
            while not self._stop.is_set():
                for msg in consumer.consume(500, timeout=0.1):
                    at = time.time_ns() // 1000
                    if msg.error() is None and msg.value():
                        with self._lock:
                            self._arrivals.append((at, msg.value() or b""))
        finally:
            consumer.close()

    def stop(self) -> dict[EventKey, int]:
        """Stop the consumers; return when each event's first receipt arrived (UTC microseconds)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return first_receipts(self._arrivals)


def first_receipts(arrivals: Iterable[tuple[int, bytes]]) -> dict[EventKey, int]:
    """The first arrival of a receipt per event, from (arrival time, ReceiptBatch record) pairs.

    A re-sent event's later DUPLICATE receipt does not move its time; a record-level rejection
    (no seq) names no event and is skipped.
    """
    codec = default_codec()
    first: dict[EventKey, int] = {}
    for at, value in sorted(arrivals, key=lambda a: a[0]):
        _, batch = codec.decode(value)
        op, source = batch["operator_id"], batch["source_id"]
        if source is None:
            continue
        for receipt in batch["receipts"]:
            if receipt["seq"] is not None:
                first.setdefault((op, source, receipt["seq"]), at)
    return first

