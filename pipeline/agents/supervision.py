"""Keeping an agent running inside its worker: restart it after errors, stop only on bad configuration.

A broker restart, a leader change, a coordinator still loading, or a producer fenced after the
broker aborted a stalled transaction all end an agent's run with an exception. None of them is
fixed by stopping the worker, and without something to restart it the pipeline would stay
down; so the agent is built afresh (new clients, state restored from its changelog) after a
backoff that doubles up to :data:`MAX_BACKOFF_S`. Only an error that no restart can fix (the
configuration: unknown options, certificates, missing ACLs) ends the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException

from pipeline import metrics

log = logging.getLogger(__name__)
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
# A run this long counts as healthy: the next failure starts the backoff from the beginning.
HEALTHY_RUN_S = 60.0
_CONFIGURATION_ERRORS = frozenset({
    KafkaError._INVALID_ARG, KafkaError._SSL, KafkaError._AUTHENTICATION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.SASL_AUTHENTICATION_FAILED,
})


class ConfigurationError(RuntimeError):
    """The agent cannot run as configured; restarting it would fail the same way."""


def is_configuration_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is one no restart can fix."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConfigurationError | FileNotFoundError | PermissionError):
            return True
        if isinstance(seen, KafkaException) and seen.args and isinstance(seen.args[0], KafkaError):
            if seen.args[0].code() in _CONFIGURATION_ERRORS:
                return True
        seen = seen.__cause__ or seen.__context__
    return False


Run = Callable[[threading.Event], None]


def supervise(name: str, run: Run, restart: Callable[[], Run], stop: threading.Event,
              sleep: Callable[[float], bool] | None = None) -> bool:
    """Run ``run`` until ``stop``; after a failure, ``restart()`` gives a fresh run, after a backoff.

    Returns False if the agent stopped on a configuration error (the worker should exit).
    """
    wait = sleep or stop.wait
    backoff = FIRST_BACKOFF_S
    while True:
        started = time.monotonic()
        try:
            run(stop)
            return True
        except Exception as exc:
            if is_configuration_error(exc):
                log.exception("agent %s cannot run as configured; stopping the worker", name)
                return False
            if stop.is_set():
                log.warning("agent %s failed while stopping: %s", name, exc)
                return True
            if time.monotonic() - started >= HEALTHY_RUN_S:
                backoff = FIRST_BACKOFF_S
            log.exception("agent %s failed; restarting it in %.0f s", name, backoff)
            metrics.AGENT_RESTARTS.labels(name).inc()
        if wait(backoff):
            return True
        backoff = min(backoff * 2, MAX_BACKOFF_S)
        try:
            run = restart()
        except Exception as exc:
            if is_configuration_error(exc):
                log.exception("agent %s cannot be built as configured; stopping the worker", name)
                return False
            log.exception("agent %s could not be rebuilt; trying again", name)
            run = _failing(exc)


def _failing(exc: Exception) -> Run:
    def run(stop: threading.Event) -> None:
        raise exc
    return run
