"""Alert lifecycles: at most one open alert per (rule, subject); opened, updated, resolved.

An :class:`AlertBook` holds the open alerts of one agent partition. Rules report a condition
with :meth:`AlertBook.observe` (active or not, with its figures); the book answers with the
alert record to publish, if any:

- active and nothing open: OPENED (a new alert, its ID a digest of rule, subject and time);
- active and open: UPDATED when the figures changed and ``min_update_us`` passed since the
  last record of that alert (so a flood of events gives a bounded stream of updates);
- not active and open: RESOLVED, and the alert is closed.

Records follow the ``ua.dsom.v1.Alert`` schema; the book's changes are changelog entries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.core.alert_rules import Params

AlertRecord = dict[str, Any]
MINUTE_US = 60_000_000


@dataclass(frozen=True)
class Subject:
    """What an alert is about: ``kind`` is OPERATOR, SOURCE, PLAYER or MACHINE."""

    kind: str
    key: str  # operator, operator|source, operator|player_ref, operator|equipment|game
    operator_id: str
    licence_kind: str | None = None


@dataclass
class Finding:
    """A rule's verdict on one subject, now."""

    params: Params
    subject: Subject
    active: bool
    summary: str = ""
    amounts: dict[str, int] = field(default_factory=dict)
    measures: dict[str, float] = field(default_factory=dict)
    event_at_us: int | None = None


def alert_id(rule: str, subject: str, opened_at_us: int) -> str:
    return hashlib.sha256(f"{rule}|{subject}|{opened_at_us}".encode()).hexdigest()[:24]


@dataclass
class AlertBook:
    """The open alerts of one partition, keyed ``<rule>|<subject>``."""

    min_update_us: int = MINUTE_US
    open: dict[str, AlertRecord] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)  # keys changed since the last drain

    def is_open(self, rule: str, subject: str) -> bool:
        return f"{rule}|{subject}" in self.open

    def observe(self, f: Finding, now: int) -> AlertRecord | None:
        """The alert record ``f`` causes now (OPENED, UPDATED, RESOLVED), or None."""
        key = f"{f.params.rule}|{f.subject.key}"
        current = self.open.get(key)
        if not f.active:
            if current is None:
                return None
            del self.open[key]
            self.dirty.add(key)
            return dict(current, state="RESOLVED", at_us=now, event_at_us=f.event_at_us,
                        summary=f.summary or f"resolved: {current['summary']}")
        record: AlertRecord = {
            "rule": f.params.rule, "rule_version": f.params.version, "severity": f.params.severity,
            "subject_kind": f.subject.kind, "subject": f.subject.key, "operator_id": f.subject.operator_id,
            "licence_kind": f.subject.licence_kind, "at_us": now, "event_at_us": f.event_at_us,
            "amounts": {k: int(v) for k, v in f.amounts.items()},
            "measures": {k: float(v) for k, v in f.measures.items()}, "summary": f.summary,
        }
        if current is None:
            record.update(alert_id=alert_id(f.params.rule, f.subject.key, now), state="OPENED",
                          opened_at_us=now)
        else:
            same = current["amounts"] == record["amounts"] and current["measures"] == record["measures"]
            if same or now - current["at_us"] < self.min_update_us:
                return None
            record.update(alert_id=current["alert_id"], state="UPDATED", opened_at_us=current["opened_at_us"])
        self.open[key] = record
        self.dirty.add(key)
        return record

    def entries(self) -> list[tuple[str, bytes | None]]:
        """The changed alerts since the last call: (key, JSON or None when closed)."""
        out = [(k, orjson.dumps(self.open[k]) if k in self.open else None) for k in sorted(self.dirty)]
        self.dirty.clear()
        return out

    def apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.open.pop(key, None)
        else:
            self.open[key] = orjson.loads(value)
