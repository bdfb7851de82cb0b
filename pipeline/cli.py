"""The ``dsom`` command line: worker, registry, operator tools, archive verification, demo."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path

from pipeline.settings import Settings


def _settings() -> Settings:
    return Settings()


def cmd_worker(args: argparse.Namespace) -> int:
    from pipeline.worker import run_worker

    return run_worker(_settings(), [a for a in args.agents.split(",") if a])


def cmd_registry_seed(args: argparse.Namespace) -> int:
    from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
    from pipeline.operator.fleet import demo_registry

    settings = _settings()
    registry = demo_registry(args.per_kind)
    registry.save(settings.registry_path)
    ensure_topics(settings, system_topics(settings)
                  + operator_topics(settings, [o.operator_id for o in registry.operators]))
    print(f"registry: {len(registry.operators)} operators written to {settings.registry_path}; topics ready")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from pipeline.operator.cli import run_simulator
    from pipeline.registry import Registry

    settings = _settings()
    stop = threading.Event()
    try:
        run_simulator(settings, Registry.load(settings.registry_path), rate=args.rate,
                      seconds=args.seconds, bad_share=args.bad_share,
                      duplicate_share=args.duplicate_share, stop_event=stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from pipeline.operator.cli import produce_file

    produce_file(_settings(), args.operator, args.source, Path(args.file))
    return 0


def cmd_verify_archive(args: argparse.Namespace) -> int:
    from pipeline.archive import verify_archive
    from pipeline.core.chain import ChainBroken

    try:
        report = verify_archive(_settings())
    except ChainBroken as exc:
        print(f"ARCHIVE DOES NOT VERIFY: {exc}", file=sys.stderr)
        return 2
    dupes = sum(1 for n in report.event_ids.values() if n > 1)
    print(f"archive: {report.events} events in {report.records} records, {len(report.chains)} "
          f"hash chains verified from genesis; events archived more than once: {dupes}")
    return 0 if dupes == 0 else 2


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.summary import print_summary

    print_summary(_settings())
    return 0


def cmd_tax_service(args: argparse.Namespace) -> int:
    from pipeline.tax_service import print_ledger, read_ledger, save_ledger

    ledger = read_ledger(_settings())
    print_ledger(ledger)
    if args.store:
        save_ledger(ledger, Path(args.store))
        print(f"ledger saved to {args.store}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import run_demo

    return run_demo(seconds=args.seconds, rate=args.rate, keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dsom", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    w = sub.add_parser("worker", help="run pipeline agents until SIGTERM/SIGINT")
    w.add_argument("--agents", default="validator,tax,sink", help="comma-separated: validator,tax,sink")
    w.set_defaults(func=cmd_worker)

    r = sub.add_parser("registry", help="operator and licence registry")
    rsub = r.add_subparsers(dest="registry_command", required=True)
    seed = rsub.add_parser("seed", help="write the demo registry and create its topics")
    seed.add_argument("--per-kind", type=int, default=1, help="operators per licence kind")
    seed.set_defaults(func=cmd_registry_seed)

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

    v = sub.add_parser("verify-archive", help="verify every hash chain of the archive topic")
    v.set_defaults(func=cmd_verify_archive)

    rep = sub.add_parser("report", help="print the ClickHouse summary (needs the chdb folder free)")
    rep.set_defaults(func=cmd_report)

    ts = sub.add_parser("tax-service", help="read tax-events as the State Tax Service does")
    ts.add_argument("--store", help="also save the ledger (statements, totals) to this JSON file")
    ts.set_defaults(func=cmd_tax_service)

    d = sub.add_parser("demo", help="broker + pipeline + simulated operators, with live progress")
    d.add_argument("--seconds", type=float, default=None, help="default: $DEMO_SECONDS or until Ctrl-C")
    d.add_argument("--rate", type=float, default=None, help="events/s (default: $DEMO_RATE or 10000)")
    d.add_argument("--keep", action="store_true", help="keep data of earlier demo runs")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
