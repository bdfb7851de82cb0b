"""Seeded, pure traffic generator: realistic operator batches plus the outcome dsom must reach.

No I/O and no clock of its own: the caller passes the time, so a seed gives the same traffic
and tests can compare the pipeline's receipts with ``SimBatch.expected``.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pipeline.core.model import Channel, EventKind, LicenceKind, Reason
from pipeline.core.tax import RateSchedule, TaxRates, apply_rate
from pipeline.operator import defects
from pipeline.operator.fleet import PROFILES, UAH, Game, Profile, venues
from pipeline.operator.players import Player, Players
from pipeline.operator.producer import SequenceCounter
from pipeline.operator.stats import SimStats
from pipeline.registry import Operator, Registry
from pipeline.settings import DAY_US, SECOND_US, TaxSettings
from schemas import EVENT_BATCH, default_codec
from schemas.codec import HEADER_LEN, load_type

Outcome = tuple[str, str | None]  # ("ACCEPTED", None) or ("REJECTED", reason code)
ACCEPTED: Outcome = ("ACCEPTED", None)
EventKey = tuple[str, int]  # (source_id, seq): an event's unique ID within its operator
ROUND_PREFIX = {"slots": "spin", "roulette": "spin", "blackjack": "hand", "sports": "match",
                "live": "match", "esports": "match", "poker_cash": "hand", "poker_tournament": "trn"}


def rejected(reason: str) -> Outcome:
    return ("REJECTED", str(reason))


@dataclass
class SimBatch:
    """One record to send, and what dsom must answer for it."""

    source_id: str
    events: list[dict[str, Any]]  # Event records exactly as the Avro schema wants them
    raw: bytes | None = None  # send these bytes instead of encoding ``events``
    expected: dict[EventKey, Outcome] = field(default_factory=dict)  # every NEW event, once
    expected_record_reason: str | None = None  # the record is rejected as a whole
    duplicates: int = 0  # events in it sent before: answered DUPLICATE, counted nowhere
    operator_id: str = ""


@cache
def default_rates() -> TaxRates:
    return TaxRates.load(TaxSettings().rates_path)


def _previous_rate(schedule: RateSchedule, t_us: int) -> int:
    """The rate before the one in force at ``t_us``: what an operator that missed a change withholds."""
    i = bisect_right(schedule.starts_us, t_us) - 1
    return schedule.ppms[max(i - 1, 0)]


@dataclass
class _Source:
    source_id: str
    seqs: SequenceCounter = field(default_factory=SequenceCounter)
    slot: int = 0  # good events emitted: the clock outcomes are scheduled on
    bets: int = 0
    pending: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)  # heap of WIN/REFUND
    history: deque[list[dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=20))
    placed: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=50))  # recent valid BETs


class OperatorSimulator:
    """Traffic of one operator: ``sources`` event sources taking turns, batches of ``batch_size``.

    Shares: ``bad_share`` of new events carry one defect; ``bad_record_share`` of records are
    rejected whole (default: half of ``bad_share``); ``duplicate_share`` of records are exact
    retries of an earlier batch, and that share of new batches also re-send a few earlier
    events; ``late_share`` of new batches are a backlog 1-3 days old (valid late data).
    """

    def __init__(self, operator: Operator, profile: Profile, seed: int | str, sources: int = 2,
                 batch_size: int = 200, bad_share: float = 0.01, duplicate_share: float = 0.01,
                 players: int = 500, late_share: float = 0.02, bad_record_share: float | None = None,
                 levy_mistake_share: float = 0.005, rates: TaxRates | None = None,
                 cancel_share: float = 0.03) -> None:
        self.operator = operator
        self.licence = operator.licences[0]
        if self.licence.kind != profile.kind:
            raise ValueError(f"{operator.operator_id} holds a {self.licence.kind} licence, "
                             f"not {profile.kind}")
        self.kind = profile.kind
        self.profile = profile
        self.venues = venues(operator, profile)
        self.stats = SimStats()
        self._rng = random.Random(seed)
        self._players = Players(self._rng, profile, self.venues, players)
        self._sources = [_Source(f"{operator.operator_id}-src-{i}") for i in range(1, sources + 1)]
        self._batch_size = batch_size
        self._bad = bad_share
        self._bad_record = bad_share / 2 if bad_record_share is None else bad_record_share
        self._dup = duplicate_share
        self._late = late_share
        self._levy_mistake = levy_mistake_share
        self._cancel = cancel_share
        self._rates = rates or default_rates()
        self._game_weights = [g.weight for g in profile.games]
        self._turn = 0
        self._tiebreak = 0
        self._rigged: dict[str, float] = {}  # equipment_id -> the RTP it really pays (alerts' patterns)

    @property
    def sent_unique(self) -> int:
        return self.stats.sent_unique

    @property
    def duplicates_sent(self) -> int:
        return self.stats.duplicates_sent

    @property
    def source_ids(self) -> list[str]:
        return [s.source_id for s in self._sources]

    def next_batch(self, now_us: int) -> SimBatch:
        rng = self._rng
        src = self._sources[self._turn % len(self._sources)]
        self._turn += 1
        roll = rng.random()
        if roll < self._bad_record:
            batch = self._bad_record_batch(src, now_us)
        elif roll < self._bad_record + self._dup and src.history:  # a retry of a whole batch
            events = [dict(e) for e in rng.choice(src.history)]
            batch = SimBatch(src.source_id, events, duplicates=len(events))
        else:
            batch = self._new_batch(src, now_us)
        batch.operator_id = self.operator.operator_id
        self.stats.count_batch(batch)
        return batch

    # -- new events --

    def _new_batch(self, src: _Source, now_us: int) -> SimBatch:
        rng = self._rng
        size = self._batch_size if rng.random() < 0.9 else rng.randint(1, self._batch_size)
        span = rng.randrange(SECOND_US, 5 * SECOND_US)  # the batch covers the last few seconds
        start = now_us - span
        if rng.random() < self._late:  # a backlog sent after an outage: normal and valid
            start -= rng.randrange(DAY_US, 3 * DAY_US)
        batch = SimBatch(src.source_id, [])
        for i in range(size):
            t = start + span * i // size
            if rng.random() < self._bad:
                ev, reason = self._bad_event(src, t, now_us)
                batch.expected[(src.source_id, ev["seq"])] = rejected(reason)
            else:
                ev = self._good_event(src, t)
                batch.expected[(src.source_id, ev["seq"])] = ACCEPTED
                self.stats.count_accepted(ev, now_us)
            batch.events.append(ev)
        if src.history and rng.random() < self._dup:  # a few unconfirmed events re-sent along
            resent: set[int] = set()
            for _ in range(rng.randint(1, 5)):
                again = dict(rng.choice(rng.choice(src.history)))
                if again["seq"] in resent:  # each once: a record holds an event at most once
                    continue
                resent.add(again["seq"])
                batch.events.insert(rng.randrange(len(batch.events) + 1), again)
                batch.duplicates += 1
        src.history.append([dict(e) for e in batch.events])
        return batch

    def _good_event(self, src: _Source, t: int) -> dict[str, Any]:
        rng, p = self._rng, self.profile
        src.slot += 1
        if src.pending and src.pending[0][0] < src.slot:
            return self._settle(src, heapq.heappop(src.pending)[2], t)
        for _ in range(64):
            player = self._players.pick_present(t)
            if player.session_end_us == 0:
                self._start_session(player, t)
            elif t >= player.session_end_us:  # the session is over: maybe cash out, then a break
                if self._end_session(player, t) and rng.random() < 0.5:
                    return self._withdraw(src, player, player.balance // UAH * UAH, t)
                continue
            roll = rng.random()
            if roll < p.deposit_share and player.deposits_left > 0:
                return self._deposit(src, player, 0, t)
            if roll < p.deposit_share + p.withdrawal_share and player.balance >= 100 * UAH:
                share = rng.randint(30, 100)
                return self._withdraw(src, player, player.balance * share // 100 // UAH * UAH, t)
            stake = self._stake()
            if player.balance < stake:  # tops up first, if the session's budget allows
                if player.deposits_left > 0:
                    return self._deposit(src, player, stake - player.balance, t)
                self._end_session(player, t)  # the budget is spent: the session ends
                continue
            player.balance -= stake
            return self._bet(src, player, stake, t)
        player = self._players.pick()
        self._start_session(player, t)
        return self._deposit(src, player, 0, t)

    # An honest player's session: a budget of one top-up, a second in one session of four; it
    # ends when the budget is spent or its time is up (lognormal, median 30 min), then a break of
    # at least an hour (mean 9 h). No chase: a broke player with no budget left stops.
    def _start_session(self, player: Player, t: int) -> None:
        rng = self._rng
        minutes = min(30 * math.exp(0.8 * rng.gauss(0.0, 1.0)), 240)
        player.session_end_us = t + int(minutes * 60 * SECOND_US)
        player.deposits_left = 1 + (rng.random() < 0.25)

    def _end_session(self, player: Player, t: int) -> bool:
        """End ``player``'s session at ``t``; True when there is a balance worth cashing out."""
        player.session_end_us = 0
        player.deposits_left = 0
        self._players.rest(player, t + int((1 + self._rng.expovariate(1 / 8)) * 3600 * SECOND_US))
        return player.balance >= 100 * UAH

    def _withdraw(self, src: _Source, player: Player, amount: int, t: int) -> dict[str, Any]:
        ev = self._withdraw_exactly(src, player, amount, t)
        if self._cancel and self._rng.random() < self._cancel:
            # Cancelled (by the player, or a payment that failed) a little later: _settle puts
            # the amount back on the balance, as it does a refund's.
            self._tiebreak += 1
            due = src.slot + self._rng.randint(5, 50)
            cancel = dict(ev, kind=str(EventKind.WITHDRAWAL_CANCELLED))
            heapq.heappush(src.pending, (due, self._tiebreak, cancel))
        return ev

    def _deposit(self, src: _Source, player: Player, needed: int, t: int) -> dict[str, Any]:
        round_up = -(-needed // (100 * UAH)) * 100 * UAH
        amount = max(self._rng.choice(self.profile.deposit_amounts), round_up)
        player.balance += amount
        player.deposits_left = max(player.deposits_left - 1, 0)
        return self._event(src, EventKind.DEPOSIT, player, amount, t)

    def _bet(self, src: _Source, player: Player, stake: int, t: int) -> dict[str, Any]:
        rng = self._rng
        game = rng.choices(self.profile.games, self._game_weights)[0]
        bet = self._event(src, EventKind.BET, player, stake, t, game)
        src.placed.append(bet)
        if rng.random() < self.profile.refund_share:
            partial = rng.random() < 0.1  # part of the stake void (e.g. one leg of an accumulator)
            amount = max(1, stake * rng.randint(50, 95) // 100) if partial else stake
            self._schedule(src, game, dict(bet, kind=str(EventKind.REFUND), amount=amount))
            return bet
        odds = rng.choice(game.odds)
        rtp = self._rigged.get(bet["equipment_id"], game.rtp) if self._rigged else game.rtp
        if rng.random() < rtp / odds:
            multiple = odds * ((1 - game.spread) + game.spread * rng.expovariate(1.0))
            payout = max(1, round(stake * multiple))
            self._schedule(src, game, dict(bet, kind=str(EventKind.WIN), amount=payout))
        return bet

    def _schedule(self, src: _Source, game: Game, outcome: dict[str, Any]) -> None:
        """Send the bet's WIN or REFUND after a game-dependent number of the source's events."""
        self._tiebreak += 1
        due = src.slot + self._rng.randint(*game.settle_after)
        heapq.heappush(src.pending, (due, self._tiebreak, outcome))

    def _settle(self, src: _Source, ev: dict[str, Any], t: int) -> dict[str, Any]:
        seq = src.seqs.next()
        at = max(ev["occurred_at_us"], t)  # never before its bet
        ev.update(seq=seq, operator_ref=f"{src.source_id}-tx{seq}", occurred_at_us=at)
        player = self._players.by_ref[ev["player_ref"]]
        if ev["kind"] == EventKind.WIN:
            levy = self._rates.military
            mistake = self._rng.random() < self._levy_mistake  # a system that missed a rate change
            ev["tax_withheld_pit"] = apply_rate(ev["amount"], self._rates.pit.at(at))
            ev["tax_withheld_military"] = apply_rate(
                ev["amount"], _previous_rate(levy, at) if mistake else levy.at(at))
            player.balance += ev["amount"] - ev["tax_withheld_pit"] - ev["tax_withheld_military"]
        else:
            player.balance += ev["amount"]
        return ev

    def _event(self, src: _Source, kind: EventKind, player: Player, amount: int, t: int,
               game: Game | None = None, seq: int | None = None) -> dict[str, Any]:
        rng = self._rng
        seq = src.seqs.next() if seq is None else seq
        channel = player.channel
        at_venue = channel is Channel.ESTABLISHMENT
        bet_ref = round_ref = equipment = None
        if game is not None:
            src.bets += 1
            bet_ref = f"{src.source_id}-b{src.bets}"
            round_ref = f"{ROUND_PREFIX.get(game.name, 'round')}-{rng.randrange(10**9)}"
            if at_venue:
                equipment = self.venues.equipment(player.venue, game.name,
                                                  rng.randint(1, self.venues.equipment_per_game))
        return {
            "seq": seq, "operator_ref": f"{src.source_id}-tx{seq}", "kind": str(kind),
            "licence_id": self.licence.licence_id, "licence_kind": str(self.kind), "channel": str(channel),
            "establishment_id": player.venue if at_venue else None, "equipment_id": equipment,
            "site_id": player.venue if channel is Channel.SITE else None,
            "app_id": player.venue if channel is Channel.APP else None,
            "game_type": game.name if game else None, "round_ref": round_ref, "bet_ref": bet_ref,
            "player_ref": player.ref, "amount": amount, "currency": "UAH", "occurred_at_us": t,
            "tax_withheld_pit": None, "tax_withheld_military": None,
        }

    def _stake(self) -> int:
        p, rng = self.profile, self._rng
        if rng.random() < p.jumbo_share:  # a high roller
            stake = round(math.exp(rng.uniform(math.log(p.stake_max), math.log(p.jumbo_max))))
        else:
            stake = round(p.stake_median * math.exp(p.stake_sigma * rng.gauss(0.0, 1.0)))
            stake = min(max(stake, p.stake_min), p.stake_max)
        return max(stake // 50 * 50, 50)  # whole 50 kopecks

    # -- supervision patterns (issue 17): each one an alert dsom must raise --

    def rig(self, equipment_id: str, rtp: float | None) -> None:
        """Make a machine pay ``rtp`` instead of its game's (None: honest again)."""
        if rtp is None:
            self._rigged.pop(equipment_id, None)
        else:
            self._rigged[equipment_id] = rtp

    def loss_chasing_batch(self, now_us: int, deposits: int = 5, amount: int = 2_000 * UAH,
                           gap_us: int = 4 * 60 * SECOND_US) -> SimBatch:
        """One player deposits, stakes it all, loses, and deposits more minutes later: ``deposits`` times.

        Each deposit is half the first one larger than the last (the UKGC's marker: deposits
        increasing in size and frequency after losses).
        """
        src = self._sources[0]
        player = self._players.pick()
        game = self.profile.games[0]
        batch = SimBatch(src.source_id, [], operator_id=self.operator.operator_id)
        start = now_us - deposits * gap_us
        first = amount
        for i in range(deposits):
            t = start + i * gap_us
            amount = first * (i + 2) // 2 // UAH * UAH
            player.balance += amount
            batch.events.append(self._event(src, EventKind.DEPOSIT, player, amount, t))
            player.balance -= amount
            batch.events.append(self._event(src, EventKind.BET, player, amount, t + gap_us // 2, game))
        return self._accepted(batch, now_us)

    def withdrawal_reversal_batches(self, now_us: int, reversals: int = 3, amount: int = 1_000 * UAH,
                                    gap_us: int = 4 * 60 * SECOND_US) -> list[SimBatch]:
        """One player cashes out, cancels the withdrawal minutes later, stakes the money and loses it.

        ``reversals`` times in a row, after one deposit of it all: the money the player had taken
        out goes back in and is lost (the responsible-gambling marker of cancelled withdrawals at
        its full weight). The wallet operations come from the first source (a cashier system)
        and the bets from the last (a game server), as an operator with several sources sends
        them: one batch per source, the same one if there is only one.
        """
        cashier, games = self._sources[0], self._sources[-1]
        player = self._players.pick()
        game = self.profile.games[0]
        wallet = SimBatch(cashier.source_id, [], operator_id=self.operator.operator_id)
        play = (wallet if games is cashier
                else SimBatch(games.source_id, [], operator_id=self.operator.operator_id))
        t = now_us - (reversals + 1) * gap_us
        player.balance += reversals * amount
        wallet.events.append(self._event(cashier, EventKind.DEPOSIT, player, reversals * amount, t))
        for _ in range(reversals):
            t += gap_us
            wallet.events.append(self._withdraw_exactly(cashier, player, amount, t))
            player.balance += amount
            wallet.events.append(self._event(cashier, EventKind.WITHDRAWAL_CANCELLED, player, amount,
                                             t + gap_us // 4))
            player.balance -= amount
            play.events.append(self._event(games, EventKind.BET, player, amount, t + gap_us // 2, game))
        return [self._accepted(b, now_us) for b in ([wallet] if play is wallet else [wallet, play])]

    def _withdraw_exactly(self, src: _Source, player: Player, amount: int, t: int) -> dict[str, Any]:
        """A withdrawal that is never cancelled by chance (the patterns decide their own)."""
        player.balance -= amount
        return self._event(src, EventKind.WITHDRAWAL, player, amount, t)

    def structured_deposits_batch(self, now_us: int, threshold: int, deposits: int = 3) -> SimBatch:
        """One player's deposits each just under ``threshold`` (90-99 %), together over it."""
        src, rng = self._sources[0], self._rng
        player = self._players.pick()
        batch = SimBatch(src.source_id, [], operator_id=self.operator.operator_id)
        for i in range(deposits):
            amount = threshold * rng.randint(90, 99) // 100 // UAH * UAH
            player.balance += amount
            batch.events.append(self._event(src, EventKind.DEPOSIT, player, amount,
                                            now_us - (deposits - i) * 60 * SECOND_US))
        return self._accepted(batch, now_us)

    def _accepted(self, batch: SimBatch, now_us: int) -> SimBatch:
        for ev in batch.events:
            batch.expected[(batch.source_id, ev["seq"])] = ACCEPTED
            self.stats.count_accepted(ev, now_us)
        self.stats.count_batch(batch)
        return batch

    # -- bad input --

    def _bad_event(self, src: _Source, t: int, now_us: int) -> tuple[dict[str, Any], Reason]:
        """A new event with exactly one defect; no WIN or REFUND ever follows it."""
        rng = self._rng
        reason = rng.choice(defects.BAD_EVENT_REASONS)
        if reason is Reason.REFUND_EXCEEDS_STAKE:
            # A refund above the stake of a bet placed within the last day (well inside the bet
            # horizon, so dsom still knows it); with none, a payout of a bet never placed.
            recent = [b for b in src.placed if now_us - b["occurred_at_us"] < DAY_US]
            if recent:
                bet, seq = rng.choice(recent), src.seqs.next()
                ev = dict(bet, kind=str(EventKind.REFUND), seq=seq, operator_ref=f"{src.source_id}-tx{seq}",
                          occurred_at_us=max(bet["occurred_at_us"], t))
                defects.spoil(ev, reason, rng, now_us, src.source_id)
                return ev, reason
            reason = Reason.UNKNOWN_BET
        kind = defects.BAD_EVENT_KIND.get(reason) or rng.choice((EventKind.BET, EventKind.DEPOSIT))
        player = self._players.pick()
        if kind is EventKind.DEPOSIT:
            ev = self._event(src, kind, player, rng.choice(self.profile.deposit_amounts), t)
        else:
            ev = self._event(src, kind, player, self._stake(), t, rng.choice(self.profile.games))
        if kind is EventKind.WIN:
            ev["amount"] *= 2
            ev["tax_withheld_pit"] = apply_rate(ev["amount"], self._rates.pit.at(t))
            ev["tax_withheld_military"] = apply_rate(ev["amount"], self._rates.military.at(t))
        defects.spoil(ev, reason, rng, now_us, src.source_id)
        return ev, reason

    def _bad_record_batch(self, src: _Source, now_us: int) -> SimBatch:
        rng, codec = self._rng, default_codec()
        reason = rng.choice(defects.BAD_RECORD_REASONS)
        batch = SimBatch(src.source_id, [], expected_record_reason=str(reason))
        if reason is Reason.UNKNOWN_SCHEMA:
            header = load_type(EVENT_BATCH).header
            batch.raw = defects.unknown_schema_bytes(rng, self.operator.operator_id, src.source_id, header)
            return batch
        player = self._players.pick()
        if reason is Reason.MALFORMED:  # consumes no seq: the pipeline cannot read any
            ev = self._event(src, EventKind.DEPOSIT, player, 1_000 * UAH, now_us, seq=src.seqs.last + 1)
            full = codec.encode(EVENT_BATCH, {"operator_id": self.operator.operator_id,
                                              "source_id": src.source_id, "sent_at_us": now_us,
                                              "events": [ev]})
            batch.raw = defects.truncated(full, HEADER_LEN, rng)
            return batch
        # A batch claiming another operator: every event rejected, its seq consumed for good.
        batch.expected_record_reason = None
        batch.events = [self._event(src, EventKind.DEPOSIT, player, 500 * UAH, now_us - SECOND_US)
                        for _ in range(rng.randint(1, 5))]
        batch.raw = codec.encode(EVENT_BATCH, {"operator_id": defects.OTHER_OPERATOR,
                                               "source_id": src.source_id, "sent_at_us": now_us,
                                               "events": batch.events})
        batch.expected = {(src.source_id, e["seq"]): rejected(reason) for e in batch.events}
        return batch


def now_us() -> int:
    return time.time_ns() // 1000


class Fleet:
    """Every operator of a registry, simulated with its licence kind's profile, taking turns."""

    def __init__(self, registry: Registry, seed: int, profiles: Mapping[LicenceKind, Profile] | None = None,
                 **options: Any) -> None:
        profiles = profiles or PROFILES
        self.simulators = [
            OperatorSimulator(op, profiles[LicenceKind(op.licences[0].kind)], f"{seed}/{op.operator_id}",
                              **options)
            for op in registry.operators
        ]
        self._turn = 0
        self.silenced: set[str] = set()  # operators that send nothing (a silent operator)

    def next_batch(self, now_us: int) -> tuple[str, SimBatch]:
        speaking = [s for s in self.simulators if s.operator.operator_id not in self.silenced]
        if not speaking:
            raise ValueError("every operator of the fleet is silenced")
        sim = speaking[self._turn % len(speaking)]
        self._turn += 1
        return sim.operator.operator_id, sim.next_batch(now_us)

    def stats(self) -> dict[str, SimStats]:
        return {sim.operator.operator_id: sim.stats for sim in self.simulators}

    def total(self) -> SimStats:
        total = SimStats()
        for sim in self.simulators:
            total.add(sim.stats)
        return total


def simulate_fleet(registry: Registry, seed: int, batches: int | None = None,
                   clock: Callable[[], int] = now_us, profiles: Mapping[LicenceKind, Profile] | None = None,
                   **options: Any) -> Iterator[tuple[str, SimBatch]]:
    """``(operator_id, batch)`` from every operator in turn: ``batches`` in all, or without end.

    ``options`` go to every :class:`OperatorSimulator`.
    """
    fleet = Fleet(registry, seed, profiles, **options)
    n = 0
    while batches is None or n < batches:
        yield fleet.next_batch(clock())
        n += 1
