import threading
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException

from pipeline.agents.supervision import ConfigurationError, is_configuration_error, supervise


def kafka_error(code: int, fatal: bool = False) -> KafkaException:
    return KafkaException(KafkaError(code, "test", fatal=fatal))


class Runs:
    """Agent runs that fail with the given errors in turn, then return normally."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.started = 0

    def run(self, stop: threading.Event) -> None:
        self.started += 1
        if self.errors:
            raise self.errors.pop(0)

    def restart(self) -> Callable[[threading.Event], None]:
        return self.run


def test_transient_failures_restart_the_agent_with_growing_backoff() -> None:
    runs = Runs(kafka_error(KafkaError.NOT_LEADER_FOR_PARTITION), kafka_error(KafkaError._FENCED, fatal=True),
                RuntimeError("fatal transaction error"), kafka_error(KafkaError._TRANSPORT))
    waits: list[float] = []
    ok = supervise("validator", runs.run, runs.restart, threading.Event(),
                   sleep=lambda s: waits.append(s) or False)
    assert ok and runs.started == 5
    assert waits == [1.0, 2.0, 4.0, 8.0]


def test_configuration_errors_stop_the_worker_without_a_restart() -> None:
    for error in (kafka_error(KafkaError.TOPIC_AUTHORIZATION_FAILED), ConfigurationError("unknown agent"),
                  FileNotFoundError("ca.crt")):
        runs = Runs(error)
        assert not supervise("tax", runs.run, runs.restart, threading.Event(), sleep=lambda s: False)
        assert runs.started == 1


def test_a_stop_during_the_backoff_ends_supervision() -> None:
    runs = Runs(kafka_error(KafkaError._TRANSPORT), kafka_error(KafkaError._TRANSPORT))
    assert supervise("sink", runs.run, runs.restart, threading.Event(), sleep=lambda s: True)
    assert runs.started == 1


def test_wrapped_causes_are_classified() -> None:
    try:
        try:
            raise kafka_error(KafkaError.GROUP_AUTHORIZATION_FAILED)
        except KafkaException as exc:
            raise RuntimeError("restore failed") from exc
    except RuntimeError as outer:
        assert is_configuration_error(outer)
    assert not is_configuration_error(kafka_error(KafkaError.NOT_COORDINATOR))
