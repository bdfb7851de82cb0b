"""The tax agent: archive in; payout taxes, discrepancies and GGR statements out on tax-events.

Reads only committed archive records (each accepted event exactly once), keeps the GGR
statements of the operators in its archive partitions, and writes tax-events and its state
changelog in one transaction with the consumed offsets (see TransactionalAgent).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from typing import cast

from confluent_kafka import Message

from pipeline import metrics
from pipeline.agents.state import restore_from_changelog
from pipeline.agents.transactional import TP, Output, TransactionalAgent, now_us
from pipeline.core.state import state_partition
from pipeline.core.tax import TaxRates
from pipeline.core.taxation import TaxOutcome, TaxProcessor, TaxState
from pipeline.kafka.admin import ensure_topics, system_topics
from pipeline.settings import Settings
from schemas import GGR_STATEMENT, TAX_DISCREPANCY, default_codec


class TaxAgent(TransactionalAgent):
    """Consumes the archive in the ``<prefix>-tax`` consumer group."""

    name = "tax"

    def __init__(self, settings: Settings, clock: Callable[[], int] = now_us) -> None:
        super().__init__(settings, [settings.topics.archive], clock)
        self._codec = default_codec()
        self._processor = TaxProcessor(TaxRates.load(settings.tax.rates_path), settings.tax, self._codec)
        self._states: dict[TP, TaxState] = {}
        self._pending: list[TaxOutcome] = []
        self._issued = 0

    def prepare(self) -> None:
        ensure_topics(self._s, system_topics(self._s))

    def restore(self, tps: list[TP]) -> None:
        states = restore_from_changelog(self._s, self._s.topics.tax_state, tps,
                                        lambda topic, p: TaxState(topic, p, self._s.tax))
        self._states.update(cast(dict[TP, TaxState], states))

    def forget(self, tps: list[TP]) -> None:
        for tp in tps:
            self._states.pop(tp, None)

    def handle(self, msg: Message, now: int) -> Iterable[Output]:
        topic, partition = msg.topic(), msg.partition()
        assert topic is not None and partition is not None
        state = self._states[(topic, partition)]
        out = self._processor.process_record(state, msg.value() or b"")
        self._pending.append(out)
        t = self._s.topics
        operator = out.operator_id
        if out.payouts is not None:
            key = f"payouts|{out.chain_id}|{out.ingest_offset}"
            yield t.tax_events, self._partition(operator), key.encode(), out.payouts
        for d in out.discrepancies:
            yield (t.tax_events, self._partition(operator), f"discrepancy|{d['receipt_id']}".encode(),
                   self._codec.encode(TAX_DISCREPANCY, d))
        yield from self._changelog((topic, partition), out.changelog)

    def tick(self, now: int) -> Iterable[Output]:
        t = self._s.topics
        for tp, state in self._states.items():
            records, changes = self._processor.due(state, now)
            for st in records:
                key = f"statement|{st['operator_id']}|{st['period']}".encode()
                yield t.tax_events, self._partition(st["operator_id"]), key, \
                    self._codec.encode(GGR_STATEMENT, st)
                self._issued += 1
            yield from self._changelog(tp, changes)

    def committed(self) -> None:
        for out in self._pending:
            if out.payout_count:
                metrics.PAYOUTS_TAXED.inc(out.payout_count)
            metrics.TAX_DISCREPANCIES.inc(len(out.discrepancies))
        metrics.STATEMENTS_ISSUED.inc(self._issued)
        self._pending.clear()
        self._issued = 0

    def aborted(self) -> None:
        self._pending.clear()
        self._issued = 0

    def _partition(self, operator_id: str) -> int:
        return zlib.crc32(operator_id.encode()) % self._s.topics.archive_partitions

    def _changelog(self, tp: TP, changes: list[tuple[bytes, bytes | None]]) -> Iterable[Output]:
        sp = state_partition(tp[0], tp[1], self._s.topics.state_partitions)
        for key, value in changes:
            yield self._s.topics.tax_state, sp, key, value
