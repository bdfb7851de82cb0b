from typing import Any

import pytest
import stamina
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from pipeline.kafka.lag import _committed


class _Coordinator:
    """A consumer whose group coordinator answers ``errors`` first, then the offsets."""

    def __init__(self, *errors: int) -> None:
        self.errors = list(errors)
        self.asked = 0

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.asked += 1
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        return [TopicPartition(tp.topic, tp.partition, 7) for tp in tps]


@pytest.fixture(autouse=True)
def _no_waiting() -> Any:
    stamina.set_testing(True, attempts=5)
    yield
    stamina.set_testing(False)


def test_a_loading_coordinator_is_asked_again() -> None:
    # A fresh broker answers COORDINATOR_LOAD_IN_PROGRESS while it loads __consumer_offsets.
    consumer = _Coordinator(KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.NOT_COORDINATOR)
    offsets = _committed(consumer, [TopicPartition("t", 0)])  # type: ignore[arg-type]
    assert [(tp.topic, tp.partition, tp.offset) for tp in offsets] == [("t", 0, 7)]
    assert consumer.asked == 3


def test_a_refusal_is_not_asked_again() -> None:
    consumer = _Coordinator(KafkaError.GROUP_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        _committed(consumer, [TopicPartition("t", 0)])  # type: ignore[arg-type]
    assert consumer.asked == 1
