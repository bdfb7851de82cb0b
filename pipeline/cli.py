"""The ``dsom`` command line: worker, registry, operator tools, archive verification, demo."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.security.keys import AccessKeys


def _settings() -> Settings:
    return Settings()


def cmd_worker(args: argparse.Namespace) -> int:
    from pipeline.worker import run_worker

    return run_worker(_settings(), [a for a in args.agents.split(",") if a] if args.agents else None)


def cmd_registry_seed(args: argparse.Namespace) -> int:
    from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
    from registry.cli import seed_database

    settings = _settings()
    # Seeded through the registry's database (issue 13); the file is its snapshot for the validator.
    registry = seed_database(settings, args.per_kind)
    registry.save(settings.registry_path)
    ensure_topics(settings, system_topics(settings)
                  + operator_topics(settings, [o.operator_id for o in registry.operators]))
    print(f"registry: {len(registry.operators)} operators written to {settings.registry_path}; topics ready")
    # The operators' demo heads, so the operator's cabinet can be logged into (docs/cabinets.md).
    from registry.service import RegistryService
    from web.app import qes_dir
    from web.login.demo import ensure_demo_heads

    heads = ensure_demo_heads(settings, RegistryService.from_settings(settings))
    print(f"cabinet operator logins (certificate and key file) in {qes_dir(settings)}: "
          + ", ".join(f"{p.name} ({p.operator_id})" for p in heads))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from pipeline.operator.cli import run_simulator
    from registry.follow import read_registry

    settings = _settings()
    stop = threading.Event()
    try:
        # The registry the validator follows (its topic; the file while the topic has no operator).
        run_simulator(settings, read_registry(settings), rate=args.rate,
                      seconds=args.seconds, bad_share=args.bad_share,
                      duplicate_share=args.duplicate_share, stop_event=stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from pipeline.operator.cli import produce_file

    produce_file(_settings(), args.operator, args.source, Path(args.file))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.tools.summary import print_summary

    print_summary(_settings())
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard from this process (a ClickHouse server, or a chdb folder no worker holds)."""
    import signal
    import threading

    from dashboards.web.dashboard import Dashboard
    from sinks.clickhouse.client import ClickHouseUnavailableError, connect
    from web.app import WebServer, app_from_settings

    settings = _settings()
    try:
        client = connect(settings.clickhouse)
    except ClickHouseUnavailableError as exc:
        print(f"dsom dashboard: {exc}.\nWith embedded chdb the worker running the ClickHouse sink serves "
              f"the dashboard itself, at http://{settings.dashboard_host}:{settings.dashboard_port}",
              file=sys.stderr)
        return 2
    port = args.port if args.port is not None else settings.dashboard_port
    readers = [connect(settings.clickhouse) for _ in range(settings.web.query_connections - 1)]
    dashboard = Dashboard(client, settings.clickhouse.database, readers=readers)
    server = WebServer(app_from_settings(settings, dashboard),
                       args.host or settings.dashboard_host, port).start()
    print(f"cabinets and reports on {server.url} (login by QES; Ctrl-C stops it)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    client.close()
    return 0


def cmd_tax_service(args: argparse.Namespace) -> int:
    from pipeline.tax_service import print_ledger, read_ledger, save_ledger

    ledger = read_ledger(_settings())
    print_ledger(ledger)
    if args.store:
        save_ledger(ledger, Path(args.store))
        print(f"ledger saved to {args.store}")
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    import orjson

    from pipeline.contract.asyncapi import build

    doc = build(_settings())
    if args.format == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=110))
    else:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def cmd_security_init(args: argparse.Namespace) -> int:
    from pipeline.security.bootstrap import SERVICE_PRINCIPALS, init_pki

    settings = _settings()
    init_pki(settings, args.host)
    hosts = ", ".join(["localhost", "127.0.0.1", *args.host])
    print(f"PKI ready in {settings.pki_dir}: CA, broker ({hosts}) and {', '.join(SERVICE_PRINCIPALS)} "
          "certificates (private keys owner-only, never printed)")
    # The cabinets' demo provider and staff (issue 14, docs/cabinets.md), made once.
    from web.login.demo import DEMO_STAFF, ensure_demo_staff

    folder = ensure_demo_staff(settings)
    print(f"cabinet demo logins (certificate and key file to pick on the login page) in {folder}: "
          + ", ".join(f"{p.name} ({p.role})" for p in DEMO_STAFF))
    return 0


def cmd_security_grant(args: argparse.Namespace) -> int:
    from pipeline.security.bootstrap import grant_services

    grant_services(_settings())
    print("ACLs granted to admin, pipeline, tax-service and key-issuer")
    return 0


def _access_keys() -> AccessKeys:
    from registry.access_keys import access_keys  # noqa: PLC0415

    settings = _settings()
    return access_keys(settings, settings.kafka_as("admin"))


def cmd_keys_issue(args: argparse.Namespace) -> int:
    from pipeline.security.handover import client_settings, new_password

    settings = _settings()
    if args.pkcs12_password_file:
        source = sys.stdin if args.pkcs12_password_file == "-" else open(args.pkcs12_password_file)  # noqa: SIM115
        with source:
            password, generated = source.readline().rstrip("\r\n"), False
        if not password:
            print(f"dsom keys issue: {args.pkcs12_password_file} holds no password on its first line",
                  file=sys.stderr)
            return 2
    else:
        password, generated = new_password(), True
    key = _access_keys().issue(args.operator, sandbox=args.sandbox, pkcs12_password=password)
    files = key.files()
    print(f"issued {key.key_id} for {key.operator_id}{' (sandbox)' if key.sandbox else ''}, principal "
          f"{key.principal}, valid until {key.not_after}. Hand over these files:\n"
          f"  certificate (PEM)              {files.cert}\n"
          f"  private key (PEM, owner-only)  {files.key}\n"
          f"  key + certificate (PEM)        {files.pem}\n"
          f"  CA certificate (PEM)           {files.ca}\n"
          f"  PKCS12 keystore                {files.keystore}\n"
          f"  PKCS12 truststore (the CA)     {files.truststore}")
    if generated:
        print(f"PKCS12 password (shown this once, kept nowhere): {password}")
    bootstrap = args.bootstrap or settings.kafka.bootstrap_servers
    for client, text in client_settings(files, bootstrap, settings.topics, key.operator_id, key.sandbox,
                                        password if generated else None).items():
        print(f"\n--- {client} ---\n{text}", end="")
    print("\nSee docs/integration.md for the whole guide.")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    keys = _access_keys()
    print(f"{'key':<11} {'operator':<24} {'state':<8} {'sandbox':<7} {'valid until':<26} revoked at")
    for k in keys.all():
        if args.operator and k.operator_id != args.operator:
            continue
        print(f"{k.key_id:<11} {k.operator_id:<24} {k.state:<8} {'yes' if k.sandbox else 'no':<7} "
              f"{k.not_after:<26} {k.revoked_at or ''}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from pipeline.security.keys import KeyNotActive  # noqa: PLC0415

    keys = _access_keys()
    try:
        key = keys.revoke(args.key_id)
    except KeyError:
        print(f"dsom keys revoke: no access key {args.key_id!r} (see `dsom keys list`)", file=sys.stderr)
        return 1
    except KeyNotActive as exc:
        print(f"dsom keys revoke: {args.key_id} was already revoked at {exc.key.revoked_at}", file=sys.stderr)
        return 1
    print(f"revoked {key.key_id} of {key.operator_id}: its ACLs are removed; it can no longer produce")
    return 0


def cmd_schema_register(args: argparse.Namespace) -> int:
    """Check an operator's writer schema against dsom's EventBatch and keep it (issue 20)."""
    from pipeline.writer_schemas import FolderWriterSchemaStore  # noqa: PLC0415
    from schemas.evolution import IncompatibleSchemaError, SchemaError, java_order  # noqa: PLC0415

    store = FolderWriterSchemaStore(_settings().writer_schemas_dir)
    try:
        schema = store.register(args.operator, Path(args.file).read_text())
    except IncompatibleSchemaError as exc:
        print(f"{args.file}: dsom cannot read records written with this schema:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    except (SchemaError, ValueError, OSError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    for fp in schema.fingerprints:
        print(f"registered for {args.operator}: fingerprint {fp.hex()} (as on the wire; Java prints "
              f"{java_order(fp)})")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pipeline.tools.bench import run_bench

    return run_bench(args.events, args.batch_size, args.workers, args.rate, args.live_seconds,
                     args.warmup_events)


# -- issue 16: the chaos harness (make chaos) --
def cmd_chaos(args: argparse.Namespace) -> int:
    from pipeline.tools.chaos import run_chaos
    from pipeline.tools.chaos_plan import FULL, SHORT

    plan = (SHORT if args.short else FULL).with_workers(args.workers)
    return 0 if run_chaos(plan, seed=args.seed, rate=args.rate)["ok"] else 1


def cmd_many_operators(args: argparse.Namespace) -> int:
    from pipeline.tools.many_operators import run_many

    run_many(args.operators, args.workers, args.events_per_operator)
    return 0


def cmd_backlog(args: argparse.Namespace) -> int:
    from pipeline.tools.backlog import run_backlog

    return 0 if run_backlog(args.events, args.rate)["ok"] else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.tools.demo import run_demo

    return run_demo(seconds=args.seconds, rate=args.rate, keep=args.keep, tls=not args.plaintext)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dsom", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    w = sub.add_parser("worker", help="run pipeline agents until SIGTERM/SIGINT")
    w.add_argument("--agents", default="",
                   help="comma-separated agent names (default: every default agent; see docs/agents.md)")
    w.set_defaults(func=cmd_worker)

    r = sub.add_parser("registry", help="operator and licence registry")
    rsub = r.add_subparsers(dest="registry_command", required=True)
    seed = rsub.add_parser("seed", help="write the demo registry and create its topics")
    seed.add_argument("--per-kind", type=int, default=1, help="operators per licence kind")
    seed.set_defaults(func=cmd_registry_seed)
    # The registry as a system of record (issue 13): registry/cli.py.
    from registry.cli import add_commands as add_registry_commands

    audit = sub.add_parser("audit", help="the registry's audit log")
    add_registry_commands(rsub, audit.add_subparsers(dest="audit_command", required=True), _settings)

    s = sub.add_parser("simulate", help="simulated operators streaming events")
    s.add_argument("--rate", type=float, default=5000.0, help="events per second, all operators")
    s.add_argument("--seconds", type=float, default=None, help="stop after this long")
    s.add_argument("--bad-share", type=float, default=0.01)
    s.add_argument("--duplicate-share", type=float, default=0.01)
    s.set_defaults(func=cmd_simulate)

    pr = sub.add_parser("produce", help="send events from a JSON Lines file as an operator")
    pr.add_argument("--operator", required=True)
    pr.add_argument("--source", required=True)
    pr.add_argument("--file", required=True)
    pr.set_defaults(func=cmd_produce)

    # The verifiable archive (issue 15): verify-archive, archive-key, archive, proof.
    from pipeline.archive_cli import register, register_verify_archive

    register_verify_archive(sub)
    register(sub)

    rep = sub.add_parser("report", help="print the ClickHouse summary (needs the chdb folder free)")
    rep.set_defaults(func=cmd_report)

    dash = sub.add_parser("dashboard", help="serve the web app (cabinets, reports) off the worker")
    dash.add_argument("--host", help="address to bind (default DSOM_DASHBOARD_HOST, 127.0.0.1)")
    dash.add_argument("--port", type=int, help="port (default DSOM_DASHBOARD_PORT, 8050)")
    dash.set_defaults(func=cmd_dashboard)

    ts = sub.add_parser("tax-service", help="read tax-events as the State Tax Service does")
    ts.add_argument("--store", help="also save the ledger (statements, totals) to this JSON file")
    ts.set_defaults(func=cmd_tax_service)

    con = sub.add_parser("contract", help="print the operator contract as an AsyncAPI 3 document")
    con.add_argument("--format", choices=("json", "yaml"), default="json")
    con.set_defaults(func=cmd_contract)

    sec = sub.add_parser("security", help="the deployment's PKI and service ACLs")
    secsub = sec.add_subparsers(dest="security_command", required=True)
    init = secsub.add_parser("init", help="create the CA and the broker/service certificates")
    init.add_argument("--host", action="append", default=[], metavar="NAME",
                      help="a host name or address clients reach the broker by (repeatable); "
                           "the broker certificate names it besides localhost and 127.0.0.1")
    init.set_defaults(func=cmd_security_init)
    secsub.add_parser("grant-services", help="grant admin, pipeline, tax-service and key-issuer their ACLs "
                      "(connects as the broker)").set_defaults(func=cmd_security_grant)

    keys = sub.add_parser("keys", help="operators' access keys (client certificate + ACLs)")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    issue = ksub.add_parser("issue", help="issue a key for an operator")
    issue.add_argument("operator")
    issue.add_argument("--sandbox", action="store_true", help="a test key: writes the sandbox topic only")
    issue.add_argument("--pkcs12-password-file", metavar="FILE",
                       help="protect the PKCS12 stores with the password on this file's first line "
                            "('-': standard input); default: a random one, printed once")
    issue.add_argument("--bootstrap", metavar="HOST:PORT,...",
                       help="the broker addresses to print in the client settings "
                            "(default DSOM_KAFKA__BOOTSTRAP_SERVERS)")
    issue.set_defaults(func=cmd_keys_issue)
    klist = ksub.add_parser("list", help="list keys with their state and expiry")
    klist.add_argument("--operator")
    klist.set_defaults(func=cmd_keys_list)
    revoke = ksub.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_keys_revoke)

    sc = sub.add_parser("schema", help="operators' writer schemas")
    scsub = sc.add_subparsers(dest="schema_command", required=True)
    sreg = scsub.add_parser("register", help="check a writer schema against dsom's EventBatch and accept it")
    sreg.add_argument("--operator", required=True)
    sreg.add_argument("file", help="the writer schema (.avsc)")
    sreg.set_defaults(func=cmd_schema_register)

    b = sub.add_parser("bench", help="end-to-end throughput against the decode ceiling (make bench)")
    b.add_argument("--events", type=int, default=1_500_000,
                   help="preloaded events; at ~100k events/s fewer leave start-up costs dominant")
    b.add_argument("--batch-size", type=int, default=500, help="events per ingest record")
    b.add_argument("--workers", type=int, default=1, help="worker processes in the consumer groups")
    b.add_argument("--rate", type=float, default=5000.0, help="events/s of the live latency phase")
    b.add_argument("--live-seconds", type=float, default=20.0, help="length of the live latency phase")
    b.add_argument("--warmup-events", type=int, default=100_000,
                   help="events run through the pipeline on throwaway topics first (0: none)")
    b.set_defaults(func=cmd_bench)

    ch = sub.add_parser("chaos", help="faults injected into a live stream on a cluster (make chaos)")
    ch.add_argument("--short", action="store_true", help="the short run of make test (a few faults)")
    ch.add_argument("--workers", type=int, default=None)
    ch.add_argument("--rate", type=float, default=1000.0, help="events/s of simulated traffic")
    ch.add_argument("--seed", type=int, default=1)
    ch.set_defaults(func=cmd_chaos)
    mo = sub.add_parser("many-operators", help="a thousand operators' topics on a cluster")
    mo.add_argument("--operators", type=int, default=1000)
    mo.add_argument("--workers", type=int, default=2)
    mo.add_argument("--events-per-operator", type=int, default=100)
    mo.set_defaults(func=cmd_many_operators)
    bl = sub.add_parser("backlog", help="a 30-hour backlog sent at full speed while others stream live")
    bl.add_argument("--events", type=int, default=200_000)
    bl.add_argument("--rate", type=float, default=800.0)
    bl.set_defaults(func=cmd_backlog)

    d = sub.add_parser("demo", help="broker + pipeline + simulated operators, with live progress")
    d.add_argument("--seconds", type=float, default=None, help="default: $DEMO_SECONDS or until Ctrl-C")
    d.add_argument("--rate", type=float, default=None, help="events/s (default: $DEMO_RATE or 10000)")
    d.add_argument("--keep", action="store_true", help="keep data of earlier demo runs")
    d.add_argument("--plaintext", action="store_true", help="no mTLS (to measure what TLS costs)")
    d.set_defaults(func=cmd_demo)
    return p


# Commands that talk to Kafka as the configured client, and those that do as the admin: the
# connection is checked first, so a refused TLS handshake is reported at once, not retried forever.
_KAFKA_CLIENT_COMMANDS = {"report", "verify-archive", "tax-service", "produce", "simulate"}
# The registry's other commands touch only its database.
_KAFKA_CLIENT_SUBCOMMANDS = {("registry", "seed"), ("registry", "publish")}
_KAFKA_ADMIN_COMMANDS = {("keys", "issue"), ("keys", "revoke")}


def main(argv: list[str] | None = None) -> int:
    from pipeline.kafka.connect import BrokerConnectionError, ensure_connected

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        registry_command = (args.command, getattr(args, "registry_command", None))
        if args.command in _KAFKA_CLIENT_COMMANDS or registry_command in _KAFKA_CLIENT_SUBCOMMANDS:
            ensure_connected(_settings().kafka)
        elif (args.command, getattr(args, "keys_command", None)) in _KAFKA_ADMIN_COMMANDS:
            ensure_connected(_settings().kafka_as("admin"))
        return int(args.func(args))
    except BrokerConnectionError as exc:
        print(f"dsom {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
