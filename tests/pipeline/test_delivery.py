"""Alert delivery on the in-memory Kafka, to a real local HTTP server and a real SMTP server (aiosmtpd).

Three alerts on the topic, three endpoints: a webhook receiver that verifies every signature,
one that always answers 503 (permanently failing), and an SMTP server. The good receivers get
every alert once with its idempotency key, the failing one costs one retry budget and is then
skipped, and the offsets are committed after delivery.
"""

from __future__ import annotations

import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller
from prometheus_client import REGISTRY
from pydantic import SecretStr

from pipeline.core import delivery
from pipeline.delivery import AlertDelivery, endpoint_label
from pipeline.settings import AlertSettings, Settings, WebhookTarget
from schemas import ALERT, default_codec
from tests.pipeline.agents.fakes import FakeKafka
from tests.pipeline.agents.test_transactional import run_until

ALERTS = "dsom.alerts"
SECRET = "a webhook secret"


def alert(i: int, state: str = "OPENED", severity: str = "WARNING") -> dict[str, Any]:
    return {"alert_id": f"a{i:023d}", "state": state, "rule": "aml_structuring", "rule_version": "2000-01-01",
            "severity": severity, "subject_kind": "PLAYER", "subject": f"op-a|p_P{i:09d}",
            "operator_id": "op-a", "licence_kind": "ONLINE_CASINO", "opened_at_us": 1_000 + i,
            "at_us": 2_000 + i, "event_at_us": 1_500 + i, "amounts": {"near_threshold_total": 9_800_000},
            "measures": {"near_threshold_operations": 2.0}, "summary": f"alert {i}"}


class Receiver(BaseHTTPRequestHandler):
    status = 200
    got: list[dict[str, Any]]
    bad_signatures: list[str]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        payload = self.rfile.read(int(self.headers["Content-Length"]))
        ok = delivery.verify(SECRET.encode(), self.headers[delivery.TIMESTAMP_HEADER],
                             self.headers[delivery.SIGNATURE_HEADER], payload, int(time.time()))
        doc = orjson.loads(payload)
        (self.got if ok else self.bad_signatures).append(
            dict(doc, header_key=self.headers[delivery.IDEMPOTENCY_HEADER]))
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def server(status: int) -> ThreadingHTTPServer:
    handler = type("R", (Receiver,), {"status": status, "got": [], "bad_signatures": []})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class Inbox:
    def __init__(self) -> None:
        self.mails: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.mails.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_alerts_reach_every_working_endpoint_signed_once_and_a_dead_one_blocks_nothing(
    smtp: tuple[Inbox, int],
) -> None:
    inbox, smtp_port = smtp
    good, dead = server(200), server(503)
    kafka = FakeKafka()
    codec = default_codec()
    sent = [alert(1), alert(2, severity="CRITICAL"), alert(1, "RESOLVED"), alert(3, severity="INFO")]
    for a in sent:
        kafka.append(ALERTS, 0, f"{a['rule']}|{a['subject']}".encode(), codec.encode(ALERT, a))
    url = "http://127.0.0.1:{}/alerts"
    settings = Settings(metrics_port=0, alerts=AlertSettings(
        webhooks=(WebhookTarget(url=url.format(good.server_port), secret=SecretStr(SECRET), name="good"),
                  WebhookTarget(url=url.format(dead.server_port), secret=SecretStr(SECRET), name="dead")),
        smtp_host="127.0.0.1", smtp_port=smtp_port, mail_to="fiu@example.ua, duty@example.ua",
        min_severity="WARNING", delivery_attempts=3, delivery_backoff_s=0.05, endpoint_down_s=60))
    agent = AlertDelivery(settings, clients=kafka.clients)
    outcomes = ("delivered", "failed", "skipped")
    before = {(e, o): delivered_metric(e, o) for e in ("good", "dead") for o in outcomes}
    started = time.monotonic()
    try:
        run_until(agent, lambda: kafka.committed.get((ALERTS, 0)) == 4)
    finally:
        good.shutdown()
        dead.shutdown()
    elapsed = time.monotonic() - started
    wanted = [delivery.idempotency_key(a) for a in sent[:3]]  # the INFO one is below min_severity
    got = good.RequestHandlerClass.got  # type: ignore[attr-defined]
    assert [g["idempotency_key"] for g in got] == wanted
    assert [g["header_key"] for g in got] == wanted
    assert got[0]["amounts"] == {"near_threshold_total": 9_800_000}
    assert good.RequestHandlerClass.bad_signatures == []  # type: ignore[attr-defined]
    # The dead receiver: the first alert tried 3 times, then skipped; the others never waited on it.
    tried = dead.RequestHandlerClass.got + dead.RequestHandlerClass.bad_signatures  # type: ignore[attr-defined]
    assert len(tried) == 3
    counts = {e.name: dict(e.counts) for e in agent.endpoints}
    assert counts["good"] == {"delivered": 3}
    assert counts["dead"] == {"failed": 1, "skipped": 2}
    assert counts[f"smtp:127.0.0.1:{smtp_port}"] == {"delivered": 3}
    grown = {k: delivered_metric(*k) - v for k, v in before.items()}  # the Prometheus counters, per endpoint
    assert grown == {("good", "delivered"): 3, ("good", "failed"): 0, ("good", "skipped"): 0,
                     ("dead", "delivered"): 0, ("dead", "failed"): 1, ("dead", "skipped"): 2}
    mails = [message_from_bytes(m, policy=email.policy.default) for m in inbox.mails]
    assert [m["Message-ID"] for m in mails] == [f"<{k.replace(':', '.')}@dsom>" for k in wanted]
    # Ukrainian first, the codes kept for filters (issue 19)
    assert mails[1]["Subject"] == ("[dsom] Підозра на дроблення операцій для уникнення порогової суми: "
                                   "op-a|p_P000000002 (рівень: критичний; відкрито) "
                                   "[CRITICAL OPENED aml_structuring]")
    body = mails[1].get_content()
    assert body.index("Рівень важливості: критичний") < body.index("Severity: critical")
    assert "98\u00a0000,00 грн" in body and "UAH 98,000.00" in body  # the figures, each language's way
    assert "01.01.1970, 03:00:00 (UTC+03:00)" in body  # 1 002 µs after the epoch, in Kyiv time
    assert elapsed < 8  # one retry budget (3 attempts, backoff from 50 ms), not one per alert


def test_a_tampered_body_or_an_old_timestamp_fails_verification() -> None:
    payload = delivery.body(alert(1))
    now = 1_750_000_000
    signed = delivery.signature(b"k", now, payload)
    assert delivery.verify(b"k", str(now), signed, payload, now + 10)
    assert not delivery.verify(b"k", str(now), signed, payload.replace(b"alert 1", b"alert 2"), now)
    assert not delivery.verify(b"other key", str(now), signed, payload, now)
    assert not delivery.verify(b"k", str(now), signed, payload, now + delivery.TOLERANCE_S + 1)
    assert not delivery.verify(b"k", "soon", signed, payload, now)


def test_webhooks_and_their_secrets_reach_a_worker_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = WebhookTarget(url="https://fiu.example/alerts", secret=SecretStr("s3cret"), name="fiu")
    for key, value in Settings(alerts=AlertSettings(webhooks=(hook,))).as_env().items():
        monkeypatch.setenv(key, value)
    assert Settings().alerts.webhooks == (hook,)


def delivered_metric(endpoint: str, outcome: str) -> float:
    labels = {"endpoint": endpoint, "outcome": outcome}
    return REGISTRY.get_sample_value("dsom_alert_deliveries_total", labels) or 0.0


def test_an_unnamed_webhook_is_named_by_its_url_without_credentials_or_query() -> None:
    assert endpoint_label("https://user:pw@hooks.example.ua:8443/dsom?token=s3cret") == (
        "https://hooks.example.ua:8443/dsom")
    assert endpoint_label("https://hooks.example.ua/a") == "https://hooks.example.ua/a"
