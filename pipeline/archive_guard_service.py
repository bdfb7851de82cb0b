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
  now) in Prometheus; ``dsom_archive_guard_last_look_timestamp_seconds`` tells it is still looking.

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
from pipeline.security.archive_guard import GuardChange, GuardState, guard_changes, guard_findings
from pipeline.settings import TopicSettings
from registry.core.access import Principal, PrincipalRole
from registry.service import RegistryService

log = logging.getLogger(__name__)
GUARD = Principal("archive-guard", PrincipalRole.SYSTEM)
ENTITY = "archive-guard"  # every entry's entity ID: the last one holds the state last seen
KIND = "kafka_acl"


class ArchiveGuard:
    """Compares each look at the broker with the last and records the differences (I/O at the edges)."""

    def __init__(self, topics: TopicSettings, registry: RegistryService,
                 look: Callable[[], GuardState]) -> None:
        self._topics = topics
        self._registry = registry
        self._look = look
        self._last: GuardState | None = None

    def _recorded(self) -> GuardState | None:
        """The state the last audit entry of the guard saw, if any."""
        rows = self._registry.audit_entries(entity_id=ENTITY, last=1)
        if not rows:
            return None
        doc = orjson.loads(rows[-1].after)
        return GuardState.from_json(doc["state"]) if isinstance(doc, dict) and "state" in doc else None

    def check(self) -> list[GuardChange]:
        """One look: the changes since the previous one (or since the last recorded, at start)."""
        now = self._look()
        metrics.ARCHIVE_GUARD_LAST_LOOK.set(time.time())
        metrics.ARCHIVE_GUARD_BREACHES.set(len(_findings(self._topics, now)))
        before = self._last if self._last is not None else self._recorded()
        self._last = now
        if before is None:  # the first look ever: the baseline, with what it already breaks
            self._registry.record_event(GUARD, "archive_guard_baseline", KIND, ENTITY,
                                        {"findings": _findings(self._topics, now), "state": now.to_json()})
            for finding in _findings(self._topics, now):
                log.error("archive guard: at its first look, %s", finding)
            return []
        changes = guard_changes(self._topics, before, now)
        for change in changes:
            metrics.ARCHIVE_GUARD_CHANGES.labels(change.action).inc()
            self._registry.record_event(GUARD, change.action, KIND, ENTITY,
                                        {"change": change.detail, "findings": list(change.findings),
                                         "state": now.to_json()},
                                        reason=change.describe())
            log.error("ARCHIVE GUARD: %s%s", change.describe(),
                      "".join(f"; BREAKS: {f}" for f in change.findings))
        return changes

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Look every ``interval_s`` until ``stop``; a failed look is logged and retried next time."""
        while not stop.is_set():
            try:
                self.check()
            except Exception:  # noqa: BLE001 - a broker or database hiccup must not end the watch
                metrics.ARCHIVE_GUARD_ERRORS.inc()
                log.exception("archive guard: the look failed; retrying in %.1f s", interval_s)
            stop.wait(interval_s)


def _findings(topics: TopicSettings, state: GuardState) -> list[str]:
    return guard_findings(topics, state.bindings, state.config(topics.archive))


def broker_look(topics: TopicSettings, kafka: Any) -> Callable[[], GuardState]:
    from pipeline.security.archive_guard import read_state  # noqa: PLC0415 - confluent_kafka admin

    return lambda: read_state(topics, kafka)
