"""The alerts agent's pure state: what one archive or receipts partition has shown, and its findings.

:class:`ArchiveWatch` follows the accepted events of one archive partition: AML (single
operations and day totals per player), responsible-gambling markers per player, slot RTP per
machine and game, late data, tax withheld against due, unregistered assets, and silent sources.
:class:`ReceiptWatch` follows the receipts of one receipts partition: rejection rate, sequence
gaps, unlicensed activity. Both turn observations into :class:`~pipeline.core.alerts.Finding`s
and pass them to their :class:`~pipeline.core.alerts.AlertBook`; ``sweep(now)`` evaluates what
time alone changes (silence, a day ending, a quiet period). No I/O: the agent decodes records,
calls these and writes the alert records and changelog entries they return.

State is JSON per key; changelog entries are keyed ``<prefix><category>|<key>`` with categories
``a`` (open alerts), ``p`` (players), ``m`` (machines), ``s`` (sources), ``q`` (quiet marks).

An archive partition holds all of its operators' records, whatever source and ingest partition
they came from (the validator writes every chain of an operator to the operator's one archive
partition: ``pipeline.core.archive_log.archive_partition``), and players and machines are per
operator: so one watch sees each player's and each machine's every operation, and its figures
are whole (docs/alerts.md, "Whole per player").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.core.alert_rules import AlertRules, Params
from pipeline.core.alerts import MINUTE_US, AlertBook, AlertRecord, Finding, Subject
from pipeline.core.dedup import SeqSet
from pipeline.core.rtp import MachineWindow, has_recovered, is_deviant
from pipeline.core.tax import TaxRates, payout_tax, tax_period

HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
UNLICENSED_REASONS = frozenset(
    {"unknown_licence", "licence_inactive", "licence_kind_mismatch", "channel_not_allowed"}
)
Entry = tuple[bytes, bytes | None]
# Whether operator ``op``'s licence ``licence_id`` is active at ``t`` (None: unknown to the registry).
LicenceCheck = Callable[[str, str, int], bool | None]
# Which of an event's assets (kind, id) the registry does not hold for its operator.
AssetCheck = Callable[[str, dict[str, Any]], list[tuple[str, str]]]


# What the watches read of an archived event; the alerts agent's reader keeps only these.
WATCHED_FIELDS = ("kind", "licence_id", "licence_kind", "establishment_id", "equipment_id", "site_id",
                  "app_id", "game_type", "player_ref", "amount", "occurred_at_us", "tax_withheld_pit",
                  "tax_withheld_military")
Watched = tuple[str, str, int, list[dict[str, Any]]]


def watched_events(batch: dict[str, Any]) -> Watched:
    """A decoded ArchiveBatch as :meth:`ArchiveWatch.record` takes it: operator, source, time, events.

    The reference of the compiled ``dsom_native.watched_events``, which reads from the record's
    bytes only :data:`WATCHED_FIELDS` of each event: the watches read nothing else, so each
    event here is the decoded one as it is (copying out those fields would cost the Python
    engine more than it reads), and the tests compare the two on those fields.
    """
    return (batch["operator_id"], batch["source_id"], batch["received_at_us"],
            [e["event"] for e in batch["events"]])


@dataclass
class _Partition:
    """What both watches share: a key prefix, the alert book, quiet marks and dirty keys."""

    prefix: bytes
    rules: AlertRules
    book: AlertBook = field(default_factory=AlertBook)
    quiet: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule|subject -> last hit, count
    dirty: set[tuple[str, str]] = field(default_factory=set)
    out: list[AlertRecord] = field(default_factory=list)

    def _observe(self, f: Finding, now: int) -> None:
        rec = self.book.observe(f, now)
        if rec is not None:
            self.out.append(rec)

    def _hit(self, f: Finding, now: int, at: int) -> None:
        """A rule that stays open until ``resolve_minutes`` pass without another hit."""
        key = f"{f.params.rule}|{f.subject.key}"
        mark = self.quiet.setdefault(
            key,
            {
                "count": 0,
                "subject": [f.subject.kind, f.subject.key, f.subject.operator_id, f.subject.licence_kind],
            },
        )
        mark["count"] += 1
        mark["last_us"] = now
        f.measures["occurrences"] = mark["count"]
        self.dirty.add(("q", key))
        self._observe(f, now)

    def _sweep_quiet(self, now: int) -> None:
        for key, mark in list(self.quiet.items()):
            rule = key.split("|", 1)[0]
            params = self.rules.at(rule, now, mark["subject"][3])
            if now - mark["last_us"] >= params.us("resolve_minutes", MINUTE_US):
                del self.quiet[key]
                self.dirty.add(("q", key))
                self._observe(
                    Finding(
                        params,
                        Subject(*mark["subject"]),
                        False,
                        f"no {rule.replace('_', ' ')} for {params['resolve_minutes']:.0f} min",
                    ),
                    now,
                )

    def drain(self) -> tuple[list[AlertRecord], list[Entry]]:
        """The alert records decided and the changelog entries changed since the last drain."""
        out, self.out = self.out, []
        entries = [(self.prefix + b"a|" + k.encode(), v) for k, v in self.book.entries()]
        for cat, key in sorted(self.dirty):
            value = self._value(cat, key)
            entries.append(
                (self.prefix + f"{cat}|{key}".encode(), None if value is None else orjson.dumps(value))
            )
        self.dirty.clear()
        return out, entries

    def _value(self, cat: str, key: str) -> Any:
        if cat == "q":
            return self.quiet.get(key)
        raise KeyError(cat)

    def apply(self, key: bytes, value: bytes | None) -> None:
        cat, _, name = key[len(self.prefix) :].decode().partition("|")
        if cat == "a":
            self.book.apply(name, value)
        else:
            self._restore(cat, name, None if value is None else orjson.loads(value))

    def _restore(self, cat: str, key: str, doc: Any) -> None:
        if cat == "q":
            _put(self.quiet, key, doc)


def _put(d: dict[str, Any], key: str, doc: Any) -> None:
    if doc is None:
        d.pop(key, None)
    else:
        d[key] = doc


def _new_day(t: int) -> dict[str, Any]:
    period = tax_period(t, "day")
    return {
        "day": period.label,
        "start": period.start_us,
        "end": period.end_us,
        "total": 0,
        "max": 0,
        "near": 0,
        "near_total": 0,
        "staked": 0,
        "won": 0,
        "refunded": 0,
        "deposits": 0,
        "last_dep": 0,
        "last_dep_amount": 0,
        "streak": 0,
        "streak_max": 0,
        "since_dep": 0,
        "sess_start": t,
        "last": t,
        "sess_max": 0,
        "night": 0,
    }


@dataclass
class ArchiveWatch(_Partition):
    """Findings from the accepted events of one archive partition."""

    rates: TaxRates | None = None
    tolerance: int = 1
    licence_active: LicenceCheck | None = None
    unregistered: AssetCheck | None = None
    players: dict[str, dict[str, Any]] = field(default_factory=dict)
    machines: dict[str, MachineWindow] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(
        self,
        operator_id: str,
        source_id: str,
        received_at_us: int,
        events: Iterable[dict[str, Any]],
        now: int,
    ) -> None:
        """Take one archive record's events (each an ``ArchivedEvent``'s ``event``)."""
        skey = f"{operator_id}|{source_id}"
        src = self.sources.get(skey)
        events = list(events)
        kind = events[0]["licence_kind"] if events else (src or {}).get("kind")
        licence = events[0]["licence_id"] if events else (src or {}).get("licence")
        self.sources[skey] = {
            "last": max(received_at_us, (src or {}).get("last", 0)),
            "kind": kind,
            "licence": licence,
            "op": operator_id,
        }
        self.dirty.add(("s", skey))
        source = Subject("SOURCE", skey, operator_id, kind)
        silent = self.rules.at("source_silent", now, kind)
        self._observe(Finding(silent, source, False, f"{skey} is sending again"), now)
        late_us, late_at = 0, 0
        for ev in events:
            t = ev["occurred_at_us"]
            if received_at_us - t > late_us:
                late_us, late_at = received_at_us - t, t
            self._event(operator_id, ev, now)
        late = self.rules.at("late_data", now, kind)
        if late_us > late.us("hours", HOUR_US):
            self._hit(
                Finding(
                    late,
                    source,
                    True,
                    f"{skey} sent an operation {late_us // HOUR_US} h after it "
                    f"happened (over {late['hours']:.0f} h)",
                    measures={"hours_late": late_us / HOUR_US},
                    event_at_us=late_at,
                ),
                now,
                late_at,
            )

    def _event(self, op: str, ev: dict[str, Any], now: int) -> None:
        kind, t, amount, ev_kind = ev["licence_kind"], ev["occurred_at_us"], ev["amount"], ev["kind"]
        pkey = f"{op}|{ev['player_ref']}"
        p = self.players.get(pkey)
        if p is None or t >= p["end"]:
            p = self._roll_player(pkey, p, t, now, kind)
        self.dirty.add(("p", pkey))
        current_day = t >= p["start"]  # late data of an earlier day is checked singly, not summed
        if ev_kind == "BET":
            if current_day:
                p["staked"] += amount
                p["since_dep"] += amount
                p["night"] += t < p["start"] + 6 * HOUR_US
                self._session(p, t, kind, now)
            self._machine(op, ev, kind, lambda w: w.bet(amount), now)
        elif ev_kind == "WIN":
            if current_day:
                p["won"] += amount
                p["since_dep"] -= amount
            self._machine(op, ev, kind, lambda w: w.win(amount), None)
            self._tax(op, ev, kind, now)
        elif ev_kind == "REFUND":
            if current_day:
                p["refunded"] += amount
                p["since_dep"] -= amount
            self._machine(op, ev, kind, lambda w: w.refund(amount), None)
        if ev_kind in ("DEPOSIT", "WIN", "WITHDRAWAL"):
            self._aml(op, pkey, p, ev, kind, current_day, now)
        if ev_kind == "DEPOSIT" and current_day:
            self._deposit(p, amount, t, kind, now)
        elif ev_kind == "WITHDRAWAL_CANCELLED" and current_day:
            # The money is back on the balance: a reversal (counted for RG), not a new movement
            # of cash (AML counts the withdrawal as it was reported, and nothing more).
            p["cancelled"] = p.get("cancelled", 0) + 1
            p["cancelled_amount"] = p.get("cancelled_amount", 0) + amount
        if current_day:
            self._rg(pkey, op, p, kind, t, now)
        if self.unregistered is not None:
            for asset_kind, asset in self.unregistered(op, ev):
                akey = f"{op}|{asset_kind}|{asset}"
                self._hit(
                    Finding(
                        self.rules.at("unregistered_asset", now, kind),
                        Subject("OPERATOR", akey, op, kind),
                        True,
                        f"{op} operates on unregistered {asset_kind} {asset}",
                        event_at_us=t,
                    ),
                    now,
                    t,
                )

    # -- players: AML and responsible gambling --

    def _roll_player(
        self, pkey: str, p: dict[str, Any] | None, t: int, now: int, kind: str
    ) -> dict[str, Any]:
        fresh = _new_day(t)
        if p is not None:
            fresh["history"] = (p.get("history", []) + [p["staked"] - p["won"] - p["refunded"]])[-7:]
            self._close_day(pkey, p, now, kind)
        self.players[pkey] = fresh
        return fresh

    def _close_day(self, pkey: str, p: dict[str, Any], now: int, kind: str | None) -> None:
        op = pkey.split("|", 1)[0]
        subject = Subject("PLAYER", pkey, op, kind)
        for rule in ("aml_single", "aml_daily_total", "aml_structuring", "rg_score"):
            if self.book.is_open(rule, pkey):
                self._observe(
                    Finding(self.rules.at(rule, now, kind), subject, False, f"day {p['day']} ended"), now
                )

    def _aml(
        self,
        op: str,
        pkey: str,
        p: dict[str, Any],
        ev: dict[str, Any],
        kind: str,
        current_day: bool,
        now: int,
    ) -> None:
        amount, t = ev["amount"], ev["occurred_at_us"]
        subject = Subject("PLAYER", pkey, op, kind)
        single = self.rules.at("aml_single", t, kind)
        threshold = int(single["threshold_kopecks"])
        if amount >= threshold and ev["kind"] != "WITHDRAWAL":
            p["max"] = max(p["max"], amount) if current_day else p["max"]
            self._observe(
                Finding(
                    single,
                    subject,
                    True,
                    f"{ev['kind'].lower()} of {amount / 100:,.2f} UAH by {pkey} (threshold "
                    f"{threshold / 100:,.0f} UAH)",
                    amounts={"amount": amount, "threshold": threshold},
                    event_at_us=t,
                ),
                now,
            )
        if not current_day:
            return
        if ev["kind"] == "WIN":  # winnings are staked again: summing them counts the same money twice
            return
        daily = self.rules.at("aml_daily_total", t, kind)
        day_threshold = int(daily["threshold_kopecks"])
        p["total"] += amount
        self._structuring(pkey, p, amount, t, subject, now)
        if p["total"] >= day_threshold:
            self._observe(
                Finding(
                    daily,
                    subject,
                    True,
                    f"{pkey} moved {p['total'] / 100:,.2f} UAH in deposits and withdrawals on {p['day']} "
                    f"({p['near']} operations just under the threshold)",
                    amounts={"day_total": p["total"], "threshold": day_threshold},
                    measures={"near_threshold_operations": p["near"]},
                    event_at_us=t,
                ),
                now,
            )

    def _structuring(
        self, pkey: str, p: dict[str, Any], amount: int, t: int, subject: Subject, now: int
    ) -> None:
        """Suspicion, not a threshold report: several operations just under the threshold in a day."""
        params = self.rules.at("aml_structuring", t, subject.licence_kind)
        threshold = int(params["threshold_kopecks"])
        if not threshold * params["structuring_share"] <= amount < threshold:
            return
        p["near"] += 1
        p["near_total"] = p.get("near_total", 0) + amount
        if p["near"] >= params["min_operations"] and p["near_total"] >= threshold:
            self._observe(
                Finding(
                    params,
                    subject,
                    True,
                    f"{pkey}: {p['near']} deposits or withdrawals on {p['day']} each just under "
                    f"{threshold / 100:,.0f} UAH, {p['near_total'] / 100:,.2f} UAH together",
                    amounts={"near_threshold_total": p["near_total"], "threshold": threshold},
                    measures={"near_threshold_operations": p["near"]},
                    event_at_us=t,
                ),
                now,
            )

    def _deposit(self, p: dict[str, Any], amount: int, t: int, kind: str, now: int) -> None:
        """Loss chasing, as the UKGC describes it: deposits growing in size and coming faster after losses.

        A deposit is one more step of a chase when it comes within ``chase_gap_minutes`` of the
        previous one, after at least ``chase_loss_share`` of that deposit was lost (staked minus
        won and refunded since), and is no smaller than it. ``chase_streak`` steps in a row make
        the marker. A top-up after a win, a smaller one, or one after a break is not a step.
        """
        rg = self.rules.at("rg_score", t, kind)
        last_amount = p.get("last_dep_amount", 0)
        chasing = (
            p["deposits"] > 0
            and t - p["last_dep"] <= rg.us("chase_gap_minutes", MINUTE_US)
            and p["since_dep"] >= rg["chase_loss_share"] * last_amount
            and amount >= last_amount
        )
        p["streak"] = p["streak"] + 1 if chasing else 0
        p["streak_max"] = max(p["streak_max"], p["streak"])
        p["deposits"] += 1
        p["last_dep"] = t
        p["last_dep_amount"] = amount
        p["since_dep"] = 0

    def _session(self, p: dict[str, Any], t: int, kind: str, now: int) -> None:
        rg = self.rules.at("rg_score", t, kind)
        if t - p["last"] > rg.us("session_break_minutes", MINUTE_US):
            p["sess_start"] = t
        p["last"] = max(p["last"], t)
        p["sess_max"] = max(p["sess_max"], p["last"] - p["sess_start"])

    def _rg(self, pkey: str, op: str, p: dict[str, Any], kind: str, t: int, now: int) -> None:
        rg = self.rules.at("rg_score", t, kind)
        markers = rg_markers(p, rg)
        score = sum(markers.values())
        if score >= rg["alert_score"] or self.book.is_open("rg_score", pkey):
            self._observe(
                Finding(
                    rg,
                    Subject("PLAYER", pkey, op, kind),
                    score >= rg["alert_score"],
                    f"{pkey}: responsible-gambling score {score} on {p['day']} "
                    f"({', '.join(sorted(m for m, v in markers.items() if v)) or 'no marker'})",
                    amounts={"day_loss": p["staked"] - p["won"] - p["refunded"]},
                    measures={
                        "score": score,
                        **{f"marker_{m}": v for m, v in markers.items()},
                        "deposits": p["deposits"],
                        "cancelled_withdrawals": p.get("cancelled", 0),
                        "session_hours": p["sess_max"] / HOUR_US,
                    },
                    event_at_us=t,
                ),
                now,
            )

    # -- machines: RTP --

    def _machine(
        self, op: str, ev: dict[str, Any], kind: str, update: Callable[[MachineWindow], None], now: int | None
    ) -> None:
        equipment, game = ev["equipment_id"], ev["game_type"]
        if equipment is None or game is None:
            return
        rtp = self.rules.certified_rtp.of(op, equipment, kind, game)
        if rtp is None:
            return
        mkey = f"{op}|{equipment}|{game}"
        window = self.machines.get(mkey)
        if window is None:
            window = self.machines[mkey] = MachineWindow()
        update(window)
        self.dirty.add(("m", mkey))
        if now is None:
            return
        params = self.rules.at("rtp_deviation", ev["occurred_at_us"], kind)
        if not window.roll(int(params["bucket_spins"]), int(params["window_spins"]), params["epoch_spins"]):
            return
        m2 = self.rules.certified_rtp.second_moment_by_game.get(game)
        v = window.verdict(rtp, m2, params["alpha"], params["mixture_spins"])
        subject = Subject("MACHINE", mkey, op, kind)
        is_open = self.book.is_open("rtp_deviation", mkey)
        if is_open and has_recovered(v, params["z_resolve"]):
            active = False
            window.reset()  # the evidence of the deviation is spent: test afresh (alpha spending)
        elif is_deviant(v, params["min_spins"], params["min_deviation_points"]):
            active = True
        elif not is_open:
            return
        else:
            active = True  # between the thresholds: stays open, figures updated
        self._observe(
            Finding(
                params,
                subject,
                active,
                f"{mkey}: RTP {v.observed_rtp:.2%} over {v.spins} spins against {rtp:.2%} "
                f"certified (z = {v.z:.2f}, evidence e^{min(v.log_e, 999):.1f} against "
                f"e^{v.log_threshold:.1f} needed over {v.test_spins} spins)",
                amounts={"stakes": v.stakes, "paid": v.paid},
                measures={
                    "spins": v.spins,
                    "observed_rtp": v.observed_rtp,
                    "certified_rtp": rtp,
                    "z": max(v.z, -1e9),  # JSON (the changelog) has no infinity
                    "deviation_points": v.deviation_points,
                    "log_evidence": min(v.log_e, 1e9),
                    "log_threshold": min(v.log_threshold, 1e9),
                    "test_spins": v.test_spins,
                },
                event_at_us=ev["occurred_at_us"],
            ),
            now,
        )

    # -- tax --

    def _tax(self, op: str, ev: dict[str, Any], kind: str, now: int) -> None:
        if self.rates is None:
            return
        t = ev["occurred_at_us"]
        tax = payout_tax(
            "",
            ev["amount"],
            t,
            ev["tax_withheld_pit"],
            ev["tax_withheld_military"],
            self.rates,
            self.tolerance,
        )
        if tax.discrepancy:
            short = tax.pit_due + tax.military_due - tax.pit_withheld - tax.military_withheld
            self._hit(
                Finding(
                    self.rules.at("tax_discrepancy", now, kind),
                    Subject("OPERATOR", op, op, kind),
                    True,
                    f"{op} withheld tax off the due amount on a payout of {ev['amount'] / 100:,.2f} UAH",
                    amounts={"last_payout": ev["amount"], "last_shortfall": short},
                    event_at_us=t,
                ),
                now,
                t,
            )

    # -- time alone --

    def sweep(self, now: int) -> None:
        """Evaluate what time alone changes: silent sources, days ended, quiet periods, old state."""
        for skey, src in self.sources.items():
            kind = src["kind"]
            silent = self.rules.at("source_silent", now, kind)
            quiet_us = now - src["last"]
            active = self.licence_active(src["op"], src["licence"], now) if self.licence_active else True
            is_silent = quiet_us >= silent.us("minutes", MINUTE_US) and active is not False
            if is_silent or self.book.is_open("source_silent", skey):
                self._observe(
                    Finding(
                        silent,
                        Subject("SOURCE", skey, src["op"], kind),
                        is_silent,
                        f"{skey} silent for {quiet_us // MINUTE_US} min while its licence is active"
                        if is_silent
                        else f"{skey} licence no longer active",
                        measures={"silent_minutes": quiet_us // MINUTE_US},
                    ),
                    now,
                )
        for pkey, p in list(self.players.items()):
            if now >= p["end"] + HOUR_US:  # an hour's grace for the day's last operations
                self._close_day(pkey, p, now, None)
            if now - p["last"] > 8 * DAY_US and now - p["end"] > 8 * DAY_US:  # beyond the late window
                del self.players[pkey]
                self.dirty.add(("p", pkey))
        self._sweep_quiet(now)

    # -- changelog --

    def _value(self, cat: str, key: str) -> Any:
        if cat == "p":
            return self.players.get(key)
        if cat == "m":
            w = self.machines.get(key)
            return None if w is None else w.to_json()
        if cat == "s":
            return self.sources.get(key)
        return super()._value(cat, key)

    def _restore(self, cat: str, key: str, doc: Any) -> None:
        if cat == "p":
            _put(self.players, key, doc)
        elif cat == "m":
            if doc is None:
                self.machines.pop(key, None)
            else:
                self.machines[key] = MachineWindow.from_json(doc)
        elif cat == "s":
            _put(self.sources, key, doc)
        else:
            super()._restore(cat, key, doc)


def rg_markers(p: dict[str, Any], rg: Params) -> dict[str, int]:
    """The responsible-gambling markers of one player's day, each with its weight (0 when absent).

    Loss chasing (``chase_streak`` escalating re-deposits after losses, :meth:`ArchiveWatch._deposit`)
    weighs 3, an alert on its own; the others weigh 1, so three of them together alert.
    Cancelled withdrawals (``cancelled_withdrawals`` in a day) weigh 1, and 3 when the day's
    loss is at least what was cancelled: the player took back money already cashed out and
    lost it, the reversal the marker is about (days before it existed have no count: 0).
    """
    loss = p["staked"] - p["won"] - p["refunded"]
    cancelled = p.get("cancelled", 0)
    reversing = cancelled >= rg["cancelled_withdrawals"]
    history = [h for h in p.get("history", []) if h > 0]
    usual = sum(history) / len(history) if history else 0
    return {
        "loss_chasing": 3 if p["streak_max"] >= rg["chase_streak"] else 0,
        "daily_loss": 1 if loss >= rg["daily_loss_kopecks"] else 0,
        "spend_growth": 1
        if history and loss >= rg["spend_growth_min_kopecks"] and loss >= rg["spend_growth_factor"] * usual
        else 0,
        "deposit_velocity": 1 if p["deposits"] >= rg["deposits_per_day"] else 0,
        "session_length": 1 if p["sess_max"] >= rg.us("session_hours", HOUR_US) else 0,
        "night_play": 1 if p["night"] >= rg["night_bets"] else 0,
        "cancelled_withdrawals": 3 if reversing and loss >= p.get("cancelled_amount", 0)
        else 1 if reversing else 0,
    }


@dataclass
class ReceiptWatch(_Partition):
    """Findings from the receipts of one receipts partition: rejection rate, gaps, unlicensed activity."""

    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(
        self, operator_id: str, source_id: str | None, receipts: Iterable[dict[str, Any]], now: int
    ) -> None:
        skey = f"{operator_id}|{source_id or '-'}"
        src = self.sources.setdefault(
            skey, {"op": operator_id, "s": [], "e": [], "gap_since": None, "min": {}}
        )
        self.dirty.add(("s", skey))
        seqs = SeqSet(src["s"], src["e"])
        minute = str(now // MINUTE_US)
        counts = src["min"].setdefault(minute, [0, 0])
        subject = Subject("SOURCE", skey, operator_id)
        for r in receipts:
            counts[r["status"] == "REJECTED"] += 1
            if r["seq"] is not None and source_id is not None:
                seqs.take(r["seq"])
            if r["reason"] in UNLICENSED_REASONS:
                self._hit(
                    Finding(
                        self.rules.at("unlicensed_activity", now),
                        subject,
                        True,
                        f"{skey} sent operations it is not licensed for ({r['reason']})",
                        event_at_us=r["occurred_at_us"],
                    ),
                    now,
                    now,
                )
        src["s"], src["e"] = seqs.starts, seqs.ends
        self._gap(skey, src, now)
        self._rate(skey, src, now)

    def _gap(self, skey: str, src: dict[str, Any], now: int) -> None:
        gaps = SeqSet(src["s"], src["e"]).open_gaps
        if gaps == 0:
            src["gap_since"] = None
        elif src["gap_since"] is None:
            src["gap_since"] = now
        params = self.rules.at("sequence_gap", now)
        open_us = 0 if src["gap_since"] is None else now - src["gap_since"]
        active = gaps > 0 and open_us >= params.us("minutes", MINUTE_US)
        if active or self.book.is_open("sequence_gap", skey):
            self._observe(
                Finding(
                    params,
                    Subject("SOURCE", skey, src["op"]),
                    active,
                    f"{skey}: {gaps} sequence gap(s) open for {open_us // MINUTE_US} min "
                    f"(seqs {src['e'][0] + 1 if src['e'] else 1}..)"
                    if active
                    else f"{skey}: every sequence gap filled",
                    measures={"open_gaps": gaps, "open_minutes": open_us // MINUTE_US},
                ),
                now,
            )

    def _rate(self, skey: str, src: dict[str, Any], now: int) -> None:
        params = self.rules.at("rejection_rate", now)
        first = now // MINUTE_US - int(params["window_minutes"]) + 1
        for m in [m for m in src["min"] if int(m) < first]:
            del src["min"][m]
            self.dirty.add(("s", skey))
        accepted = sum(c[0] for c in src["min"].values())
        rejected = sum(c[1] for c in src["min"].values())
        total = accepted + rejected
        rate = 100 * rejected / total if total else 0.0
        active = total >= params["min_events"] and rate > params["percent"]
        if active or self.book.is_open("rejection_rate", skey):
            self._observe(
                Finding(
                    params,
                    Subject("SOURCE", skey, src["op"]),
                    active,
                    f"{skey}: {rate:.1f} % of {total} operations rejected over "
                    f"{params['window_minutes']:.0f} min",
                    measures={"rejected_percent": round(rate, 2), "operations": total},
                ),
                now,
            )

    def sweep(self, now: int) -> None:
        for skey, src in self.sources.items():
            self._gap(skey, src, now)
            self._rate(skey, src, now)
        self._sweep_quiet(now)

    def _value(self, cat: str, key: str) -> Any:
        return self.sources.get(key) if cat == "s" else super()._value(cat, key)

    def _restore(self, cat: str, key: str, doc: Any) -> None:
        if cat == "s":
            _put(self.sources, key, doc)
        else:
            super()._restore(cat, key, doc)
