"""Keeping an agent running inside its worker: restart it after errors, stop only on bad configuration.

A broker restart, a leader change, a coordinator still loading, or a producer fenced after the
broker aborted a stalled transaction all end an agent's run with an exception. None of them is
fixed by stopping the worker, and without something to restart it the pipeline would stay
down; so the agent is built afresh (new clients, state restored from its changelog) after a
backoff that doubles up to :data:`MAX_BACKOFF_S`. Only an error that no restart can fix (the
configuration: unknown options, certificates, missing ACLs) ends the worker.

Some librdkafka calls can block for good after a broker restart, past their own timeouts
(``send_offsets_to_transaction`` waiting on a coordinator that is gone: librdkafka issues
#5456 and #5511). An agent reports the call it is in and how far past that call's own timeout
it is (:meth:`Agent.stuck`); one blocked :data:`STUCK_S` past it is abandoned (its thread left
to its call, its consumer closed so its partitions are reassigned) and replaced like a failed
one. Measured from each call's own timeout, a hung ``send_offsets_to_transaction`` (30 s) is
replaced after a minute, where one patience for every call (formerly 150 s, above the longest
timeout) held the pipeline up 150 s after each such hang.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException

from pipeline import metrics

log = logging.getLogger(__name__)
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
# A run this long counts as healthy: the next failure starts the backoff from the beginning.
HEALTHY_RUN_S = 60.0
# A transactional call blocked this long past its own timeout is librdkafka's hang.
STUCK_S = 30.0
# After the worker is told to stop, an agent that has not ended after this long is left behind.
STOP_GRACE_S = 60.0
_CONFIGURATION_ERRORS = frozenset({
    KafkaError._INVALID_ARG, KafkaError._SSL, KafkaError._AUTHENTICATION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.SASL_AUTHENTICATION_FAILED,
})


class ConfigurationError(RuntimeError):
    """The agent cannot run as configured; restarting it would fail the same way."""


class StuckError(RuntimeError):
    """The agent was blocked in a client call for longer than any timeout allows."""


class Agent(Protocol):
    """What the worker runs: ``run`` until ``stop``; ``stuck`` and ``abandon`` are optional."""

    def run(self, stop: threading.Event) -> None: ...


def is_configuration_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is one no restart can fix."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConfigurationError | FileNotFoundError | PermissionError):
            return True
        if isinstance(seen, KafkaException) and seen.args and isinstance(seen.args[0], KafkaError):
            if seen.args[0].code() in _CONFIGURATION_ERRORS:
                return True
        seen = seen.__cause__  # not __context__: an unrelated error met while handling one
    return False


def supervise(name: str, agent: Agent, restart: Callable[[], Agent], stop: threading.Event,
              sleep: Callable[[float], bool] | None = None, stuck_after_s: float = STUCK_S) -> bool:
    """Run ``agent`` until ``stop``; after a failure, ``restart()`` gives a fresh one, after a backoff.

    Returns False if the agent stopped on a configuration error (the worker should exit).
    """
    wait = sleep or stop.wait
    backoff = FIRST_BACKOFF_S
    while True:
        started = time.monotonic()
        exc = run_watched(name, agent, stop, stuck_after_s)
        if exc is None:
            return True
        if is_configuration_error(exc):
            log.error("agent %s cannot run as configured; stopping the worker", name, exc_info=exc)
            return False
        if stop.is_set():
            log.warning("agent %s failed while stopping: %s", name, exc)
            return True
        if time.monotonic() - started >= HEALTHY_RUN_S:
            backoff = FIRST_BACKOFF_S
        log.error("agent %s failed; restarting it in %.0f s", name, backoff, exc_info=exc)
        metrics.AGENT_RESTARTS.labels(name).inc()
        if wait(backoff):
            return True
        backoff = min(backoff * 2, MAX_BACKOFF_S)
        try:
            agent = restart()
        except Exception as exc:
            if is_configuration_error(exc):
                log.exception("agent %s cannot be built as configured; stopping the worker", name)
                return False
            log.exception("agent %s could not be rebuilt; trying again", name)
            agent = _Failing(exc)


def run_watched(name: str, agent: Agent, stop: threading.Event, stuck_after_s: float) -> Exception | None:
    """Run ``agent`` in a thread of its own; its failure, a StuckError, or None when it stopped."""
    own_stop = threading.Event()  # set on the worker's stop, or to abandon this agent alone
    failure: list[Exception] = []

    def target() -> None:
        try:
            agent.run(own_stop)
        except Exception as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name=f"agent-{name}", daemon=True)
    thread.start()
    stopping_since: float | None = None
    while thread.is_alive():
        thread.join(0.5)
        if stop.is_set() and stopping_since is None:
            own_stop.set()
            stopping_since = time.monotonic()
        if stopping_since is not None and time.monotonic() - stopping_since > STOP_GRACE_S:
            log.error("agent %s did not stop within %.0f s; leaving it behind", name, STOP_GRACE_S)
            return None
        stuck = getattr(agent, "stuck", None)
        call = stuck() if stuck is not None else None
        if call is not None and call[1] > stuck_after_s and stopping_since is None:
            own_stop.set()
            abandon = getattr(agent, "abandon", None)
            if abandon is not None:  # closing a client may block too: never wait on it for long
                closer = threading.Thread(target=abandon, name=f"abandon-{name}", daemon=True)
                closer.start()
                closer.join(10)
            return StuckError(f"{name} was blocked in {call[0]} {call[1]:.0f} s past its own timeout "
                              "(librdkafka #5456/#5511); it is left behind and replaced")
    return failure[0] if failure else None


class _Failing:
    def __init__(self, exc: Exception) -> None:
        self._exc = exc

    def run(self, stop: threading.Event) -> None:
        raise self._exc
