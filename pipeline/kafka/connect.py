"""Fail fast, with a message that says what to fix, when dsom's own clients cannot get past TLS.

librdkafka treats a refused handshake like a broker that is down: it reconnects forever and
only logs each TLS alert, so a command started without a client certificate (or with the
wrong CA) would hang for its whole timeout and then report a "transport failure". Those
failures are only visible in the error callback; :func:`handshake_failure` tells them from
transient ones, and :func:`ensure_connected` stops at the first.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from pipeline.kafka.config import client_config
from pipeline.settings import KafkaSettings

# OpenSSL's words for a TLS alert the broker sent (42 bad certificate, 116 certificate required, ...).
_ALERT_WORDS = ("ssl alert", "tls alert", "alert bad certificate", "certificate required")
_ENV = "DSOM_KAFKA__"


class BrokerConnectionError(RuntimeError):
    """dsom cannot connect to Kafka for a reason that retrying will not fix; the message says which."""


def _settings_hint(kafka: KafkaSettings) -> str:
    files = (f"{_ENV}SSL_CA_LOCATION={kafka.ssl_ca_location or '<unset>'}, "
             f"{_ENV}SSL_CERTIFICATE_LOCATION={kafka.ssl_certificate_location or '<unset>'}, "
             f"{_ENV}SSL_KEY_LOCATION={kafka.ssl_key_location or '<unset>'}")
    return (f"The broker accepts only mutual TLS: set {_ENV}SECURITY_PROTOCOL=SSL and the client's "
            f"certificate files ({files}); dsom's own services use the files in DSOM_PKI_DIR (ca.crt, "
            "pipeline.crt, pipeline.key), an operator the files of its access key (`dsom keys issue`).")


def handshake_failure(kafka: KafkaSettings, code: int, text: str) -> str | None:
    """What to tell the user when an error callback's ``(code, text)`` is a TLS or authentication failure.

    Retrying cannot help those; anything else (a broker restarting, a network blip) gives None.
    """
    lowered = text.lower()
    if code == KafkaError._AUTHENTICATION:
        return f"the broker refused this client's authentication ({text}). {_settings_hint(kafka)}"
    if code == KafkaError._SSL and "verify failed" in lowered:
        return (f"this client does not trust the broker's certificate ({text}): "
                f"{_ENV}SSL_CA_LOCATION must be the deployment's CA certificate (ca.crt), and the broker's "
                "certificate must name the host dialled (`dsom security init --host`).")
    if code == KafkaError._SSL or (code == KafkaError._TRANSPORT and any(w in lowered for w in _ALERT_WORDS)):
        missing = kafka.ssl_certificate_location is None or kafka.ssl_key_location is None
        why = ("no client certificate is configured" if missing else
               "the broker did not accept this client's certificate (is it signed by the deployment's CA, "
               "and not expired?)")
        return f"the TLS handshake failed: {why} ({text}). {_settings_hint(kafka)}"
    return None


def ensure_connected(kafka: KafkaSettings, timeout: float = 15.0) -> None:
    """Return once the broker answers; raise :class:`BrokerConnectionError` at the first TLS failure.

    Costs one metadata request (a few milliseconds on a reachable broker).
    """
    failures: list[str] = []

    def on_error(err: KafkaError) -> None:
        message = handshake_failure(kafka, err.code(), err.str())
        if message is not None:
            failures.append(message)

    admin = AdminClient(client_config(kafka, error_cb=on_error))
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            admin.list_topics(timeout=1.0)
            return
        except KafkaException as exc:
            last = str(exc.args[0].str() if exc.args else exc)
        admin.poll(0)  # serves the error callback
        if failures:
            raise BrokerConnectionError(f"cannot connect to Kafka at {kafka.bootstrap_servers}: "
                                        f"{failures[0]}")
        if time.monotonic() >= deadline:
            hint = (f" If the broker requires TLS, {_settings_hint(kafka)}"
                    if kafka.security_protocol.upper() == "PLAINTEXT" else "")
            raise BrokerConnectionError(f"no answer from Kafka at {kafka.bootstrap_servers} within "
                                        f"{timeout:.0f} s ({last}): is the broker running and the address "
                                        f"right?{hint}")
