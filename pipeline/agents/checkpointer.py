"""The checkpointer agent: archive in; each partition's Merkle log extended, and signed checkpoints out.

Reads only committed archive records, in offset order per partition, appends each as a leaf
(pipeline.core.archive_log) and, every ``archive.checkpoint_interval_s`` or
``archive.checkpoint_every_records``, signs the partition's tree head (a C2SP checkpoint) to
``<prefix>.checkpoints`` (the same partition number). The logs' frontiers live in a changelog,
written in the same transaction as the checkpoints and the consumed offsets (see
TransactionalAgent), so a restart neither skips nor repeats a leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from confluent_kafka import Message

from pipeline.agents.state import restore_from_changelog
from pipeline.agents.supervision import ConfigurationError
from pipeline.agents.transactional import TP, Output, TransactionalAgent, now_us
from pipeline.core.archive_log import PartitionLog, log_origin
from pipeline.core.checkpoint import Signer
from pipeline.core.state import state_key_prefix, state_partition
from pipeline.kafka.admin import ensure_topics, system_topics
from pipeline.security.archive_key import ArchiveKeyError, load_signer
from pipeline.settings import SECOND_US, Settings


class CheckpointerAgent(TransactionalAgent):
    """Consumes the archive in the ``<prefix>-checkpointer`` consumer group."""

    name = "checkpointer"

    def __init__(self, settings: Settings, clock: Callable[[], int] = now_us) -> None:
        super().__init__(settings, [settings.topics.archive], clock)
        self._signer: Signer | None = None
        self._logs: dict[TP, PartitionLog] = {}
        self._dirty: set[TP] = set()

    def prepare(self) -> None:
        # Here, not in __init__: the worker's supervisor turns this error into a clear stop.
        try:
            self._signer = load_signer(self._s.archive_key_dir, self._s.archive.origin)
        except ArchiveKeyError as exc:
            raise ConfigurationError(str(exc)) from exc
        ensure_topics(self._s, system_topics(self._s))

    def restore(self, tps: list[TP]) -> None:
        logs = restore_from_changelog(self._s, self._s.topics.checkpointer_state, tps,
                                      lambda topic, p: PartitionLog())
        self._logs.update(cast(dict[TP, PartitionLog], logs))

    def forget(self, tps: list[TP]) -> None:
        for tp in tps:
            self._logs.pop(tp, None)
            self._dirty.discard(tp)

    def handle(self, msg: Message, now: int) -> Iterable[Output]:
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        assert topic is not None and partition is not None and offset is not None
        self._logs[(topic, partition)].append(partition, offset, msg.key() or b"", msg.value() or b"")
        self._dirty.add((topic, partition))
        return ()

    def tick(self, now: int) -> Iterable[Output]:
        """The changed frontiers, and the checkpoints due; in every transaction, after its records."""
        a = self._s.archive
        assert self._signer is not None  # loaded in prepare(), before any record
        for tp, log in self._logs.items():
            if log.due(now, int(a.checkpoint_interval_s * SECOND_US), a.checkpoint_every_records):
                cp = log.checkpoint(log_origin(a.origin, tp[0], tp[1]), now)
                note = self._signer.sign(cp.body()).encode()
                yield self._s.topics.checkpoints, tp[1], str(tp[1]).encode(), note
                self._dirty.add(tp)
        for tp in self._dirty:
            sp = state_partition(tp[0], tp[1], self._s.topics.state_partitions)
            key = state_key_prefix(*tp) + b"log"
            yield self._s.topics.checkpointer_state, sp, key, self._logs[tp].to_bytes()
        self._dirty.clear()

    def aborted(self) -> None:
        self._dirty.clear()
