"""The alerts agent: archive and receipts in; supervision alerts (opened, updated, resolved) out, once.

It reads the archive (every accepted event once: AML, responsible gambling, slot RTP, late
data, tax withheld against due, unregistered assets, silent sources) and every operator's
receipts (rejection rate, sequence gaps, unlicensed activity), keeps what it has seen per input
partition in the ``alerts-state`` changelog table, and writes ``ua.dsom.v1.Alert`` records to
``<prefix>.alerts`` (key ``<rule>|<subject>``) in the same transaction as its offsets and its
changelog entries: a crash or a retry never repeats or loses an alert. The rules and their
thresholds are data (``DSOM_ALERTS__RULES_PATH``, docs/alerts.md); the logic is
:mod:`pipeline.core.watch`. Consumer lag is alerted by Prometheus (infra/prometheus/alerts.yml).
Not run by default (it decodes the whole archive): name it, ``dsom worker --agents ...,alerts``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from confluent_kafka import Message

from pipeline.agents.app import app
from pipeline.agents.clients import Clients
from pipeline.agents.topics import ARCHIVE, DEAD_LETTER, RECEIPTS
from pipeline.agents.transactional import Output, TransactionalAgent, now_us
from pipeline.core.alert_rules import AlertRules
from pipeline.core.engine import Engine, crate
from pipeline.core.state import state_key_prefix
from pipeline.core.tax import TaxRates
from pipeline.core.watch import ArchiveWatch, AssetCheck, LicenceCheck, ReceiptWatch, Watched, watched_events
from pipeline.kafka.admin import ARCHIVE_CONFIG
from pipeline.registry import Registry
from pipeline.settings import Settings
from registry.follow import Follower, current_registry, registry_topic
from schemas import ALERT, ARCHIVE_BATCH, RECEIPT_BATCH, Codec, default_codec

# Alerts are evidence of supervision (what was raised, when, on which rule version): kept.
ALERTS = app.topic("alerts", partitions=lambda t: t.archive_partitions, config=ARCHIVE_CONFIG)
Watch = ArchiveWatch | ReceiptWatch
# How often the registry topic is looked at for changes (the validator's own source: docs/registry.md).
FOLLOW_INTERVAL_S = 1.0


@app.agent(group="alerts", reads=[ARCHIVE, RECEIPTS], writes=[ALERTS, DEAD_LETTER], tables=["alerts-state"],
           default=False)
class AlertsAgent(TransactionalAgent):
    """Raises and resolves supervision alerts from the archive and the receipts."""

    def __init__(self, settings: Settings, clock: Callable[[], int] = now_us,
                 clients: Clients | None = None) -> None:
        super().__init__(settings, clock, clients)
        self._codec = default_codec()
        self._read_archive = archive_reader(settings.validation.engine, self._codec)
        rules = AlertRules.load(settings.alerts.rules_path)
        rates = TaxRates.load(settings.tax.rates_path)
        # The registry the validator follows (set by prepare(), followed in tick()); the watches
        # look it up through these two, so a change reaches watches made before it.
        self._follower: Follower | None = None
        self._followed: tuple[int, float] = (-1, 0.0)
        self._followed_at = time.monotonic()
        self._checks: tuple[LicenceCheck | None, AssetCheck | None] = (None, None)

        def licence_active(operator_id: str, licence_id: str, t: int) -> bool | None:
            check = self._checks[0]
            return None if check is None else check(operator_id, licence_id, t)

        def unregistered(operator_id: str, ev: dict[str, Any]) -> list[tuple[str, str]]:
            check = self._checks[1]
            return [] if check is None else check(operator_id, ev)

        archive = settings.topics.archive

        def make(topic: str, partition: int) -> Watch:
            prefix = state_key_prefix(topic, partition)
            if topic == archive:
                return ArchiveWatch(prefix, rules, rates=rates, tolerance=settings.tax.tolerance_kopecks,
                                    licence_active=licence_active, unregistered=unregistered)
            return ReceiptWatch(prefix, rules)

        self._watches = self.table("alerts-state", make)
        self._alerts_topic = ALERTS.full_name(settings.topics)
        self._last_sweep = time.monotonic()
        self.alerts_written: list[dict[str, Any]] = []  # committed alerts (for tests and metrics)

    def prepare(self) -> None:
        """Read the registry topic to its end (its assets too) before deciding anything, then follow it."""
        super().prepare()  # first: it creates the alerts topic, which the delivery agent may be waiting for
        self._clients.create_topics([registry_topic(self._s)])
        self._follower = Follower(self._s, keep_records=False, consumer=self._clients.consumer, assets=True)
        self._follower.read_to_end(self._s.registry.follow_timeout_s)
        self._follow_registry()

    def stopped(self) -> None:
        if self._follower is not None:
            self._follower.close()

    def _follow_registry(self) -> None:
        assert self._follower is not None
        self._followed_at = time.monotonic()
        self._follower.poll(0)
        path = self._s.registry_path
        # the file counts only while the topic holds no operator (then its changes do too)
        seen = (self._follower.view.changes,
                path.stat().st_mtime if self._follower.view.empty and path.exists() else 0.0)
        if seen != self._followed:
            self._followed = seen
            self._checks = _registry_checks(current_registry(self._follower.view, path))

    def handle(self, msg: Message, now: int) -> Iterable[Output]:
        tp = (msg.topic() or "", msg.partition() or 0)
        watch = self._watches[tp]
        if isinstance(watch, ArchiveWatch):
            operator_id, source_id, received_at_us, events = self._read_archive(msg.value() or b"")
            watch.record(operator_id, source_id, received_at_us, events, now)
        else:
            _, rb = self._codec.decode(msg.value() or b"", expect=RECEIPT_BATCH)
            watch.record(rb["operator_id"], rb["source_id"], rb["receipts"], now)
        yield from self._drain(tp, watch)

    def tick(self, now: int) -> Iterable[Output]:
        if self._follower is not None and time.monotonic() - self._followed_at >= FOLLOW_INTERVAL_S:
            self._follow_registry()
        if time.monotonic() - self._last_sweep < self._s.alerts.sweep_interval_s:
            return
        self._last_sweep = time.monotonic()
        for tp, watch in self._watches.items():
            watch.sweep(now)
            yield from self._drain(tp, watch)

    def _drain(self, tp: tuple[str, int], watch: Watch) -> Iterable[Output]:
        alerts, entries = watch.drain()
        for alert in alerts:
            yield (self._alerts_topic, None, f"{alert['rule']}|{alert['subject']}".encode(),
                   self._codec.encode(ALERT, alert))
            self.defer(alert)
        yield from self._watches.changes(tp, entries)

    def after_commit(self, deferred: list[dict[str, Any]]) -> None:
        self.alerts_written.extend(deferred)


def archive_reader(engine: Engine, codec: Codec) -> Callable[[bytes], Watched]:
    """How the agent reads an archive record: the compiled reader, or the Python reference.

    Both give :func:`pipeline.core.watch.watched_events` of the record (tested alike); the
    compiled one skips what the watches do not read (hashes, receipt IDs) without a Python
    object for it.
    """
    if engine == "native":
        read = crate().watched_events
        return lambda value: codec.read(value, ARCHIVE_BATCH, read)
    return lambda value: watched_events(codec.decode(value, expect=ARCHIVE_BATCH)[1])


def _registry_checks(registry: Registry | None) -> tuple[LicenceCheck | None, AssetCheck | None]:
    """The licence and asset lookups the watches use (None without a registry file)."""
    if registry is None:
        return None, None
    index = registry.licence_index

    def licence_active(operator_id: str, licence_id: str, t: int) -> bool | None:
        licence = index.get((operator_id, licence_id))
        return None if licence is None else licence.active_at(t)

    @cache
    def assets(operator_id: str) -> dict[str, frozenset[str]] | None:
        op = registry.operator(operator_id)
        if op is None:
            return None
        return {"establishment_id": frozenset(op.establishments), "equipment_id": frozenset(op.equipment),
                "site_id": frozenset(op.sites), "app_id": frozenset(op.apps)}

    def unregistered(operator_id: str, ev: dict[str, Any]) -> list[tuple[str, str]]:
        known = assets(operator_id)
        if known is None:
            return []
        return [(field.removesuffix("_id"), ev[field]) for field, ids in known.items()
                if ev[field] is not None and ev[field] not in ids]

    return licence_active, unregistered
