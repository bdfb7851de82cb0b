"""``make demo``: a local broker, a pipeline worker and simulated operators, with live progress.

Everything the demo starts it also stops, on Ctrl-C, after ``DEMO_SECONDS`` or on error.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from pipeline.kafka.lag import LagMonitor
from pipeline.progress import Totals, scrape
from pipeline.settings import (
    REPO_ROOT,
    ClickHouseSettings,
    KafkaSettings,
    Settings,
    TaxSettings,
)

if TYPE_CHECKING:
    from pipeline.registry import Registry

RUN_DIR = REPO_ROOT / ".run" / "demo"
KAFKA = [sys.executable, str(REPO_ROOT / "infra" / "kafka_local.py")]


def _kafka(command: str, pki: Path | None = None) -> None:
    env = {**os.environ, "DSOM_RUN_DIR": str(RUN_DIR)}
    if pki is not None:
        env["DSOM_KAFKA_PKI_DIR"] = str(pki)
    subprocess.run([*KAFKA, command], check=True, env=env)


def _progress_line(t: Totals, prev: Totals, dt: float, elapsed: float) -> str:
    rate = (t.events_in - prev.events_in) / dt if dt > 0 else 0.0
    top = sorted(t.rejected.items(), key=lambda item: -item[1])[:4]
    reasons = ", ".join(f"{r} {int(n)}" for r, n in top)
    return (f"[{elapsed:6.0f} s] in {int(t.events_in):>9,} ({rate:>8,.0f}/s) | accepted "
            f"{int(t.accepted):>9,} | rejected {int(t.rejected_total):>6,} ({reasons or '-'}) | "
            f"duplicates {int(t.duplicates):>5,} | in ClickHouse {int(t.clickhouse_rows['events']):>9,} | "
            f"payouts taxed {int(t.payouts_taxed):>7,}")


def _wait_caught_up(settings: Settings, proc: subprocess.Popen[bytes], timeout: float) -> Totals:
    """Wait until the validator has read every ingest record and ClickHouse holds its results."""
    deadline = time.monotonic() + timeout
    t = Totals()
    monitor = LagMonitor(settings.kafka)
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            t = scrape(settings.metrics_host, settings.metrics_port)
            validated = monitor.lag(settings.topics.agent_group("validator"),
                                    settings.topics.ingest_pattern) == 0
            if validated and t.clickhouse_rows["events"] >= t.accepted and t.payouts_taxed >= t.accepted_wins:
                # one more statement interval, so the last revision covers everything
                time.sleep(settings.tax.statement_interval_s + 1.5)
                return scrape(settings.metrics_host, settings.metrics_port)
            time.sleep(0.5)
    finally:
        monitor.close()
    print(f"!! the pipeline did not drain within {timeout:.0f} s")
    return t


def _secure(settings: Settings,
            operator_ids: list[str]) -> tuple[Settings, Settings, dict[str, KafkaSettings]]:
    """Grant the services' ACLs and issue every operator an access key.

    Returns the pipeline's and the admin's settings and each operator's connection.
    """
    from pipeline.security.bootstrap import grant_services
    from registry.access_keys import access_keys

    grant_services(settings)
    admin = settings.model_copy(update={"kafka": settings.kafka_as("admin")})
    keys = access_keys(settings, admin.kafka)
    operators = {}
    for op in operator_ids:
        key = keys.issue(op)
        operators[op] = settings.kafka_with(key.cert, key.key)
    print(f"== mTLS: CA and certificates in {settings.pki_dir}; ACLs for pipeline, tax-service, admin; "
          f"one access key per operator ({len(operator_ids)} issued)")
    return settings.model_copy(update={"kafka": settings.kafka_as("pipeline")}), admin, operators


def run_demo(seconds: float | None, rate: float | None, keep: bool, tls: bool = True) -> int:
    from pipeline.core.model import LicenceKind
    from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
    from pipeline.operator.cli import run_simulator
    from pipeline.operator.fleet import LICENCE_FROM_US, demo_registry
    from pipeline.registry import Licence, Operator, Registry
    from pipeline.security.bootstrap import init_pki
    from pipeline.tools.summary import print_summary
    from web.login.demo import ensure_demo_staff

    seconds = seconds if seconds is not None else float(os.environ.get("DEMO_SECONDS", "0")) or None
    rate = rate or float(os.environ.get("DEMO_RATE", "10000"))
    settings = Settings(
        clickhouse=ClickHouseSettings(dsn=SecretStr(f"chdb://{RUN_DIR / 'chdb'}")),
        registry_path=RUN_DIR / "registry.json",
        tax=TaxSettings(statement_interval_s=2.0),  # statements refresh quickly in a short demo
        pki_dir=RUN_DIR / "pki",
    )
    # The demo's own registry database (the rest of the registry's settings as configured).
    settings = settings.model_copy(update={"registry": settings.registry.model_copy(
        update={"dsn": SecretStr(f"sqlite:///{RUN_DIR / 'registry.sqlite'}")})})
    if not keep and RUN_DIR.exists():
        _kafka("stop")
        shutil.rmtree(RUN_DIR)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    worker: subprocess.Popen[bytes] | None = None
    stop_registry: Callable[[], None] | None = None
    stop = threading.Event()
    interrupted = False

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True
        stop.set()

    try:
        print(f"== starting the local Kafka broker (KRaft, 127.0.0.1 only, {'mTLS' if tls else 'PLAINTEXT'})")
        if tls:
            init_pki(settings)
        logins = ensure_demo_staff(settings)  # the cabinets' demo provider and staff (docs/cabinets.md)
        _kafka("start", settings.pki_dir if tls else None)
        simulated = demo_registry(1)
        # One more licensed operator that never sends: the regulatory reports show it as silent.
        dormant = Operator(operator_id="op-bookmaker-2", name="Demo bookmaker 2 (silent)",
                           licences=(Licence(licence_id="LIC-BK-0002", kind=LicenceKind.BOOKMAKING,
                                             valid_from_us=LICENCE_FROM_US),))
        registry = Registry(operators=(*simulated.operators, dormant))
        operator_ids = [o.operator_id for o in registry.operators]
        admin = settings
        operators: dict[str, KafkaSettings] = {}
        if tls:
            settings, admin, operators = _secure(settings, operator_ids)
        ensure_topics(admin, system_topics(admin) + operator_topics(admin, operator_ids))
        stop_registry = _seed_registry(settings, registry, stop)
        heads = _cabinet_operators(settings, registry)  # after the API's seed: only the heads are new
        print(f"== registry: {len(simulated.operators)} streaming operators, one per licence kind ("
              + ", ".join(o.operator_id for o in simulated.operators)
              + f"), and {dormant.operator_id}, licensed but silent")
        log_path = RUN_DIR / "worker.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "worker"],
            env={**os.environ, **settings.as_env(), "PYTHONPATH": str(REPO_ROOT)},
            stdout=log_path.open("ab"), stderr=subprocess.STDOUT, cwd=REPO_ROOT,
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops the worker in order
        )
        print(f"== pipeline worker pid {worker.pid} (validator, checkpointer, tax, ClickHouse sink), "
              f"log {log_path}, metrics http://{settings.metrics_host}:{settings.metrics_port}/metrics")
        print(f"== dashboard: http://{settings.dashboard_host}:{settings.dashboard_port}/login: log in with "
              f"{logins / 'analyst.crt'} and {logins / 'analyst.key'} (officer, regulator, tax, inspector, "
              "admin and law beside them); reports refresh every 5 s while the stream runs", flush=True)
        if heads:
            print(f"== operator cabinets: log in with {logins / heads[0].name}.crt and .key "
                  f"({heads[0].operator_id}); also " + ", ".join(h.name for h in heads[1:]), flush=True)
        signal.signal(signal.SIGINT, on_sigint)
        until = f"for {seconds:.0f} s" if seconds else "until Ctrl-C"
        print(f"== simulated operators streaming {rate:,.0f} events/s ({until})")
        sim = threading.Thread(target=run_simulator, name="simulator", kwargs=dict(
            settings=settings, registry=simulated, rate=rate, seconds=seconds, bad_share=0.01,
            duplicate_share=0.01, stop_event=stop, kafka_for=operators.get if tls else None))
        sim.start()
        started = time.monotonic()
        prev, prev_t = Totals(), started
        while sim.is_alive():
            sim.join(2.0)
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.returncode}; see {log_path}")
            try:
                t = scrape(settings.metrics_host, settings.metrics_port)
            except (urllib.error.URLError, OSError):
                continue
            now = time.monotonic()
            print(_progress_line(t, prev, now - prev_t, now - started), flush=True)
            prev, prev_t = t, now
        print("== producers stopped" + (" (interrupted)" if interrupted else "")
              + "; waiting for the pipeline to drain")
        final = _wait_caught_up(settings, worker, timeout=300)
        print(_progress_line(final, prev, 0, time.monotonic() - started))
        _stop_worker(worker)
        worker = None
        print_summary(settings, tax_service=settings.kafka_as("tax-service") if tls else None)
        return 0
    finally:
        stop.set()
        if worker is not None:
            _stop_worker(worker)
        if stop_registry is not None:
            stop_registry()
        print("== stopping the Kafka broker")
        _kafka("stop")


def _cabinet_operators(settings: Settings, registry: Any) -> list[Any]:
    """The demo's operators in the registry database, each with a head who can log in (docs/cabinets.md)."""
    from registry.core.access import Principal, PrincipalRole
    from registry.core.model import Kind
    from registry.seed import rows_of
    from registry.service import RegistryService
    from web.login.demo import ensure_demo_heads

    svc = RegistryService.from_settings(settings)
    have = {v.entity_id for v in svc.current(Kind.OPERATOR.value)}
    rows = [r for r in rows_of(registry) if r["operator_id"] not in have]
    if rows:
        svc.add(Principal("demo-seed", PrincipalRole.SYSTEM), rows, "demo seed")
    return ensure_demo_heads(settings, svc)


def _seed_registry(settings: Settings, registry: Registry, stop: threading.Event) -> Callable[[], None]:
    """Enter the demo's registry through the registry's REST API and publish it to ``<prefix>.registry``.

    Published before the worker starts: the validator reads the topic to its end before deciding
    anything. The API and the publisher then run for the demo's length, so a change made through
    the API (``POST /registry/licences/{id}/suspend``) reaches the validator and the reports live.
    Returns the function that stops them (after ``stop`` is set).
    """
    from registry.api import Background
    from registry.publisher import Publisher
    from registry.seed import post_rows, rows_of
    from registry.service import RegistryService

    svc = RegistryService.from_settings(settings)
    api = Background(settings, svc).start()
    entered = 0
    if not svc.current("operator"):  # a kept demo folder is seeded already
        entered = post_rows(api.url, rows_of(registry), "system:demo", "demo seed")
    # with the pipeline's key: its prefix's topics, idempotent writes (the administrator's has not those)
    publisher = Publisher(settings, svc)
    published = publisher.publish_once()
    thread = threading.Thread(target=publisher.run, args=(stop,), name="registry-publisher", daemon=True)
    thread.start()
    print(f"== registry: {entered} records entered through its API ({api.url}/docs), {published} changes "
          f"published to {settings.topics.registry}")

    def close() -> None:
        thread.join(10)
        publisher.close()
        api.stop()

    return close


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


