import threading
import time

from confluent_kafka import KafkaError, KafkaException

from pipeline.agents.supervision import ConfigurationError, is_configuration_error, supervise


def kafka_error(code: int, fatal: bool = False) -> KafkaException:
    return KafkaException(KafkaError(code, "test", fatal=fatal))


class Runs:
    """Agents that fail with the given errors in turn, then stop normally."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.started = 0

    def run(self, stop: threading.Event) -> None:
        self.started += 1
        if self.errors:
            raise self.errors.pop(0)

    def restart(self) -> "Runs":
        return self


def test_transient_failures_restart_the_agent_with_growing_backoff() -> None:
    runs = Runs(kafka_error(KafkaError.NOT_LEADER_FOR_PARTITION), kafka_error(KafkaError._FENCED, fatal=True),
                RuntimeError("fatal transaction error"), kafka_error(KafkaError._TRANSPORT))
    waits: list[float] = []
    ok = supervise("validator", runs, runs.restart, threading.Event(),
                   sleep=lambda s: waits.append(s) or False)
    assert ok and runs.started == 5
    assert waits == [1.0, 2.0, 4.0, 8.0]


def test_configuration_errors_stop_the_worker_without_a_restart() -> None:
    for error in (kafka_error(KafkaError.TOPIC_AUTHORIZATION_FAILED), ConfigurationError("unknown agent"),
                  FileNotFoundError("ca.crt")):
        runs = Runs(error)
        assert not supervise("tax", runs, runs.restart, threading.Event(), sleep=lambda s: False)
        assert runs.started == 1


def test_a_stop_during_the_backoff_ends_supervision() -> None:
    runs = Runs(kafka_error(KafkaError._TRANSPORT), kafka_error(KafkaError._TRANSPORT))
    assert supervise("sink", runs, runs.restart, threading.Event(), sleep=lambda s: True)
    assert runs.started == 1


class Blocked:
    """An agent whose first run blocks in a client call for good, as librdkafka's can."""

    def __init__(self) -> None:
        self.runs = 0
        self.abandoned = 0
        self.release = threading.Event()
        self.since: float | None = None

    def run(self, stop: threading.Event) -> None:
        self.runs += 1
        if self.runs == 1:
            self.since = time.monotonic()
            self.release.wait(30)  # the call that never returns (until the test ends)

    def stuck(self) -> tuple[str, float] | None:
        if self.since is None or self.runs > 1:
            return None
        return "send_offsets_to_transaction", time.monotonic() - self.since

    def abandon(self) -> None:
        self.abandoned += 1

    def restart(self) -> "Blocked":
        return self


def test_an_agent_blocked_in_a_call_is_abandoned_and_replaced() -> None:
    agent = Blocked()
    waits: list[float] = []
    started = time.monotonic()
    ok = supervise("validator", agent, agent.restart, threading.Event(),
                   sleep=lambda s: waits.append(s) or False, stuck_after_s=1.0)
    agent.release.set()
    assert ok and agent.runs == 2 and agent.abandoned == 1 and waits == [1.0]
    assert time.monotonic() - started < 10


def test_wrapped_causes_are_classified() -> None:
    try:
        try:
            raise kafka_error(KafkaError.GROUP_AUTHORIZATION_FAILED)
        except KafkaException as exc:
            raise RuntimeError("restore failed") from exc
    except RuntimeError as outer:
        assert is_configuration_error(outer)
    assert not is_configuration_error(kafka_error(KafkaError.NOT_COORDINATOR))
