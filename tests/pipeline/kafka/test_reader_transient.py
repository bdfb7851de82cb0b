from confluent_kafka import KafkaError, KafkaException

from pipeline.kafka.reader import transient


def test_a_moving_leader_is_asked_again_a_refusal_is_not() -> None:
    # The chaos run's archive check stopped on NOT_LEADER_FOR_PARTITION right after a broker
    # restart, and reported every event as missing from the archive.
    assert transient(KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)))
    assert transient(KafkaException(KafkaError(KafkaError._TRANSPORT)))
    assert not transient(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    assert not transient(KafkaException(KafkaError(KafkaError.INVALID_MSG)))
    assert not transient(ValueError("not Kafka's"))
