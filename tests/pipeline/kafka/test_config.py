import pytest
from pydantic import ValidationError

from pipeline.kafka.config import consumer_config
from pipeline.settings import KafkaSettings


def test_the_session_timeout_is_a_setting_and_heartbeats_follow_it() -> None:
    assert consumer_config(KafkaSettings(), "g")["session.timeout.ms"] == 10000
    conf = consumer_config(KafkaSettings(session_timeout_ms=30000), "g")
    assert conf["session.timeout.ms"] == 30000 and conf["heartbeat.interval.ms"] == 6000


def test_a_session_timeout_below_the_brokers_minimum_is_refused() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 6000"):
        KafkaSettings(session_timeout_ms=3000)
