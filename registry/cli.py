"""``dsom registry ...`` and ``dsom audit ...``: the registry's commands, on the same service as the API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from pipeline.settings import Settings
from registry.core.errors import Code, RegistryError, RegistryErrors
from registry.core.history import Version
from registry.core.model import Kind, Status

if TYPE_CHECKING:
    # Imported when a command runs: building the parser must not load SQLAlchemy for every dsom command.
    from registry.service import RegistryService


def instant(value: str) -> int:
    """UTC microseconds from an integer or an ISO 8601 time with its offset (2026-01-31T12:00:00+00:00)."""
    if value.lstrip("-").isdigit():
        return int(value)
    t = datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no UTC offset: add +00:00 or Z")
    return int(t.timestamp() * 1_000_000)


def read_rows(path: str) -> list[dict[str, Any]]:
    """Rows from a JSON array or JSON Lines file (``-``: standard input)."""
    raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    stripped = raw.lstrip()
    if stripped.startswith(b"["):
        rows = orjson.loads(raw)
    else:
        rows = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    bad = next((n for n, r in enumerate(rows, 1) if not isinstance(r, dict)), None)
    if bad is not None:
        raise RegistryError(Code.INVALID_FIELD, "expected a JSON object per row", line=bad)
    return list(rows)


def _print_version(v: Version) -> None:
    sys.stdout.write(orjson.dumps(v.as_dict(), option=orjson.OPT_SORT_KEYS).decode() + "\n")


def _service(settings: Settings) -> RegistryService:
    from registry.service import RegistryService  # noqa: PLC0415

    return RegistryService.from_settings(settings)


def _who(args: argparse.Namespace, settings: Settings) -> Any:
    from registry.service import parse_principal  # noqa: PLC0415

    return parse_principal(args.as_ or settings.registry.cli_principal)


def run(settings: Settings, args: argparse.Namespace, action: Callable[[RegistryService], int]) -> int:
    try:
        return action(_service(settings))
    except RegistryErrors as e:
        for err in e.errors[:50]:
            print(f"error: {err}", file=sys.stderr)
        print(f"{len(e.errors)} error(s); nothing was written", file=sys.stderr)
        return 2
    except RegistryError as e:
        print(f"error: {e}; nothing was written", file=sys.stderr)
        return 2


def cmd(
    settings_factory: Callable[[], Settings],
    body: Callable[[argparse.Namespace, Settings, RegistryService], int],
) -> Callable[[argparse.Namespace], int]:
    def _run(args: argparse.Namespace) -> int:
        settings = settings_factory()
        return run(settings, args, lambda svc: body(args, settings, svc))

    return _run


def _migrate(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    from registry.db.engine import current_revision  # noqa: PLC0415

    print(f"registry schema at revision {current_revision(svc.engine)}")
    return 0


def _add(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    row = orjson.loads(args.json)
    if args.since is not None:
        row["since_us"] = args.since
    for v in svc.add(_who(args, settings), [row], args.reason):
        _print_version(v)
    return 0


def _change(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    _print_version(svc.change(_who(args, settings), orjson.loads(args.json), args.since, args.reason))
    return 0


def iter_rows(path: str) -> Iterator[dict[str, Any]]:
    """The rows of a JSON Lines file one at a time (bounded memory); a JSON array is read whole."""
    with Path(path).open("rb") as f:
        first = f.read(4096).lstrip()
        f.seek(0)
        if first.startswith(b"["):
            yield from read_rows(path)
            return
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise RegistryError(Code.INVALID_FIELD, f"not JSON: {exc}", line=n) from None
            if not isinstance(row, dict):
                raise RegistryError(Code.INVALID_FIELD, "expected a JSON object per row", line=n)
            yield row


def _import(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    reason = args.reason or f"import {args.file}"
    if args.file == "-":  # standard input cannot be read twice: held in memory
        rows = read_rows(args.file)
        added = svc.import_rows(_who(args, settings), lambda: rows, reason)
    else:
        added = svc.import_rows(_who(args, settings), lambda: iter_rows(args.file), reason)
    print(f"imported {added} records")
    return 0


def _export(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    out = sys.stdout.buffer if args.out in (None, "-") else Path(args.out).open("wb")  # noqa: SIM115
    n = 0
    try:
        for row in svc.export(args.at):
            out.write(orjson.dumps(row, option=orjson.OPT_SORT_KEYS) + b"\n")
            n += 1
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    svc.record_event(_who(args, settings), "export", "registry", "*", {"rows": n, "at_us": args.at})
    if args.out not in (None, "-"):
        print(f"exported {n} records to {args.out}")
    return 0


def _show(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    who = _who(args, settings)
    if args.history:
        versions = svc.history(args.kind, args.id, who)
        for v in versions:
            _print_version(v)
        return 0 if versions else 1
    found = svc.show(args.kind, args.id, args.at, args.known_at, who)
    if found is None:
        print(f"no {args.kind} {args.id!r} in force then", file=sys.stderr)
        return 1
    _print_version(found)
    return 0


def _list(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    for v in svc.current(args.kind, args.operator, args.at, args.known_at, _who(args, settings)):
        _print_version(v)
    return 0


def _sanction(status: Status) -> Callable[[argparse.Namespace, Settings, RegistryService], int]:
    def body(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
        _print_version(svc.sanction(_who(args, settings), args.licence, status, args.reason, args.since))
        return 0

    return body


def _propose(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    p = svc.propose(_who(args, settings), orjson.loads(args.json), args.since)
    print(f"proposal {p.proposal_id} pending ({p.kind} {p.entity_id})")
    return 0


def _decide(approve: bool) -> Callable[[argparse.Namespace, Settings, RegistryService], int]:
    def body(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
        p = svc.decide(_who(args, settings), args.proposal, approve, args.reason)
        print(f"proposal {p.proposal_id} {p.state} by {p.decided_by}")
        return 0

    return body


def _proposals(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    for p in svc.proposals(args.operator, pending_only=not args.all):
        print(
            f"{p.proposal_id}\t{p.state}\t{p.proposer}\t{p.kind}\t{p.entity_id}"
            + (f"\t{p.decided_by}: {p.reason}" if p.decided_by else "")
        )
    return 0


def _publish(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    import threading  # noqa: PLC0415

    from registry.publisher import Publisher  # noqa: PLC0415

    publisher = Publisher(settings, svc)
    if args.once:
        total = 0
        while n := publisher.publish_once():
            total += n
        print(f"published {total} changes to {settings.topics.registry}")
        return 0
    stop = threading.Event()
    try:
        publisher.run(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        publisher.close()
    return 0


def _serve(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    from registry.api import serve  # noqa: PLC0415

    serve(settings)
    return 0


def _audit_verify(args: argparse.Namespace, settings: Settings, svc: RegistryService) -> int:
    report = svc.verify_audit()
    for problem in report.problems:
        print(f"audit: {problem}", file=sys.stderr)
    print(
        f"audit log: {report.entries} entries, head {report.head}: " + ("intact" if report.ok else "BROKEN")
    )
    return 0 if report.ok else 1


def seed_database(settings: Settings, per_kind: int) -> Any:
    """Load the demo registry into the database (once) and return the validator's snapshot of it."""
    from pipeline.operator.fleet import demo_registry  # noqa: PLC0415
    from registry.core.access import Principal, PrincipalRole  # noqa: PLC0415
    from registry.seed import rows_of  # noqa: PLC0415

    svc = _service(settings)
    rows = rows_of(demo_registry(per_kind))
    have = {v.entity_id for v in svc.current(Kind.OPERATOR.value)}
    new = [r for r in rows if r["operator_id"] not in have]
    if new:
        svc.add(Principal("seed", PrincipalRole.SYSTEM), new, "demo seed")
    return svc.snapshot()


def add_commands(rsub: Any, audit_sub: Any, settings_factory: Callable[[], Settings]) -> None:
    """Register the registry's subcommands under ``dsom registry`` and ``dsom audit``."""

    def parser(
        name: str,
        help_: str,
        body: Callable[[argparse.Namespace, Settings, RegistryService], int],
        sub: Any = rsub,
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_)
        p.add_argument(
            "--as",
            dest="as_",
            metavar="ROLE:NAME",
            help="who is acting (officer:NAME, regulator:NAME, system:NAME, "
            "operator:NAME@OPERATOR); "
            "default DSOM_REGISTRY__CLI_PRINCIPAL",
        )
        p.set_defaults(func=cmd(settings_factory, body))
        return p

    def times(p: argparse.ArgumentParser) -> None:
        p.add_argument("--at", type=instant, help="world time (µs or ISO 8601 with offset); default now")
        p.add_argument("--known-at", type=instant, help="as the registry knew it then; default now")

    kinds = [k.value for k in Kind]
    parser("migrate", "create or upgrade the registry's database schema (also done at every start)", _migrate)
    p = parser("add", "enter one new record directly (registry officer)", _add)
    p.add_argument("json", help='the record as JSON, e.g. {"kind": "operator", ...}')
    p.add_argument(
        "--since", type=instant, help="true in the world from (default: now; licences: valid_from)"
    )
    p.add_argument("--reason")
    p = parser("change", "enter a new version of an existing record (registry officer)", _change)
    p.add_argument("json")
    p.add_argument("--since", type=instant, help="true in the world from (default now)")
    p.add_argument("--reason")
    p = parser("import", "bulk-load new records (JSON Lines or a JSON array): all or nothing", _import)
    p.add_argument("file", help="path, or - for standard input")
    p.add_argument("--reason")
    p = parser("export", "every record in force as JSON Lines (re-importable)", _export)
    p.add_argument("--at", type=instant)
    p.add_argument("--out", help="file (default standard output)")
    p = parser("show", "one record in force (or its whole history)", _show)
    p.add_argument("kind", choices=kinds)
    p.add_argument("id")
    p.add_argument("--history", action="store_true", help="every version, as recorded")
    times(p)
    p = parser("list", "records in force", _list)
    p.add_argument("--kind", choices=kinds)
    p.add_argument("--operator")
    times(p)
    for name, status, help_ in (
        ("suspend", Status.SUSPENDED, "suspend a licence (regulator)"),
        ("revoke", Status.REVOKED, "revoke a licence (regulator)"),
        ("reinstate", Status.ACTIVE, "lift a licence's suspension (regulator)"),
    ):
        p = parser(name, help_, _sanction(status))
        p.add_argument("licence")
        p.add_argument("--reason", required=True, help="the decision's reference and why")
        p.add_argument("--since", type=instant, help="from (default now)")
    p = parser("propose", "propose a new record or a change (an operator, for its own records)", _propose)
    p.add_argument("json")
    p.add_argument("--since", type=instant)
    for name, approve in (("approve", True), ("reject", False)):
        p = parser(name, f"{name} a proposal (a registry officer other than its proposer)", _decide(approve))
        p.add_argument("proposal", type=int)
        p.add_argument("--reason", required=True)
    p = parser("proposals", "pending proposals (--all: decided too)", _proposals)
    p.add_argument("--operator")
    p.add_argument("--all", action="store_true")
    parser(
        "serve", "serve the registry's REST API (DSOM_REGISTRY__API_HOST/API_PORT; OpenAPI at /docs)", _serve
    )
    parser(
        "verify",
        "check the audit log's hash chain (exit 1 if an entry was edited or deleted)",
        _audit_verify,
        audit_sub,
    )
