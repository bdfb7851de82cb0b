"""What the simulator sent, for the demo's summary: counts, kinds, money (integer kopecks)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.core.model import EventKind
from pipeline.settings import HOUR_US

if TYPE_CHECKING:
    from pipeline.operator.simulator import SimBatch

LATE_US = HOUR_US  # an event this old when sent counts as late data
_MONEY = {EventKind.BET: "stakes", EventKind.WIN: "winnings", EventKind.REFUND: "refunds",
          EventKind.DEPOSIT: "deposits", EventKind.WITHDRAWAL: "withdrawals",
          EventKind.WITHDRAWAL_CANCELLED: "withdrawals_cancelled"}


@dataclass
class SimStats:
    """Counts of one operator's (or, added up, the fleet's) simulated traffic.

    Money sums cover the events dsom must accept; ``sent_unique`` counts every new event
    (accepted or rejected), ``duplicates_sent`` every event sent again.
    """

    batches: int = 0
    events_sent: int = 0  # events in all records, repeats included
    sent_unique: int = 0
    duplicates_sent: int = 0
    late_events: int = 0  # accepted events at least an hour old when sent (backlogs)
    accepted: Counter[str] = field(default_factory=Counter)  # by event kind
    rejected: Counter[str] = field(default_factory=Counter)  # events, by reason
    records_rejected: Counter[str] = field(default_factory=Counter)  # whole records, by reason
    stakes: int = 0
    refunds: int = 0
    winnings: int = 0
    deposits: int = 0
    withdrawals: int = 0
    withdrawals_cancelled: int = 0  # back on the players' balances (not part of GGR)
    pit_withheld: int = 0
    military_withheld: int = 0

    @property
    def ggr(self) -> int:
        """Stakes accepted - stakes refunded - winnings paid, kopecks."""
        return self.stakes - self.refunds - self.winnings

    @property
    def rtp(self) -> float | None:
        """Return to player: winnings per kopeck of net stakes."""
        net = self.stakes - self.refunds
        return self.winnings / net if net > 0 else None

    def count_batch(self, batch: SimBatch) -> None:
        self.batches += 1
        self.events_sent += len(batch.events)
        self.sent_unique += len(batch.expected)
        self.duplicates_sent += batch.duplicates
        self.rejected.update(reason for status, reason in batch.expected.values() if reason)
        if batch.expected_record_reason:
            self.records_rejected[batch.expected_record_reason] += 1

    def count_accepted(self, ev: dict[str, Any], now_us: int) -> None:
        kind = EventKind(ev["kind"])
        self.accepted[str(kind)] += 1
        setattr(self, _MONEY[kind], getattr(self, _MONEY[kind]) + ev["amount"])
        if kind is EventKind.WIN:
            self.pit_withheld += ev["tax_withheld_pit"]
            self.military_withheld += ev["tax_withheld_military"]
        self.late_events += now_us - ev["occurred_at_us"] >= LATE_US

    def add(self, other: SimStats) -> None:
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, Counter):
                mine.update(theirs)
            else:
                setattr(self, name, mine + theirs)

    def summary(self) -> dict[str, Any]:
        """Plain numbers for printing or JSON (money in kopecks)."""
        return {
            "batches": self.batches, "events_sent": self.events_sent, "sent_unique": self.sent_unique,
            "duplicates_sent": self.duplicates_sent, "late_events": self.late_events,
            "accepted": dict(self.accepted), "rejected": dict(self.rejected),
            "records_rejected": dict(self.records_rejected), "stakes": self.stakes,
            "refunds": self.refunds, "winnings": self.winnings, "ggr": self.ggr, "rtp": self.rtp,
            "deposits": self.deposits, "withdrawals": self.withdrawals,
            "withdrawals_cancelled": self.withdrawals_cancelled,
            "pit_withheld": self.pit_withheld, "military_withheld": self.military_withheld,
        }
