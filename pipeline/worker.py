"""A pipeline worker process: runs agents in threads until SIGTERM/SIGINT, then stops them cleanly.

Run several workers (on several machines) to scale: Kafka's consumer groups spread the
ingest and archive partitions over them. With embedded chdb only one process may run the
ClickHouse sink (it owns the chdb folder); with a ClickHouse server, any number may.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING

from pipeline import metrics
from pipeline.agents.app import app
from pipeline.agents.supervision import Agent, ConfigurationError, supervise
from pipeline.settings import Settings

if TYPE_CHECKING:
    from web.app import WebServer

log = logging.getLogger(__name__)
LAG_INTERVAL_S = 10.0
DUMP_STACKS_SIGNAL = signal.SIGUSR1


def default_agents() -> list[str]:
    """The agents `dsom worker` runs when none are named: every declared default agent."""
    return app.default_agents()


def _agent_target(name: str, settings: Settings) -> Agent:
    try:
        spec = app.get(name)
    except KeyError as exc:
        raise ConfigurationError(str(exc.args[0])) from exc
    return _Closing(spec.build(settings))


class _Closing:
    """Runs an agent, then closes it if it holds resources beyond its run (the sink's ClickHouse)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def run(self, stop: threading.Event) -> None:
        try:
            self.agent.run(stop)
        finally:
            close = getattr(self.agent, "close", None)
            if close is not None:
                close()

    def __getattr__(self, name: str) -> object:  # stuck() and abandon() for the watchdog
        return getattr(self.agent, name)


def run_worker(settings: Settings, agents: Sequence[str] | None = None) -> int:
    """Run the given agents until a signal or a configuration error; return the exit code.

    An agent that fails otherwise is restarted inside the worker (``pipeline.agents.supervision``).
    """
    agents = default_agents() if agents is None else list(agents)
    stop = threading.Event()
    failures: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # `kill -USR1 <pid>` writes every thread's stack to the log: where a stalled agent waits.
    faulthandler.register(DUMP_STACKS_SIGNAL, file=sys.stderr, all_threads=True)
    metrics.serve(settings.metrics_host, settings.metrics_port)
    threads = []
    targets = [(name, _agent_target(name, settings)) for name in agents]
    for _, target in targets:  # the sink creates the tables the dashboard reads
        opener = getattr(target, "open", None)
        if opener is not None:
            opener()
    dashboard = _start_dashboard(settings) if "sink" in agents and settings.dashboard_port else None
    for name, target in targets:
        def guarded(name: str = name, target: Agent = target) -> None:
            if not supervise(name, target, partial(_agent_target, name, settings), stop,
                             stuck_after_s=settings.agent_stuck_after_s):
                failures.append(name)
                stop.set()

        thread = threading.Thread(target=guarded, name=f"supervisor-{name}")
        thread.start()
        threads.append(thread)
    monitor = threading.Thread(target=_watch_lag, args=(settings, stop), name="lag", daemon=True)
    monitor.start()
    log.info("worker %s running agents %s; metrics on %s:%d", settings.worker_id, ",".join(agents),
             settings.metrics_host, settings.metrics_port)
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(0.2)
    if dashboard is not None:
        dashboard.stop()
    return 1 if failures else 0


def _watch_lag(settings: Settings, stop: threading.Event) -> None:
    """Export every agent group's lag as a gauge, every LAG_INTERVAL_S.

    For Grafana and the dashboard's live strip. A group's lag is the whole group's, whichever
    worker holds its partitions, so every worker reports all of them: the worker that serves
    the dashboard may run the sink alone (Grafana takes the max per group).
    """
    from pipeline.kafka.lag import LagMonitor, agent_groups

    groups = agent_groups(settings, default_agents())
    # Its topics are listed as often as the consumers refresh theirs: a new operator's partitions
    # count from then on (listing every topic each time costs the brokers, docs/operations.md).
    monitor = LagMonitor(settings.kafka,
                         partitions_max_age_s=settings.kafka.metadata_refresh_interval_ms / 1000)
    try:
        while not stop.wait(LAG_INTERVAL_S):
            for _, group, pattern in groups:
                try:
                    metrics.CONSUMER_LAG.labels(group).set(monitor.lag(group, pattern))
                except Exception as exc:  # the broker may be away for a while: keep the last figure
                    log.debug("lag of %s unavailable: %s", group, exc)
    finally:
        monitor.close()


def _start_dashboard(settings: Settings) -> WebServer | None:
    """Serve the web application (cabinets and reports) from this process, which owns the sink's database.

    With embedded chdb no other process can read the folder, so this is where reports are
    answered. A second client on the same folder in this process is allowed by chdb.
    """
    from dashboards.web.dashboard import Dashboard
    from dashboards.web.live import live_figures
    from sinks.clickhouse.client import connect
    from web.app import WebServer, app_from_settings

    try:
        readers = [connect(settings.clickhouse) for _ in range(settings.web.query_connections - 1)]
        dashboard = Dashboard(connect(settings.clickhouse), settings.clickhouse.database,
                              live_figures(settings), readers=readers)
        server = WebServer(app_from_settings(settings, dashboard), settings.dashboard_host,
                           settings.dashboard_port).start()
    except OSError as exc:  # a taken port must not stop the pipeline itself
        log.error("web application not started on %s:%d: %s", settings.dashboard_host,
                  settings.dashboard_port, exc)
        return None
    log.info("web application (cabinets, reports) on %s", server.url)
    return server
