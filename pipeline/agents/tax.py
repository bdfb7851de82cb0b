"""The tax agent: archive in; payout taxes, discrepancies and GGR statements out on tax-events.

Reads only committed archive records (each accepted event exactly once), keeps the GGR
statements of the operators in its archive partitions, and writes tax-events and its state
changelog in one transaction with the consumed offsets (see TransactionalAgent).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable

from confluent_kafka import Message

from pipeline import metrics
from pipeline.agents.app import app
from pipeline.agents.clients import Clients
from pipeline.agents.topics import ARCHIVE, DEAD_LETTER
from pipeline.agents.transactional import Output, TransactionalAgent, now_us
from pipeline.core.tax import TaxRates
from pipeline.core.taxation import TaxOutcome, TaxProcessor, TaxState
from pipeline.kafka.admin import ARCHIVE_CONFIG
from pipeline.settings import Settings
from schemas import GGR_STATEMENT, TAX_DISCREPANCY, default_codec

# Payout taxes, discrepancies and GGR statements for the State Tax Service, which must be able
# to re-read everything: kept like the archive.
_STATEMENT = "statement"  # deferred once per statement issued
TAX_EVENTS = app.topic("tax-events", partitions=lambda t: t.archive_partitions, config=ARCHIVE_CONFIG)


@app.agent(group="tax", reads=[ARCHIVE], writes=[TAX_EVENTS, DEAD_LETTER], tables=["tax-state"])
class TaxAgent(TransactionalAgent):
    """Taxes every archived payout and issues each operator's GGR statements."""

    def __init__(self, settings: Settings, clock: Callable[[], int] = now_us,
                 clients: Clients | None = None) -> None:
        super().__init__(settings, clock, clients)
        self._codec = default_codec()
        self._processor = TaxProcessor(TaxRates.load(settings.tax.rates_path), settings.tax, self._codec,
                                       settings.validation.engine)
        self._states = self.table("tax-state", lambda topic, p: TaxState(topic, p, settings.tax))

    def handle(self, msg: Message, now: int) -> Iterable[Output]:
        topic, partition = msg.topic(), msg.partition()
        assert topic is not None and partition is not None
        state = self._states[(topic, partition)]
        out = self._processor.process_record(state, msg.value() or b"")
        self.defer(out)
        t = self._s.topics
        operator = out.operator_id
        if out.payouts is not None:
            key = f"payouts|{out.chain_id}|{out.ingest_offset}"
            yield t.tax_events, self._partition(operator), key.encode(), out.payouts
        for d in out.discrepancies:
            yield (t.tax_events, self._partition(operator), f"discrepancy|{d['receipt_id']}".encode(),
                   self._codec.encode(TAX_DISCREPANCY, d))
        yield from self._states.changes((topic, partition), out.changelog)

    def tick(self, now: int) -> Iterable[Output]:
        t = self._s.topics
        for tp, state in self._states.items():
            records, changes = self._processor.due(state, now)
            for st in records:
                key = f"statement|{st['operator_id']}|{st['period']}".encode()
                yield t.tax_events, self._partition(st["operator_id"]), key, \
                    self._codec.encode(GGR_STATEMENT, st)
                self.defer(_STATEMENT)
            yield from self._states.changes(tp, changes)

    def after_commit(self, deferred: list[TaxOutcome | str]) -> None:
        for out in deferred:
            if out is _STATEMENT:
                metrics.STATEMENTS_ISSUED.inc()
            elif isinstance(out, TaxOutcome):
                if out.payout_count:
                    metrics.PAYOUTS_TAXED.inc(out.payout_count)
                metrics.TAX_DISCREPANCIES.inc(len(out.discrepancies))

    def _partition(self, operator_id: str) -> int:
        return zlib.crc32(operator_id.encode()) % self._s.topics.archive_partitions
