from pathlib import Path

from confluent_kafka import KafkaError

from pipeline.kafka.connect import handshake_failure
from pipeline.settings import KafkaSettings

NO_CERT = KafkaSettings(security_protocol="SSL", ssl_ca_location=Path("/pki/ca.crt"))
WITH_CERT = NO_CERT.model_copy(update={"ssl_certificate_location": Path("/k/op.crt"),
                                       "ssl_key_location": Path("/k/op.key")})
ALERT = ("ssl://127.0.0.1:19500/bootstrap: Receive failed: error:0A000412:SSL routines::ssl/tls alert bad "
         "certificate: SSL alert number 42 (after 17ms in state APIVERSION_QUERY)")


def test_a_tls_alert_without_a_certificate_says_to_configure_one() -> None:
    message = handshake_failure(NO_CERT, KafkaError._TRANSPORT, ALERT)
    assert message is not None
    assert "no client certificate is configured" in message
    assert "DSOM_KAFKA__SSL_CERTIFICATE_LOCATION=<unset>" in message and "SSL alert number 42" in message


def test_a_tls_alert_with_a_certificate_says_it_was_not_accepted() -> None:
    message = handshake_failure(WITH_CERT, KafkaError._TRANSPORT, ALERT)
    assert message is not None and "did not accept this client's certificate" in message
    assert "/k/op.crt" in message


def test_an_untrusted_broker_points_at_the_ca_and_host_names() -> None:
    text = "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed"
    message = handshake_failure(WITH_CERT, KafkaError._SSL, text)
    assert message is not None and "SSL_CA_LOCATION" in message and "--host" in message


def test_transient_failures_are_left_to_librdkafka() -> None:
    for code, text in [(KafkaError._TRANSPORT, "127.0.0.1:19500/bootstrap: Connect to ipv4#127.0.0.1:19500 "
                                               "failed: Connection refused"),
                       (KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"),
                       (KafkaError._TIMED_OUT, "timed out")]:
        assert handshake_failure(WITH_CERT, code, text) is None, text
    assert handshake_failure(WITH_CERT, KafkaError._AUTHENTICATION, "SASL") is not None
