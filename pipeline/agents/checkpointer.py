"""The checkpointer agent: archive in; each partition's Merkle log extended, and signed checkpoints out.

Reads only committed archive records, in offset order per partition, appends each as a leaf
(pipeline.core.archive_log) and, every ``archive.checkpoint_interval_s`` or
``archive.checkpoint_every_records``, signs the partition's tree head (a C2SP checkpoint) to
``<prefix>.checkpoints`` (the same partition number). The logs' frontiers live in a changelog,
written in the same transaction as the checkpoints and the consumed offsets (see
TransactionalAgent), so a restart neither skips nor repeats a leaf.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Message

from pipeline.agents.app import app
from pipeline.agents.supervision import ConfigurationError
from pipeline.agents.tables import TP
from pipeline.agents.topics import ARCHIVE, DEAD_LETTER
from pipeline.agents.transactional import Output, TransactionalAgent
from pipeline.core.archive_log import PartitionLog, log_origin
from pipeline.core.checkpoint import Signer
from pipeline.core.state import state_key_prefix
from pipeline.kafka.admin import ARCHIVE_CONFIG
from pipeline.security.archive_key import ArchiveKeyError, load_signer
from pipeline.settings import SECOND_US

# The archive's signed tree heads (partition p: archive partition p's log), kept like the archive.
CHECKPOINTS = app.topic("checkpoints", partitions=lambda t: t.archive_partitions, config=ARCHIVE_CONFIG)


@app.agent(group="checkpointer", reads=[ARCHIVE], writes=[CHECKPOINTS, DEAD_LETTER],
           tables=["checkpointer-state"])
class CheckpointerAgent(TransactionalAgent):
    """Extends each archive partition's Merkle log and signs its checkpoints."""

    # A transaction per poll (TransactionalAgent's way) is several round trips and commit markers
    # for the few archive records a poll brings, far more work than hashing them. The records of
    # up to this long are committed together instead; uncommitted, they are only read again
    # after a crash or rebalance, never counted twice.
    commit_interval_s = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signer: Signer | None = None
        self._logs = self.table("checkpointer-state", lambda topic, p: PartitionLog())
        self._dirty: set[TP] = set()
        self._pending: list[Message] = []  # read, not yet handled: handled in the next transaction
        self._pending_since = time.monotonic()

    def prepare(self) -> None:
        # Here, not in __init__: the worker's supervisor turns this error into a clear stop.
        try:
            self._signer = load_signer(self._s.archive_key_dir, self._s.archive.origin)
        except ArchiveKeyError as exc:
            raise ConfigurationError(str(exc)) from exc
        super().prepare()

    def forget(self, tps: list[TP]) -> None:
        super().forget(tps)  # also after an aborted transaction, before the restore
        self._dirty.difference_update(tps)
        gone = set(tps)  # their next owner reads them again from the committed offsets
        self._pending = [m for m in self._pending if (m.topic(), m.partition()) not in gone]

    def process(self, msgs: list[Message], stop: threading.Event) -> None:
        self._pending.extend(msgs)
        if (len(self._pending) < self.max_records
                and time.monotonic() - self._pending_since < self.commit_interval_s):
            return
        pending, self._pending = self._pending, []
        self._pending_since = time.monotonic()
        super().process(pending, stop)

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
                yield CHECKPOINTS.full_name(self._s.topics), tp[1], str(tp[1]).encode(), note
                self._dirty.add(tp)
        for tp in self._dirty:
            yield from self._logs.changes(tp, [(state_key_prefix(*tp) + b"log", self._logs[tp].to_bytes())])
        self._dirty.clear()
