"""``dsom archive-guard``: who may change the archive, watched as it changes, not only when checked.

Every ``archive.guard_interval_s`` it reads, as the ``archive-guard`` principal (DESCRIBE on the
cluster, DESCRIBE_CONFIGS on the two topics, nothing else), every ACL that touches the archive
or the checkpoints (and the cluster's, which grant ACLs) and both topics' settings. Each change
since the last look (an ACL granted or revoked, a setting changed) is

- an entry in the registry's hash-chained audit log (principal ``system:archive-guard``, entity
  ``archive-guard``), carrying the whole state it saw, so the next start compares with it and a
  change made while the guard was down is still recorded, at its next start;
- an ERROR in the log, naming the change and any rule it breaks;
- ``dsom_archive_guard_changes_total`` (by action) and ``dsom_archive_guard_findings`` (rules broken
  now) in Prometheus; ``dsom_archive_guard_last_look_timestamp_seconds`` tells it is still looking;
- an alert on ``<prefix>.alerts`` (``ua.dsom.v1.Alert``, rule ``archive_guard``, subject kind
  ``ARCHIVE``) for each rule broken: OPENED when the guard first sees it, RESOLVED when it no
  longer holds, at most one open per broken rule's subject, so the regulator's inbox shows it.

The open alerts are kept in the audit entries with the state (the entry is written before the
alerts are sent), so a restarted guard resolves the alerts it opened, under their IDs. The alerts
of the last entry are sent again at start: an alert sent just before a crash may be repeated
(the same record: the inbox keeps one alert per ID), never lost.

Why a service of its own, not a thread of the worker: reading every ACL needs DESCRIBE on the
cluster, a right the pipeline's principal should not hold, and the watcher must not be the admin
it watches; with its own certificate and process it runs where the audit log's database is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from pipeline import metrics
from pipeline.core.alert_rules import AlertRules
from pipeline.core.alerts import AlertBook, AlertRecord, Finding, Subject
from pipeline.security.archive_guard import Breach, GuardChange, GuardState, guard_changes, state_breaches
from pipeline.settings import TopicSettings
from registry.core.access import Principal, PrincipalRole
from registry.service import RegistryService

log = logging.getLogger(__name__)
GUARD = Principal("archive-guard", PrincipalRole.SYSTEM)
ENTITY = "archive-guard"  # every entry's entity ID: the last one holds the state last seen
KIND = "kafka_acl"
RULE = "archive_guard"  # in the alert rules file (its severity and version); docs/alerts.md
# Sends alert records to the alerts topic, all delivered or an exception (the guard retries them).
Send = Callable[[list[AlertRecord]], None]


class ArchiveGuard:
    """Compares each look at the broker with the last and records the differences (I/O at the edges)."""

    def __init__(self, topics: TopicSettings, registry: RegistryService,
                 look: Callable[[], GuardState], rules: AlertRules | None = None,
                 send: Send | None = None, clock: Callable[[], int] = lambda: time.time_ns() // 1000,
                 pipeline_principal: str = "User:pipeline") -> None:
        self._topics = topics
        self._pipeline = pipeline_principal  # the one principal that may write (Strimzi: User:CN=pipeline)
        self._registry = registry
        self._look = look
        self._last: GuardState | None = None
        # Alerts: only with both the rules (severity, version) and somewhere to send them.
        self._rules = rules if send is not None else None
        self._send = send
        self._clock = clock
        self._book = AlertBook()
        self._unsent: list[AlertRecord] = []  # made, not yet delivered: sent again at the next look

    def _recorded(self) -> GuardState | None:
        """The state the last audit entry of the guard saw, if any (and its open alerts, into the book)."""
        rows = self._registry.audit_entries(entity_id=ENTITY, last=1)
        if not rows:
            return None
        doc = orjson.loads(rows[-1].after)
        if not isinstance(doc, dict) or "state" not in doc:
            return None
        self._book.open = {f"{a['rule']}|{a['subject']}": a for a in doc.get("alerts", [])}
        self._unsent = list(doc.get("sent", []))  # perhaps lost in a crash after the entry: again
        return GuardState.from_json(doc["state"])

    def check(self) -> list[GuardChange]:
        """One look: the changes since the previous one (or since the last recorded, at start)."""
        now = self._look()
        breaches = state_breaches(self._topics, now, self._pipeline)
        metrics.ARCHIVE_GUARD_LAST_LOOK.set(time.time())
        metrics.ARCHIVE_GUARD_BREACHES.set(len(breaches))
        before = self._last if self._last is not None else self._recorded()
        self._last = now
        sent = self._alerts(breaches)
        if before is None:  # the first look ever: the baseline, with what it already breaks
            self._registry.record_event(GUARD, "archive_guard_baseline", KIND, ENTITY,
                                        {"findings": [b.text for b in breaches], "state": now.to_json(),
                                         **self._kept(sent)})
            for b in breaches:
                log.error("archive guard: at its first look, %s", b.text)
            self._deliver(sent)
            return []
        changes = guard_changes(self._topics, before, now, self._pipeline)
        for change in changes:
            metrics.ARCHIVE_GUARD_CHANGES.labels(change.action).inc()
            self._registry.record_event(GUARD, change.action, KIND, ENTITY,
                                        {"change": change.detail, "findings": list(change.findings),
                                         "state": now.to_json(), **self._kept(sent)},
                                        reason=change.describe())
            log.error("ARCHIVE GUARD: %s%s", change.describe(),
                      "".join(f"; BREAKS: {f}" for f in change.findings))
        if sent and not changes:  # rules broken before the guard raised alerts (its upgrade): kept too
            self._registry.record_event(GUARD, "archive_guard_alerts", KIND, ENTITY,
                                        {"state": now.to_json(), **self._kept(sent)},
                                        reason=f"alerts for {len(breaches)} rules broken already")
        self._deliver(sent)
        return changes

    def _alerts(self, breaches: list[Breach]) -> list[AlertRecord]:
        """The alert records this look causes: breaches newly seen opened, those gone resolved."""
        if self._rules is None:
            return []
        at = self._clock()
        params = self._rules.at(RULE, at)
        now = {b.subject: b for b in breaches}
        out = []
        for _, alert in sorted(self._book.open.items()):
            if alert["rule"] == RULE and alert["subject"] not in now:
                out.append(self._book.observe(Finding(params, _subject(alert["subject"]), False,
                                                      f"no longer so: {alert['summary']}"), at))
        for b in breaches:
            out.append(self._book.observe(Finding(params, _subject(b.subject), True, b.text), at))
        self._book.dirty.clear()  # the open alerts are kept in the audit entries, not a changelog
        return [a for a in out if a is not None]

    def _kept(self, sent: list[AlertRecord]) -> dict[str, Any]:
        """What an audit entry keeps of the alerts: those open after this look, and those it sent."""
        if self._rules is None:
            return {}
        return {"alerts": sorted(self._book.open.values(), key=lambda a: a["subject"]), "sent": sent}

    def _deliver(self, sent: list[AlertRecord]) -> None:
        """Send this look's alerts and any not delivered before; kept for the next look if it fails."""
        self._unsent += sent
        if self._send is None or not self._unsent:
            return
        self._send(self._unsent)
        self._unsent = []

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Look every ``interval_s`` until ``stop``; a failed look is logged and retried next time."""
        while not stop.is_set():
            try:
                self.check()
            except Exception:  # noqa: BLE001 - a broker or database hiccup must not end the watch
                metrics.ARCHIVE_GUARD_ERRORS.inc()
                log.exception("archive guard: the look failed; retrying in %.1f s", interval_s)
            stop.wait(interval_s)


def _subject(key: str) -> Subject:
    """An archive alert's subject: no operator's (``operator_id`` is empty; operators never see it)."""
    return Subject("ARCHIVE", key, "")


def broker_look(topics: TopicSettings, kafka: Any) -> Callable[[], GuardState]:
    from pipeline.security.archive_guard import read_state  # noqa: PLC0415 - confluent_kafka admin

    return lambda: read_state(topics, kafka)


def kafka_send(topics: TopicSettings, kafka: Any, timeout_s: float = 30.0) -> Send:
    """Sends alert records to ``<prefix>.alerts`` as the alerts agent keys them (``<rule>|<subject>``).

    An idempotent producer, not a transaction: the guard writes nothing else to Kafka. Raises
    unless every record was acknowledged, so the guard keeps them to send again.
    """
    from confluent_kafka import Producer  # noqa: PLC0415

    from pipeline.kafka.config import producer_config  # noqa: PLC0415
    from schemas import ALERT, default_codec  # noqa: PLC0415

    codec = default_codec()
    producer = Producer(producer_config(kafka))
    topic = topics.alerts

    def send(alerts: list[AlertRecord]) -> None:
        failed: list[str] = []

        def report(err: Any, _msg: Any) -> None:
            if err is not None:
                failed.append(str(err))

        for a in alerts:
            producer.produce(topic, codec.encode(ALERT, a), f"{a['rule']}|{a['subject']}".encode(),
                             on_delivery=report)
        left = producer.flush(timeout_s)
        if left or failed:
            raise RuntimeError(f"{topic}: {left} alerts not delivered within {timeout_s:.0f} s, "
                               f"{len(failed)} refused ({'; '.join(failed[:3])})")

    return send
