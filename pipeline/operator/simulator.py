"""Seeded, pure traffic generator: realistic operator batches plus the outcome dsom must reach.

No I/O and no clock of its own: the caller passes the time, so a seed gives the same traffic
and tests can compare the pipeline's receipts with ``SimBatch.expected``.
"""

from __future__ import annotations

import math
import random
import string
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.core.model import Channel, EventKind, LicenceKind, Reason
from pipeline.operator.fleet import PROFILES, Profile
from pipeline.registry import Operator, Registry
from schemas import EVENT_BATCH, default_codec

SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US
Outcome = tuple[str, str | None]  # ("ACCEPTED", None) or ("REJECTED", reason)
ACCEPTED: Outcome = ("ACCEPTED", None)
BAD_EVENT_REASONS = (
    Reason.WRONG_CURRENCY, Reason.NON_POSITIVE_AMOUNT, Reason.ABSURD_AMOUNT, Reason.FUTURE_TIME,
    Reason.TOO_LATE, Reason.PERSONAL_DATA, Reason.UNKNOWN_LICENCE, Reason.LICENCE_KIND_MISMATCH,
    Reason.UNKNOWN_BET, Reason.MISSING_FIELD,
)
BAD_RECORD_REASONS = (Reason.UNKNOWN_SCHEMA, Reason.MALFORMED, Reason.WRONG_OPERATOR)
PERSONAL_REFS = ("+380501234567", "ivan.petrenko@example.com", "4111111111111111")


@dataclass
class SimBatch:
    """One record to send, and what dsom must answer for it."""

    source_id: str
    events: list[dict[str, Any]]
    raw: bytes | None = None  # send these bytes instead of encoding ``events``
    expected: dict[tuple[str, int], Outcome] = field(default_factory=dict)  # new events only
    expected_record_reason: str | None = None  # the record is rejected as a whole
    duplicates: int = 0  # events in it that were sent before


def tax_half_up(amount: int, percent: int) -> int:
    """``amount * percent / 100`` rounded half up to the kopeck, in integers."""
    return (amount * percent + 50) // 100


@dataclass
class _Source:
    source_id: str
    next_seq: int = 1
    next_bet: int = 1
    pending: deque[dict[str, Any]] = field(default_factory=deque)  # WIN/REFUND events due later
    history: deque[list[dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=20))


class OperatorSimulator:
    """Traffic of one operator: ``sources`` event sources, batches of ``batch_size`` events."""

    LEVY_MISTAKE_SHARE = 0.005

    def __init__(self, operator: Operator, seed: int, sources: int = 2, batch_size: int = 200,
                 bad_share: float = 0.01, duplicate_share: float = 0.01, players: int = 500) -> None:
        self.operator = operator
        self.licence = operator.licences[0]
        self.kind = LicenceKind(self.licence.kind)
        self.profile: Profile = PROFILES[self.kind]
        self._rng = random.Random(seed)
        self._batch_size = batch_size
        self._bad = bad_share
        self._dup = duplicate_share
        self._sources = [_Source(f"{operator.operator_id}-src-{i}") for i in range(1, sources + 1)]
        alphabet = string.ascii_uppercase + "234567"
        self._players = ["p_" + "".join(self._rng.choices(alphabet, k=20)) for _ in range(players)]
        self._turn = 0
        self.sent_unique = 0
        self.duplicates_sent = 0
        self.stakes = 0
        self.payouts = 0

    def next_batch(self, now_us: int) -> SimBatch:
        rng = self._rng
        src = self._sources[self._turn % len(self._sources)]
        self._turn += 1
        roll = rng.random()
        if roll < self._bad / 2:
            return self._bad_record(src, now_us)
        if roll < self._bad / 2 + self._dup and src.history:
            events = rng.choice(src.history)
            self.duplicates_sent += len(events)
            return SimBatch(src.source_id, [dict(e) for e in events], duplicates=len(events))
        batch = SimBatch(src.source_id, [])
        for _ in range(self._batch_size):
            if rng.random() < self._bad:
                ev, reason = self._bad_event(src, now_us)
                batch.expected[(src.source_id, ev["seq"])] = ("REJECTED", str(reason))
            else:
                ev = self._good_event(src, now_us)
                batch.expected[(src.source_id, ev["seq"])] = ACCEPTED
            batch.events.append(ev)
        self.sent_unique += len(batch.events)
        src.history.append(batch.events)
        if rng.random() < self._dup and len(src.history) > 1:
            again = rng.sample(src.history[0], k=min(5, len(src.history[0])))
            batch.events.extend(dict(e) for e in again)
            batch.duplicates = len(again)
            self.duplicates_sent += len(again)
        return batch

    # -- valid traffic --

    def _good_event(self, src: _Source, now_us: int) -> dict[str, Any]:
        rng, p = self._rng, self.profile
        if src.pending and rng.random() < 0.5:
            ev = src.pending.popleft()
            ev["seq"] = self._seq(src)
            ev["occurred_at_us"] = max(ev["occurred_at_us"], self._time(now_us))
            return ev
        roll = rng.random()
        if roll < p.deposit_share:
            return self._base(src, EventKind.DEPOSIT, self._stake() * 10, now_us)
        if roll < p.deposit_share + p.withdrawal_share:
            return self._base(src, EventKind.WITHDRAWAL, self._stake() * 8, now_us)
        return self._bet(src, now_us)

    def _bet(self, src: _Source, now_us: int) -> dict[str, Any]:
        rng, p = self._rng, self.profile
        stake = self._stake()
        bet = self._base(src, EventKind.BET, stake, now_us)
        bet["bet_ref"] = f"{src.source_id}-b{src.next_bet}"
        src.next_bet += 1
        bet["game_type"] = rng.choice(p.game_types)
        bet["round_ref"] = f"r{rng.randrange(10**9)}"
        self.stakes += stake
        roll = rng.random()
        if roll < p.refund_share:
            follow = dict(bet, kind=str(EventKind.REFUND), amount=stake,
                          operator_ref=bet["operator_ref"] + "-refund")
        elif roll < p.refund_share + p.win_probability:
            # payout multiple averages rtp / win_probability, so payouts / stakes ~ rtp
            payout = max(1, round(stake * p.rtp / p.win_probability * rng.uniform(0.5, 1.5)))
            # A few operators' systems still withhold the old 1.5 % levy: a tax discrepancy.
            levy_x10 = 15 if rng.random() < self.LEVY_MISTAKE_SHARE else 50
            follow = dict(bet, kind=str(EventKind.WIN), amount=payout,
                          operator_ref=bet["operator_ref"] + "-win",
                          tax_withheld_pit=tax_half_up(payout, 18),
                          tax_withheld_military=(payout * levy_x10 + 500) // 1000)
            self.payouts += payout
        else:
            return bet
        src.pending.append(follow)
        return bet

    def _base(self, src: _Source, kind: EventKind, amount: int, now_us: int) -> dict[str, Any]:
        rng = self._rng
        channel = rng.choice(self.profile.channels)
        physical = channel is Channel.ESTABLISHMENT
        seq = self._seq(src)
        return {
            "seq": seq, "operator_ref": f"{src.source_id}-tx{seq}", "kind": str(kind),
            "licence_id": self.licence.licence_id, "licence_kind": str(self.kind),
            "channel": str(channel),
            "establishment_id": f"est-{rng.randrange(1, 6):03d}" if physical else None,
            "equipment_id": f"eq-{rng.randrange(1, 400):05d}" if physical else None,
            "site_id": f"{self.operator.operator_id}.example.ua" if channel is Channel.SITE else None,
            "app_id": f"ua.example.{self.operator.operator_id}" if channel is Channel.APP else None,
            "game_type": None, "round_ref": None, "bet_ref": None,
            "player_ref": rng.choice(self._players), "amount": amount, "currency": "UAH",
            "occurred_at_us": self._time(now_us), "tax_withheld_pit": None, "tax_withheld_military": None,
        }

    def _seq(self, src: _Source) -> int:
        seq = src.next_seq
        src.next_seq += 1
        return seq

    def _stake(self) -> int:
        p = self.profile
        stake = round(p.stake_median * math.exp(p.stake_sigma * self._rng.gauss(0.0, 1.0)))
        return min(max(stake, 100), p.stake_max)

    def _time(self, now_us: int) -> int:
        if self._rng.random() < 0.02:  # late data after an outage: normal, valid
            return now_us - self._rng.randrange(DAY_US, 3 * DAY_US)
        return now_us - self._rng.randrange(0, 5 * SECOND_US)

    # -- bad input --

    def _bad_event(self, src: _Source, now_us: int) -> tuple[dict[str, Any], Reason]:
        rng = self._rng
        reason = rng.choice(BAD_EVENT_REASONS)
        ev = self._base(src, EventKind.DEPOSIT, self._stake(), now_us)
        if reason is Reason.WRONG_CURRENCY:
            ev["currency"] = "USD"
        elif reason is Reason.NON_POSITIVE_AMOUNT:
            ev["amount"] = -rng.randrange(0, 10_000)
        elif reason is Reason.ABSURD_AMOUNT:
            ev["amount"] = 10_000_000_001 + rng.randrange(10**12)
        elif reason is Reason.FUTURE_TIME:
            ev["occurred_at_us"] = now_us + 3600 * SECOND_US
        elif reason is Reason.TOO_LATE:
            ev["occurred_at_us"] = now_us - 10 * DAY_US
        elif reason is Reason.PERSONAL_DATA:
            ev["player_ref"] = rng.choice(PERSONAL_REFS)
        elif reason is Reason.UNKNOWN_LICENCE:
            ev["licence_id"] = "LIC-NOPE-9999"
        elif reason is Reason.LICENCE_KIND_MISMATCH:
            ev["licence_kind"] = str(rng.choice([k for k in LicenceKind if k is not self.kind]))
        elif reason is Reason.UNKNOWN_BET:
            ev.update(kind=str(EventKind.WIN), bet_ref=f"{src.source_id}-never-{ev['seq']}",
                      game_type=self.profile.game_types[0], tax_withheld_pit=tax_half_up(ev["amount"], 18),
                      tax_withheld_military=tax_half_up(ev["amount"], 5))
        elif reason is Reason.MISSING_FIELD:
            ev.update(kind=str(EventKind.BET), game_type=self.profile.game_types[0], bet_ref=None)
        return ev, reason

    def _bad_record(self, src: _Source, now_us: int) -> SimBatch:
        reason = self._rng.choice(BAD_RECORD_REASONS)
        batch = SimBatch(src.source_id, [])
        if reason is Reason.UNKNOWN_SCHEMA:
            batch.raw = orjson.dumps({"operator_id": self.operator.operator_id, "events": []})
            batch.expected_record_reason = str(reason)
        elif reason is Reason.MALFORMED:
            template = self._base(_Source(src.source_id), EventKind.DEPOSIT, 1000, now_us)
            full = default_codec().encode(EVENT_BATCH, {
                "operator_id": self.operator.operator_id, "source_id": src.source_id,
                "sent_at_us": now_us, "events": [template]})
            batch.raw = full[: len(full) // 2]
            batch.expected_record_reason = str(reason)
        else:  # a batch claiming another operator: each of its events is rejected (seqs consumed)
            events = [self._base(src, EventKind.DEPOSIT, self._stake(), now_us) for _ in range(3)]
            batch.raw = default_codec().encode(EVENT_BATCH, {
                "operator_id": "op-someone-else", "source_id": src.source_id, "sent_at_us": now_us,
                "events": events})
            batch.events = events
            batch.expected = {(src.source_id, e["seq"]): ("REJECTED", str(reason)) for e in events}
        return batch


def now_us() -> int:
    return time.time_ns() // 1000


def simulate_fleet(registry: Registry, seed: int, batches: int | None = None,
                   clock: Callable[[], int] = now_us, **options: Any) -> Iterator[tuple[str, SimBatch]]:
    """Batches from every operator in turn (``batches`` in all, or without end)."""
    sims = [OperatorSimulator(op, seed * 1_000 + i, **options) for i, op in enumerate(registry.operators)]
    n = 0
    while batches is None or n < batches:
        sim = sims[n % len(sims)]
        yield sim.operator.operator_id, sim.next_batch(clock())
        n += 1
