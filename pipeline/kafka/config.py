"""Convert the typed Kafka settings to librdkafka configuration, in one place."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from pipeline.core.limits import OUTPUT_MESSAGE_BYTES
from pipeline.settings import KafkaSettings

# Room for the largest output (pipeline.core.limits) plus its key and the record batch framing.
OUTPUT_TOPIC_MESSAGE_BYTES = OUTPUT_MESSAGE_BYTES + 64 * 1024


log = logging.getLogger(__name__)


def retriable(exc: BaseException, also: Collection[int] = ()) -> bool:
    """Whether repeating the Kafka call that raised ``exc`` can get past it.

    librdkafka flags it retriable, or its code is one of ``also``: answers given while a
    partition's leader or a group's coordinator moves, which librdkafka does not flag.
    """
    if not isinstance(exc, KafkaException) or not exc.args or not isinstance(exc.args[0], KafkaError):
        return False
    err: KafkaError = exc.args[0]
    return bool(err.retriable()) or err.code() in also


def is_fatal(err: KafkaError) -> bool:
    """Whether the client that reported ``err`` is unusable (librdkafka flags some as ``_FATAL`` only)."""
    return bool(err.fatal()) or err.code() == KafkaError._FATAL


class FatalErrors:
    """An ``error_cb`` that remembers a client's fatal error, which librdkafka only reports there.

    A consumer fenced as a static member, or a producer fenced, stops working for good without
    any call raising; the loop that owns the client calls :meth:`check` to find out and restart.
    """

    def __init__(self, client: str) -> None:
        self.client = client
        self.fatal: KafkaError | None = None

    def __call__(self, err: KafkaError) -> None:
        if is_fatal(err):
            log.error("%s: fatal Kafka error: %s", self.client, err.str())
            self.fatal = self.fatal or err
        else:
            log.debug("%s: Kafka error (retried by the client): %s", self.client, err.str())

    def check(self) -> None:
        """Raise the fatal error this client met, if any."""
        if self.fatal is not None:
            raise KafkaException(self.fatal)


def client_config(kafka: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """Connection keys shared by every producer, consumer and admin client."""
    conf: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol,
    }
    if kafka.ssl_ca_location:
        conf["ssl.ca.location"] = str(kafka.ssl_ca_location)
    if kafka.ssl_certificate_location:
        conf["ssl.certificate.location"] = str(kafka.ssl_certificate_location)
    if kafka.ssl_key_location:
        conf["ssl.key.location"] = str(kafka.ssl_key_location)
    if kafka.ssl_key_password is not None:
        conf["ssl.key.password"] = kafka.ssl_key_password.get_secret_value()
    conf.update(overrides)
    return conf


def consumer_config(kafka: KafkaSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """A consumer that reads only committed data and never commits on its own."""
    return client_config(
        kafka,
        **{
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            # librdkafka's default 1 s backoff on a full fetch queue halves the decode rate.
            "fetch.queue.backoff.ms": 10,
            "fetch.wait.max.ms": 100,
            "topic.metadata.refresh.interval.ms": kafka.metadata_refresh_interval_ms,
            "session.timeout.ms": kafka.session_timeout_ms,
            "heartbeat.interval.ms": kafka.session_timeout_ms // 5,
            **overrides,
        },
    )


def producer_config(kafka: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """An idempotent producer: retries never duplicate or reorder a partition's records.

    Keyed records go where Kafka's Java client would put them (``murmur2_random``), so every
    client library sends a source to the same partition (``pipeline.core.partitioning``).
    """
    return client_config(
        kafka,
        **{
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
            "message.max.bytes": OUTPUT_TOPIC_MESSAGE_BYTES,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 5,
            **overrides,
        },
    )
