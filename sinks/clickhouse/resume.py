"""Where the sink resumes a partition it gains, so that nothing is stored twice after a crash.

The sink commits offsets after it stored their rows, so a crash between the two leaves rows in
ClickHouse whose records are read again. On assignment :meth:`Resumer.positions` asks ClickHouse
for the highest source offset stored per partition. Rows stored from records at or after the
committed offset are read back by key (:class:`Resume`) and left out when those records are
read again, row by row: an insert that spans two monthly partitions writes two parts and a
crash can land one of them, so "resume after the highest stored offset" alone could lose rows.
Batches stored there are also rolled up again, under their tokens, in case the crash came
between the insert and its roll-ups.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from sinks.clickhouse import queries
from sinks.clickhouse.batch import TP
from sinks.clickhouse.rollups import roll_up
from sinks.clickhouse.tables import TABLES, Table

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
_EMPTY: frozenset[Any] = frozenset()


@dataclass
class Resume:
    """Rows already stored from records at or after a partition's committed offset."""

    last_offset: int
    keys: dict[int, set[Any]] = field(default_factory=dict)  # offset -> keys of stored rows


class Resumer:
    """The stored rows to leave out, per partition, until its reading passes them."""

    def __init__(self, client: Client, db: str, table_of: Callable[[str], Table], limit: int,
                 stop: threading.Event) -> None:
        self._client = client
        self._db = db
        self._table_of = table_of
        # Stored rows of uncommitted records are read back only up to this many per partition;
        # beyond it (committed offsets lost) the sink resumes after the highest stored offset.
        self.limit = limit
        self.stop = stop
        self.pending: dict[TP, Resume] = {}

    def stored_keys(self, tp: TP, offset: int) -> frozenset[Any] | set[Any]:
        """The keys of the rows of record ``offset`` that are stored already (usually none)."""
        resume = self.pending.get(tp)
        if resume is None:
            return _EMPTY
        if offset > resume.last_offset:
            del self.pending[tp]
            return _EMPTY
        return resume.keys.get(offset, _EMPTY)

    def drop(self, tps: set[TP]) -> None:
        for tp in tps:
            self.pending.pop(tp, None)

    def positions(self, consumer: Consumer, tps: list[TP]) -> dict[TP, int]:
        """Where to start reading each partition, and the stored rows to leave out on the way.

        From the committed offset, unless ClickHouse holds rows of records at or after it (a
        crash between insert and commit): then those rows' keys are kept in :attr:`pending`.
        """
        committed = {(tp.topic, tp.partition): tp.offset for tp in
                     consumer.committed([TopicPartition(t, p) for t, p in tps], timeout=30)}
        stored: dict[TP, int] = {}
        for table in TABLES:
            if any(self._table_of(t) is table for t, _ in tps):
                stored.update(self._retry(partial(queries.max_src_offsets, self._client, self._db, table)))
        positions: dict[TP, int] = {}
        for tp in tps:
            self.pending.pop(tp, None)
            done = committed.get(tp, -1)
            positions[tp] = done if done >= 0 else OFFSET_BEGINNING
            last = stored.get(tp)
            if last is None or (done >= 0 and last < done):
                continue  # nothing stored beyond what is committed
            first = max(done, 0)
            self._roll_up_stored(tp, first, last)
            keys = self._retry(partial(queries.stored_keys, self._client, self._db, self._table_of(tp[0]),
                                       tp, first, last, self.limit))
            if keys is None:
                log.warning("%s[%d]: over %d rows stored after the committed offset %s; resuming after "
                            "the highest stored offset %d", tp[0], tp[1], self.limit,
                            done if done >= 0 else "(none)", last)
                positions[tp] = last + 1
            else:
                self.pending[tp] = Resume(last, keys)
                log.info("%s[%d]: rows of offsets %d..%d are already stored (committed %s); reading "
                         "them again and leaving those rows out", tp[0], tp[1], first, last,
                         done if done >= 0 else "(none)")
        return positions

    def _roll_up_stored(self, tp: TP, first: int, last: int) -> None:
        """Finish the roll-up of every batch stored in ``tp`` after its committed offset.

        The process may have died between storing a batch and rolling it up (or midway through
        the rollups): rolling up again under the batch's tokens adds exactly what is missing.
        """
        table = self._table_of(tp[0])
        if not table.tokened:
            return
        tokens = self._retry(partial(queries.batch_tokens, self._client, self._db, table, tp, first, last))
        for token in tokens:
            self._retry(partial(roll_up, self._client, self._db, table.name, token))
        if tokens:
            log.info("%s[%d]: rolled up again %d stored batch(es) after the committed offset",
                     tp[0], tp[1], len(tokens))

    def _retry(self, query: Callable[[], T]) -> T:
        """Run a ClickHouse read, retrying with backoff until it works or stop is set."""
        delay = RETRY_FIRST_S
        while True:
            try:
                return query()
            except Exception as exc:
                if self.stop.is_set():
                    raise
                log.warning("ClickHouse query failed, retrying in %.1f s: %s", delay, exc)
                self.stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
