"""Following ``<prefix>.registry``: its records, applied one entity at a time, as the validator's registry.

Kept apart from the publisher so that the pipeline's agents import only Kafka and the pure
snapshot code, not the registry's database layer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from pipeline.agents.topics import REGISTRY
from pipeline.kafka.config import client_config
from pipeline.registry import Registry
from pipeline.settings import Settings
from registry.core.snapshot import LicenceView, registry_from_records

log = logging.getLogger(__name__)
TOPIC_CONFIG = dict(REGISTRY.config)


def registry_topic(settings: Settings) -> NewTopic:
    """``<prefix>.registry`` as declared (``pipeline.agents.topics.REGISTRY``), to create it."""
    return NewTopic(REGISTRY.full_name(settings.topics), REGISTRY.partitions(settings.topics),
                    settings.topics.replication_factor, config=TOPIC_CONFIG)


class Follower:
    """Follows the registry topic from its beginning.

    ``view`` (a :class:`~registry.core.snapshot.LicenceView`) takes each operator and licence
    record as it arrives, so picking up one change costs one entity's history, whatever the
    registry's size; the validator uses it. With ``keep_records``, every entity's newest record
    is also kept, for :meth:`registry` (a whole rebuild, with the assets, at any instant).
    """

    def __init__(self, settings: Settings, keep_records: bool = True,
                 consumer: Callable[[dict[str, Any]], Consumer] = Consumer, assets: bool = False) -> None:
        self._latest: dict[bytes, bytes | None] | None = {} if keep_records else None
        self.view = LicenceView(assets=assets)
        self._consumer = consumer(
            client_config(
                settings.kafka,
                **{
                    "group.id": settings.topics.reader_group,
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "fetch.wait.max.ms": 50,
                    "enable.partition.eof": True,
                },
            )
        )
        self._consumer.assign([TopicPartition(settings.topics.registry, 0, OFFSET_BEGINNING)])
        self.at_end = False

    def poll(self, timeout: float = 0.1) -> int:
        """Take what arrived; return the number of records applied."""
        n = 0
        now = time.time_ns() // 1000
        for msg in self._consumer.consume(num_messages=10_000, timeout=timeout):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self.at_end = True
                    continue
                raise KafkaException(err)
            key = msg.key()
            if key is not None:
                value = msg.value()
                if self._latest is not None:
                    self._latest[key] = value
                self.view.apply(key, value, now)
                n += 1
        return n

    def read_to_end(self, timeout_s: float) -> int:
        """Apply everything the topic holds now; TimeoutError if its end is not reached in time."""
        n = 0
        deadline = time.monotonic() + timeout_s
        while not self.at_end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the registry topic was not read to its end in {timeout_s} s")
            n += self.poll(0.5)
        return n

    def registry(self, at_us: int | None = None) -> Registry:
        """The whole registry (assets included) at ``at_us``, rebuilt from every record kept."""
        if self._latest is None:
            raise ValueError("this follower keeps no records: construct it with keep_records=True")
        t = time.time_ns() // 1000 if at_us is None else at_us
        return registry_from_records(self._latest.items(), t)

    def close(self) -> None:
        self._consumer.close()


def current_registry(view: LicenceView, path: Path) -> Registry | None:
    """The followed registry, or the file while the topic holds no operator (as the validator does).

    The file (``DSOM_REGISTRY_PATH``) is the fallback of tests and tools that write a registry
    without the registry service; once the topic has an operator it is the only source. None when
    there is neither.
    """
    if not view.empty:
        return view.registry()
    return Registry.load(path) if path.exists() else None


def read_registry(settings: Settings, consumer: Callable[[dict[str, Any]], Consumer] = Consumer) -> Registry:
    """The registry now, with its assets: the topic read to its end once, or the file (simulators)."""
    follower = Follower(settings, keep_records=False, consumer=consumer, assets=True)
    try:
        try:
            follower.read_to_end(settings.registry.follow_timeout_s)
        except (KafkaException, TimeoutError) as exc:  # no topic to read, or not in time: the file
            log.warning("registry topic %s not read (%s); using %s", settings.topics.registry, exc,
                        settings.registry_path)
            follower.view = LicenceView()
    finally:
        follower.close()
    registry = current_registry(follower.view, settings.registry_path)
    return registry if registry is not None else Registry.load(settings.registry_path)  # says what to do
