"""Pure parts of ``make chaos``: the fault schedule, the expected outcome and its check, recovery times.

No I/O and no clock: the harness (``pipeline/tools/chaos.py``) runs the schedule against real
processes, records when events were sent and done, and hands those here.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from pipeline.operator.simulator import SimBatch
from pipeline.tools.bench_figures import percentile

EventKey = tuple[str, str, int]  # (operator, source, seq)
Outcome = tuple[str, str | None]

# SIGKILL of a random worker process at a random moment.
KILL_WORKER = "kill-worker"
# SIGKILL of the sink's worker between its ClickHouse insert and its offset commit (a crash point).
KILL_SINK_AFTER_INSERT = "kill-sink-after-insert"
# SIGKILL of a transactional agent's worker with its outputs sent but its transaction not committed.
KILL_AGENT_BEFORE_COMMIT = "kill-agent-before-commit"
# A worker restarted (SIGTERM, start) and, while the group rebalances, another SIGKILLed and restarted.
RESTART_DURING_REBALANCE = "restart-during-rebalance"
# SIGKILL of one broker, restarted ``hold_s`` later.
KILL_BROKER = "kill-broker"
# SIGSTOP of one broker for ``hold_s`` (longer than the session timeouts), then SIGCONT.
FREEZE_BROKER = "freeze-broker"
WORKER_KILLS = {KILL_WORKER: 1, KILL_SINK_AFTER_INSERT: 1, KILL_AGENT_BEFORE_COMMIT: 1,
                RESTART_DURING_REBALANCE: 1}


@dataclass(frozen=True)
class Fault:
    """One fault: what, on which worker or broker, and how long after the last one recovered."""

    after_s: float  # seconds after the pipeline recovered from the previous fault (or warmed up)
    kind: str
    target: int  # worker index (0-based) or broker node (1-based)
    hold_s: float = 0.0  # how long a broker stays down or frozen


@dataclass(frozen=True)
class Plan:
    """How many of each fault, and how they are spaced."""

    workers: int
    brokers: int = 3
    worker_kills: int = 20  # SIGKILLs of worker processes, all kinds together
    sink_after_insert: int = 2
    agent_before_commit: int = 2
    broker_kills: int = 1
    broker_freezes: int = 1
    rebalance_restarts: int = 1
    broker_down_s: float = 10.0
    freeze_s: float = 16.0  # above the consumers' 10 s session and the brokers' 9 s heartbeat timeout
    # A fault comes at a random moment this long after the pipeline recovered from the previous one:
    # faults never overlap, so each one's recovery is its own.
    min_gap_s: float = 2.0
    max_gap_s: float = 10.0

    def with_workers(self, workers: int | None) -> Plan:
        """The same plan with another number of workers (None keeps the plan's)."""
        return replace(self, workers=workers or self.workers)


# `make chaos`: 20 worker SIGKILLs (two at each crash point, one during a rebalance), a broker
# killed, a broker frozen.
FULL = Plan(workers=3)
# The short run inside `make test`: one of each kind of fault.
SHORT = Plan(workers=2, worker_kills=4, sink_after_insert=1, agent_before_commit=1, broker_down_s=8.0,
             freeze_s=12.0, max_gap_s=4.0)


def schedule(plan: Plan, seed: int) -> list[Fault]:
    """The faults of ``plan`` in a random order, on random targets, after random gaps."""
    rng = random.Random(seed)
    rebalances = plan.rebalance_restarts
    simple = plan.worker_kills - plan.sink_after_insert - plan.agent_before_commit - rebalances
    if simple < 0:
        raise ValueError("worker_kills must cover the crash-point kills and the rebalance restarts")
    if rebalances and plan.workers < 2:
        raise ValueError("a restart during a rebalance needs at least two workers")
    kinds = ([KILL_WORKER] * simple + [KILL_SINK_AFTER_INSERT] * plan.sink_after_insert
             + [KILL_AGENT_BEFORE_COMMIT] * plan.agent_before_commit + [RESTART_DURING_REBALANCE] * rebalances
             + [KILL_BROKER] * plan.broker_kills + [FREEZE_BROKER] * plan.broker_freezes)
    rng.shuffle(kinds)
    faults = []
    for kind in kinds:
        gap = round(rng.uniform(plan.min_gap_s, plan.max_gap_s), 2)
        if kind in (KILL_BROKER, FREEZE_BROKER):
            hold = plan.broker_down_s if kind == KILL_BROKER else plan.freeze_s
            faults.append(Fault(gap, kind, rng.randint(1, plan.brokers), hold))
        else:
            faults.append(Fault(gap, kind, rng.randrange(plan.workers)))
    return faults


def worker_sigkills(faults: Iterable[Fault]) -> int:
    """SIGKILLs of worker processes the faults make."""
    return sum(WORKER_KILLS.get(f.kind, 0) for f in faults)


@dataclass
class Expected:
    """What the pipeline must make of the traffic sent: every event's outcome, record rejections."""

    events: dict[EventKey, Outcome] = field(default_factory=dict)
    record_reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (operator, reason)
    duplicates_sent: int = 0

    def add(self, operator_id: str, batch: SimBatch) -> list[EventKey]:
        """Count one sent record; return the keys of its new events."""
        keys = []
        for (source, seq), outcome in batch.expected.items():
            key = (operator_id, source, seq)
            if key in self.events:
                raise ValueError(f"the simulator reused event ID {key}")
            self.events[key] = outcome
            keys.append(key)
        if batch.expected_record_reason:
            self.record_reasons[(operator_id, batch.expected_record_reason)] += 1
        self.duplicates_sent += batch.duplicates
        return keys

    @property
    def accepted(self) -> set[EventKey]:
        return {k for k, (status, _) in self.events.items() if status == "ACCEPTED"}


@dataclass(frozen=True)
class Verdict:
    """The comparison of what came out with :class:`Expected`; ``ok`` when nothing is off."""

    events: int
    accepted: int
    no_receipt: int  # events sent that never got a receipt (lost)
    extra_receipts: int  # receipts beyond the first for an event (counted twice)
    unexpected_receipts: int  # receipts for events never sent
    wrong_outcome: int  # a receipt with another status or reason than expected
    record_level_diff: int  # record-level rejections that differ
    archive_missing: int
    archive_doubled: int
    archive_unexpected: int
    clickhouse_missing: int
    clickhouse_doubled: int
    clickhouse_unexpected: int
    # Re-sent events left without their DUPLICATE receipt (each re-send is answered, never counted).
    unanswered_duplicates: int = 0

    @property
    def ok(self) -> bool:
        return not any((self.no_receipt, self.extra_receipts, self.unexpected_receipts, self.wrong_outcome,
                        self.record_level_diff, self.archive_missing, self.archive_doubled,
                        self.archive_unexpected, self.clickhouse_missing, self.clickhouse_doubled,
                        self.clickhouse_unexpected, self.unanswered_duplicates))

    @property
    def lost(self) -> int:
        return max(self.no_receipt, self.archive_missing, self.clickhouse_missing)

    @property
    def doubled(self) -> int:
        return max(self.extra_receipts, self.archive_doubled, self.clickhouse_doubled)


def compare(expected: Expected, receipts: Mapping[EventKey, int], outcomes: Mapping[EventKey, Outcome],
            record_level: Mapping[tuple[str, str], int], archive: Mapping[EventKey, int],
            clickhouse: Mapping[EventKey, int], duplicates: Mapping[EventKey, int] | None = None) -> Verdict:
    """Receipts (count and last outcome per event), archive and ClickHouse rows against ``expected``.

    ``receipts`` counts the deciding receipts (ACCEPTED or REJECTED) per event: exactly one each.
    ``duplicates`` counts the DUPLICATE receipts that answer re-sends: at least one per re-sent
    event (a record the client itself sent again is answered again), for events that were sent.
    ``archive`` and ``clickhouse`` count the rows per accepted event; each must be exactly one.
    """
    accepted = expected.accepted
    sent = expected.events

    def missing_doubled_unexpected(counts: Mapping[EventKey, int],
                                   wanted: set[EventKey]) -> tuple[int, int, int]:
        return (sum(1 for k in wanted if counts.get(k, 0) == 0),
                sum(n - 1 for k, n in counts.items() if k in wanted and n > 1),
                sum(n for k, n in counts.items() if k not in wanted))

    no_receipt, extra, unexpected = missing_doubled_unexpected(receipts, set(sent))
    unanswered = 0
    if duplicates is not None:  # the re-sends' answers are checked too
        unexpected += sum(n for k, n in duplicates.items() if k not in sent)
        unanswered = max(0, expected.duplicates_sent - sum(n for k, n in duplicates.items() if k in sent))
    wrong = sum(1 for k, outcome in sent.items() if k in outcomes and outcomes[k] != outcome)
    record_diff = sum(abs(record_level.get(k, 0) - expected.record_reasons.get(k, 0))
                      for k in set(record_level) | set(expected.record_reasons))
    a_missing, a_doubled, a_unexpected = missing_doubled_unexpected(archive, accepted)
    c_missing, c_doubled, c_unexpected = missing_doubled_unexpected(clickhouse, accepted)
    return Verdict(len(sent), len(accepted), no_receipt, extra, unexpected, wrong, record_diff,
                   a_missing, a_doubled, a_unexpected, c_missing, c_doubled, c_unexpected, unanswered)


def recovery_times(faults_at: list[float], sent_at: Mapping[EventKey, float],
                   done_at: Mapping[EventKey, float], bound_s: float) -> list[float | None]:
    """Seconds from each fault until the pipeline was back within its latency bound.

    An event is late when it was done (receipted, and queryable in ClickHouse if accepted) more
    than ``bound_s`` after it was sent. A fault's recovery time is from the fault to the moment
    the last late event sent between ``bound_s`` before it and the next fault was done: 0.0 when
    the fault delayed nothing beyond the bound; None when such an event was never done (lost).
    """
    order = sorted(faults_at)
    by_time = sorted((sent, key) for key, sent in sent_at.items())
    times = [sent for sent, _ in by_time]
    out: list[float | None] = []
    for i, t0 in enumerate(order):
        until = order[i + 1] if i + 1 < len(order) else math.inf
        worst = 0.0
        lost = False
        for sent, key in by_time[bisect_left(times, t0 - bound_s):bisect_left(times, until)]:
            done = done_at.get(key)
            if done is None:
                lost = True
                break
            if done - sent > bound_s:
                worst = max(worst, done - t0)
        out.append(None if lost else worst)
    return out


def summary(values: Iterable[float | None]) -> dict[str, float]:
    """p50 and max of the known values (seconds), with how many there are and how many are unknown."""
    given = list(values)
    known = sorted(v for v in given if v is not None)
    unknown = given.count(None)
    return {"n": len(known), "p50_s": percentile(known, 50), "max_s": known[-1] if known else math.nan,
            "unknown": unknown}


def caught_up(progress: list[tuple[float, int, int]], receipted: int, stored: int, now: float,
              bound_s: float) -> bool:
    """Whether the pipeline has answered everything sent more than ``bound_s`` ago (an online check).

    ``progress`` holds (sent at, events sent so far, accepted events sent so far) in time order;
    ``receipted`` counts events with a receipt, ``stored`` accepted events in ClickHouse. It
    compares counts only: the exact figures come from :func:`recovery_times` afterwards.
    """
    i = bisect_left(progress, (now - bound_s, math.inf, math.inf)) - 1
    if i < 0:
        return True
    _, events, accepted = progress[i]
    return receipted >= events and stored >= accepted
