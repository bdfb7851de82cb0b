"""GGR statements per operator and tax period, and when to (re)issue them.

GGR = stakes accepted - stakes refunded - winnings paid; deposits and withdrawals are wallet
flows and do not count. A statement is issued as OPEN while its period runs (at most once per
``interval``), as CLOSED once the period has ended plus a grace time, and again — a new
revision, still CLOSED — whenever late data changes a closed period. Consumers keep the
highest revision per (operator, period); revisions are numbered by this state, which is
restored exactly after a crash, so a replay never issues a revision twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

from pipeline.core.model import EventKind
from pipeline.core.tax import PayoutTax, Period, TaxRates, apply_rate, tax_period


@dataclass
class Statement:
    operator_id: str
    period: str
    period_start_us: int
    period_end_us: int
    stakes: int = 0
    refunds: int = 0
    winnings: int = 0
    bets: int = 0
    payouts: int = 0
    pit_due: int = 0
    military_due: int = 0
    pit_withheld: int = 0
    military_withheld: int = 0
    discrepancies: int = 0
    revision: int = 0
    closed: bool = False
    dirty: bool = False
    issued_at_us: int = 0

    @property
    def ggr(self) -> int:
        return self.stakes - self.refunds - self.winnings

    def add(self, kind: str, amount: int, tax: PayoutTax | None) -> None:
        """Count one archived event (``tax``: a WIN's winnings tax)."""
        if kind == EventKind.BET:
            self.stakes += amount
            self.bets += 1
        elif kind == EventKind.REFUND:
            self.refunds += amount
        elif kind == EventKind.WIN:
            self.winnings += amount
            self.payouts += 1
            if tax is not None:
                self.pit_due += tax.pit_due
                self.military_due += tax.military_due
                self.pit_withheld += tax.pit_withheld
                self.military_withheld += tax.military_withheld
                self.discrepancies += tax.discrepancy
        else:
            return
        self.dirty = True

    def add_totals(self, totals: tuple[int, ...]) -> None:
        """Count a whole batch at once: ``totals`` is its ``pipeline.core.archive_tax.Totals``."""
        (stakes, bets, refunds, refund_count, winnings, payouts, pit_due, military_due, pit_withheld,
         military_withheld, discrepancies) = totals
        if not (bets or refund_count or payouts):
            return  # deposits and withdrawals only: nothing a statement counts
        self.stakes += stakes
        self.bets += bets
        self.refunds += refunds
        self.winnings += winnings
        self.payouts += payouts
        self.pit_due += pit_due
        self.military_due += military_due
        self.pit_withheld += pit_withheld
        self.military_withheld += military_withheld
        self.discrepancies += discrepancies
        self.dirty = True

    def to_record(self, rates: TaxRates) -> dict[str, Any]:
        """The ``GgrStatement`` Avro record of the current revision."""
        rate = rates.ggr.at(self.period_start_us)
        return {
            "operator_id": self.operator_id, "period": self.period,
            "period_start_us": self.period_start_us, "period_end_us": self.period_end_us,
            "revision": self.revision, "status": "CLOSED" if self.closed else "OPEN",
            "stakes": self.stakes, "refunds": self.refunds, "winnings": self.winnings, "ggr": self.ggr,
            "bets": self.bets, "payouts": self.payouts, "ggr_tax_rate_ppm": rate,
            "ggr_tax_due": apply_rate(max(self.ggr, 0), rate), "pit_due": self.pit_due,
            "military_due": self.military_due, "pit_withheld": self.pit_withheld,
            "military_withheld": self.military_withheld, "discrepancies": self.discrepancies,
            "issued_at_us": self.issued_at_us,
        }

    def dumps(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: bytes) -> Statement:
        return cls(**orjson.loads(raw))


class StatementBook:
    """The statements one tax agent partition is responsible for."""

    def __init__(self, granularity: str, interval_us: int, grace_us: int) -> None:
        self.granularity = granularity
        self.interval_us = interval_us
        self.grace_us = grace_us
        self.statements: dict[tuple[str, str], Statement] = {}
        self._last: dict[str, Statement] = {}  # per operator, the statement of its last event

    def add(self, operator_id: str, kind: str, amount: int, t: int, tax: PayoutTax | None) -> Statement:
        """Count one event of ``operator_id`` at ``t``; return the statement that took it."""
        st = self._last.get(operator_id)
        if st is None or not st.period_start_us <= t < st.period_end_us:
            st = self._statement_of(operator_id, tax_period(t, self.granularity))
        st.add(kind, amount, tax)
        return st

    def covering(self, operator_id: str, first_us: int, last_us: int) -> Statement | None:
        """The operator's statement whose period holds both instants, or None if none does."""
        st = self._last.get(operator_id)
        if st is not None and st.period_start_us <= first_us and last_us < st.period_end_us:
            return st
        period = tax_period(first_us, self.granularity)
        return self._statement_of(operator_id, period) if last_us < period.end_us else None

    def _statement_of(self, operator_id: str, period: Period) -> Statement:
        # Callers first try the statement of the operator's previous event: most events fall in
        # its period, and a range check is far cheaper than the Kyiv-local period (a time-zone
        # conversion) of every event.
        key = (operator_id, period.label)
        st = self.statements.get(key)
        if st is None:
            st = Statement(operator_id, period.label, period.start_us, period.end_us)
            self.statements[key] = st
        self._last[operator_id] = st
        return st

    def put(self, st: Statement) -> None:
        """Hold ``st`` (restored from the changelog) as its operator's statement for its period."""
        self.statements[(st.operator_id, st.period)] = st
        self._last.pop(st.operator_id, None)

    def due(self, now_us: int) -> list[Statement]:
        """Statements to issue now; each gets its next revision and is marked issued."""
        out = []
        for st in self.statements.values():
            closing = not st.closed and now_us >= st.period_end_us + self.grace_us
            if closing:
                st.closed = True
            elif not st.dirty or (not st.closed and now_us - st.issued_at_us < self.interval_us):
                continue
            st.revision += 1
            st.dirty = False
            st.issued_at_us = now_us
            out.append(st)
        return out
