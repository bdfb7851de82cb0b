"""Alert delivery: ``<prefix>.alerts`` in, signed webhooks and e-mails out, at least once.

:class:`AlertDelivery` is a consumer loop (not transactional: an HTTP request or an e-mail
cannot be rolled back with a Kafka transaction). Per poll it decodes the committed alert
records, hands them to every endpoint at once (one thread per endpoint), waits, and only then
commits the offsets: a crash re-delivers, never loses, and every delivery carries the record's
idempotency key (:mod:`pipeline.core.delivery`).

Each endpoint retries a failed delivery (``delivery_attempts``, exponential backoff with
jitter, by ``stamina``); a delivery that fails every attempt is counted and logged, and the
endpoint is then skipped for ``endpoint_down_s`` (its alerts in that time are counted as
skipped, not retried): a permanently failing endpoint costs the others one retry budget, not
their alerts. A receiver's non-retriable answer (4xx but 408 and 429) fails at once. Alerts
missed by an endpoint stay on the topic (kept like the archive) and can be sent again by
moving the group's offsets back.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import stamina
from confluent_kafka import Message, TopicPartition

from pipeline import metrics
from pipeline.agents.alert_delivery import ALERT_DELIVERY
from pipeline.agents.clients import Clients
from pipeline.agents.loop import ConsumerLoop
from pipeline.agents.supervision import ConfigurationError
from pipeline.core import delivery
from pipeline.settings import AlertSettings, Settings
from schemas import ALERT, default_codec
from web import alert_mail

log = logging.getLogger(__name__)


class PermanentFailure(Exception):
    """The receiver refused the alert in a way a retry will not change (e.g. HTTP 400)."""


class Retriable(Exception):
    """The receiver could not take the alert now (HTTP 5xx, 408, 429)."""


RETRIED = (Retriable, httpx.TransportError, smtplib.SMTPException, OSError)


@dataclass
class Endpoint:
    """One receiver: how to send it one alert, and whether it is down."""

    name: str
    send: Callable[[dict[str, Any]], None]
    down_until: float = 0.0  # time.monotonic()
    counts: Counter[str] = field(default_factory=Counter)  # delivered, failed, skipped

    def count(self, outcome: str) -> None:
        """One alert's outcome here, also as ``dsom_alert_deliveries_total{endpoint, outcome}``."""
        self.counts[outcome] += 1
        metrics.ALERT_DELIVERIES.labels(self.name, outcome).inc()


def endpoint_label(url: str) -> str:
    """A webhook's name for logs and metrics when it has none: its URL without credentials or query."""
    u = urlsplit(url)
    host = u.hostname or "" if u.port is None else f"{u.hostname}:{u.port}"
    return urlunsplit((u.scheme, host, u.path, "", ""))


def webhook_sender(url: str, secret: bytes, timeout_s: float) -> Callable[[dict[str, Any]], None]:
    client = httpx.Client(timeout=timeout_s)

    def send(alert: dict[str, Any]) -> None:
        payload = delivery.body(alert)
        sent_at = int(time.time())
        answer = client.post(url, content=payload, headers=delivery.headers(
            secret, sent_at, payload, delivery.idempotency_key(alert)))
        if answer.status_code >= 500 or answer.status_code in (408, 429):
            raise Retriable(f"HTTP {answer.status_code}")
        if answer.status_code >= 300:
            raise PermanentFailure(f"HTTP {answer.status_code}")

    return send


def mail_sender(s: AlertSettings) -> Callable[[dict[str, Any]], None]:
    recipients = [a.strip() for a in s.mail_to.split(",") if a.strip()]
    host = s.smtp_host or "localhost"

    def send(alert: dict[str, Any]) -> None:
        with smtplib.SMTP(host, s.smtp_port, timeout=s.delivery_timeout_s) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user is not None and s.smtp_password is not None:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            words = alert_mail.subject(alert), alert_mail.text(alert, delivery.idempotency_key(alert))
            smtp.send_message(delivery.mail(alert, s.mail_from, recipients, *words))

    return send


def endpoints(s: AlertSettings) -> list[Endpoint]:
    """The configured receivers: each webhook, and the mail recipients when SMTP is set."""
    out = [Endpoint(w.name or endpoint_label(w.url),
                    webhook_sender(w.url, w.secret.get_secret_value().encode(), s.delivery_timeout_s))
           for w in s.webhooks]
    if s.smtp_host and s.mail_to.strip():
        out.append(Endpoint(f"smtp:{s.smtp_host}:{s.smtp_port}", mail_sender(s)))
    return out


class AlertDelivery(ConsumerLoop):
    """Delivers every committed alert to every endpoint, then commits its offsets."""

    spec = ALERT_DELIVERY
    max_records = 100

    def __init__(self, settings: Settings, clients: Clients | None = None,
                 receivers: list[Endpoint] | None = None) -> None:
        super().__init__(settings, clients)
        self._a = settings.alerts
        self.endpoints = endpoints(self._a) if receivers is None else receivers
        if not self.endpoints:
            raise ConfigurationError("alert-delivery: no endpoint configured (DSOM_ALERTS__WEBHOOKS, "
                             "DSOM_ALERTS__SMTP_HOST with DSOM_ALERTS__MAIL_TO)")
        self._codec = default_codec()
        self._pool = ThreadPoolExecutor(len(self.endpoints), thread_name_prefix="alert-delivery")
        self.delivered_keys: list[str] = []  # idempotency keys of records handed to every endpoint

    def process(self, msgs: list[Message], stop: threading.Event) -> None:
        if not msgs:
            return
        alerts = []
        for msg in msgs:
            try:
                _, alert = self._codec.decode(msg.value() or b"", expect=ALERT)
            except Exception:  # noqa: BLE001 - the alerts agent writes them: log, never stall on one
                log.exception("alert-delivery: undecodable record at %s/%s@%s", msg.topic(),
                              msg.partition(), msg.offset())
                continue
            if delivery.wanted(alert, self._a.min_severity):
                alerts.append(alert)
        if alerts:
            for done in [self._pool.submit(self._deliver, e, alerts) for e in self.endpoints]:
                done.result()
            self.delivered_keys += [delivery.idempotency_key(a) for a in alerts]
        self._commit(msgs)

    def _deliver(self, endpoint: Endpoint, alerts: list[dict[str, Any]]) -> None:
        for alert in alerts:
            if time.monotonic() < endpoint.down_until:
                endpoint.count("skipped")
                continue
            try:
                for attempt in stamina.retry_context(
                    on=RETRIED, attempts=self._a.delivery_attempts, timeout=None,
                    wait_initial=self._a.delivery_backoff_s, wait_max=8.0,
                    wait_jitter=self._a.delivery_backoff_s,
                ):
                    with attempt:
                        endpoint.send(alert)
            except PermanentFailure as exc:
                endpoint.count("failed")
                log.warning("alert-delivery: %s refused alert %s: %s", endpoint.name,
                            delivery.idempotency_key(alert), exc)
            except RETRIED as exc:
                endpoint.count("failed")
                endpoint.down_until = time.monotonic() + self._a.endpoint_down_s
                log.warning("alert-delivery: %s failed %d times on alert %s (%s); skipped for %.0f s",
                            endpoint.name, self._a.delivery_attempts, delivery.idempotency_key(alert),
                            type(exc).__name__, self._a.endpoint_down_s)
            else:
                endpoint.count("delivered")

    def _commit(self, msgs: list[Message]) -> None:
        ends: dict[tuple[str, int], int] = {}
        for m in msgs:
            tp = (m.topic() or "", m.partition() or 0)
            ends[tp] = max(ends.get(tp, 0), (m.offset() or 0) + 1)
        self.consumer().commit(offsets=[TopicPartition(t, p, o) for (t, p), o in sorted(ends.items())],
                               asynchronous=False)

    def stopped(self) -> None:
        self._pool.shutdown(wait=True)
