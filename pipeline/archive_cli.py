"""The verifiable archive's commands: archive-key, archive checkpoints, proof, verify-archive."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from pipeline.settings import Settings


def _settings() -> Settings:
    return Settings()


def _emit(doc: dict[str, Any], out: str | None) -> None:
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    if out:
        Path(out).write_bytes(data)
        print(f"written to {out}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode())


def cmd_key_init(args: argparse.Namespace) -> int:
    from pipeline.security.archive_key import VKEY_FILE, init_archive_key

    s = _settings()
    verifier, new = init_archive_key(s.archive_key_dir, s.archive.origin)
    print(f"archive signing key {'created' if new else 'already'} in {s.archive_key_dir} (owner-only, never "
          f"printed); hand out its verifier key ({s.archive_key_dir / VKEY_FILE}):\n{verifier.vkey()}")
    return 0


def cmd_key_show(args: argparse.Namespace) -> int:
    from pipeline.archive_logs import verifier_of
    from pipeline.security.archive_key import ArchiveKeyError

    try:
        print(verifier_of(_settings()).vkey())
    except ArchiveKeyError as exc:
        print(f"dsom archive-key show: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_checkpoints(args: argparse.Namespace) -> int:
    """Export the latest checkpoint of every partition (or all) for a witness to keep."""
    from pipeline.archive_logs import check_notes, read_checkpoint_notes, save_notes, verifier_of

    s = _settings()
    findings: list[str] = []
    heads = check_notes(s, verifier_of(s, args.key), read_checkpoint_notes(s), findings)
    for f in findings:
        print(f"warning: {f}", file=sys.stderr)
    chosen = [h for p in sorted(heads) for h in (heads[p] if args.all else
                                                 [max(heads[p], key=lambda h: h.checkpoint.size)])]
    if args.out:
        save_notes(Path(args.out), [h.note for h in chosen])
        print(f"{len(chosen)} checkpoints appended to {args.out}")
    else:
        sys.stdout.write("\n".join(h.note for h in chosen))
    return 0 if not findings else 2


def cmd_proof_inclusion(args: argparse.Namespace) -> int:
    from pipeline.archive_logs import ProofUnavailable, inclusion, verifier_of
    from pipeline.core.archive_log import archive_partition

    s = _settings()
    partitions = None
    if args.operator:  # all of an operator's records are in one archive partition (the validator's rule)
        partitions = [archive_partition(args.operator, s.topics.archive_partitions)]
    try:
        doc = inclusion(s, args.receipt_id, verifier_of(s, args.key), partitions)
    except ProofUnavailable as exc:
        print(f"no proof: {exc}", file=sys.stderr)
        return 2
    _emit(doc, args.out)
    return 0


def cmd_proof_consistency(args: argparse.Namespace) -> int:
    from pipeline.archive_logs import ProofUnavailable, consistency, verifier_of
    from pipeline.core.checkpoint import NoteError

    s = _settings()
    try:
        doc = consistency(s, Path(args.old).read_text(), Path(args.new).read_text(), verifier_of(s, args.key))
    except (ProofUnavailable, NoteError, OSError) as exc:
        print(f"no proof: {exc}", file=sys.stderr)
        return 2
    _emit(doc, args.out)
    return 0


def cmd_verify_archive(args: argparse.Namespace) -> int:
    from pipeline.archive import verify_archive
    from pipeline.archive_logs import verifier_of
    from pipeline.core.checkpoint import NoteError, split_notes
    from pipeline.security.archive_key import ArchiveKeyError

    s = _settings()
    try:
        verifier = verifier_of(s, args.key)
        witness: list[tuple[str, str]] = []
        for path in args.witness:
            notes = split_notes(Path(path).read_text())
            witness += [(f"{path} #{i + 1}", n) for i, n in enumerate(notes)]
    except (ArchiveKeyError, NoteError, OSError) as exc:
        print(f"dsom verify-archive: {exc}", file=sys.stderr)
        return 2
    report = verify_archive(s, verifier, witness)
    if args.guard:
        from pipeline.security.archive_guard import read_guard

        as_admin = s.kafka_as("admin") if s.kafka.security_protocol == "SSL" else s.kafka
        report.findings += read_guard(s.topics, as_admin)
    dupes = sum(1 for n in report.event_ids.values() if n > 1)
    if dupes:
        report.findings.append(f"events archived more than once: {dupes}")
    logs = report.logs
    assert logs is not None
    signed = sum(logs.verified.values())
    unsigned = sum(logs.leaves.values()) - signed
    print(f"archive: {report.events} events in {report.records} records, {len(report.chains)} hash chains; "
          f"{len(logs.leaves)} partition logs, {logs.checkpoints} checkpoints "
          f"({len(witness)} from witnesses), "
          f"{signed} records covered by a verified checkpoint, {unsigned} newer than the last one")
    if not witness:
        print("note: without --witness, an archive erased together with its checkpoints topic "
              "cannot be told from an empty one", file=sys.stderr)
    for f in report.findings:
        print(f"FINDING: {f}", file=sys.stderr)
    if report.findings:
        print(f"ARCHIVE DOES NOT VERIFY: {len(report.findings)} findings", file=sys.stderr)
        return 2
    return 0


def cmd_archive_guard(args: argparse.Namespace) -> int:
    """Watch the archive's and checkpoints' ACLs and settings; record each change (docs/archive.md)."""
    import signal
    import threading

    from pipeline import metrics
    from pipeline.archive_guard_service import ArchiveGuard, broker_look, kafka_send
    from pipeline.core.alert_rules import AlertRules
    from registry.service import RegistryService

    s = _settings()
    kafka = s.kafka_as("archive-guard") if s.kafka.security_protocol == "SSL" else s.kafka
    guard = ArchiveGuard(s.topics, RegistryService.from_settings(s), broker_look(s.topics, kafka),
                         AlertRules.load(s.alerts.rules_path), kafka_send(s.topics, kafka),
                         pipeline_principal=s.kafka.principal("pipeline"))
    metrics.serve(s.metrics_host, s.archive.guard_metrics_port)
    interval = args.interval or s.archive.guard_interval_s
    print(f"archive guard: looking at {s.topics.archive} and {s.topics.checkpoints} every {interval} s; "
          f"changes go to the registry's audit log, rules broken to {s.topics.alerts}", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        guard.run(stop, interval)
    except KeyboardInterrupt:
        pass
    return 0


def _archive_batches(s: Settings) -> Any:
    from pipeline.kafka.reader import read_to_end, topic_partitions
    from schemas import ARCHIVE_BATCH, default_codec

    codec = default_codec()
    group = s.topics.reader_group
    tps = topic_partitions(s.kafka, s.topics.archive.replace(".", r"\."), group=group)
    for msg in read_to_end(s.kafka, tps, group=group):
        try:
            yield codec.decode(msg.value() or b"", expect=ARCHIVE_BATCH)[1]
        except ValueError:  # dsom verify-archive reports it; ClickHouse cannot hold it either
            continue


def _time_us(text: str) -> int:
    import datetime as dt

    t = dt.datetime.fromisoformat(text)
    return int((t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp() * 1_000_000)


def cmd_verify_clickhouse(args: argparse.Namespace) -> int:
    """Recompute each operator's hourly counts, sums and row digests from the archive; compare."""
    from pipeline.core.reconcile import archive_bucket_rows, archive_totals
    from sinks.clickhouse.client import ClickHouseUnavailableError, connect
    from sinks.clickhouse.reconcile import reconcile

    s = _settings()
    try:
        from_us, to_us = _time_us(args.since), _time_us(args.until)
    except ValueError as exc:
        print(f"dsom verify-clickhouse: {exc}", file=sys.stderr)
        return 2
    try:
        client = connect(s.clickhouse)
    except ClickHouseUnavailableError as exc:
        print(f"dsom verify-clickhouse: {exc}", file=sys.stderr)
        return 2
    try:
        # Two reads of the archive only when something differs: rows are kept for those buckets alone.
        result = reconcile(client, s.clickhouse.database, from_us, to_us,
                           archive_totals(_archive_batches(s), from_us, to_us),
                           lambda buckets: archive_bucket_rows(_archive_batches(s), from_us, to_us, buckets))
    finally:
        client.close()
    print(f"clickhouse: {result.rows} archived events in {result.buckets} (operator, hour) buckets compared; "
          f"{len(result.differing)} differ")
    for f in result.findings:
        print(f"FINDING: {f}", file=sys.stderr)
    return 2 if result.differing else 0


def register(sub: Any) -> None:
    """Add the commands to ``dsom``'s subparsers."""
    key_help = "verifier key file (default: signing.vkey in the archive key folder)"
    ak = sub.add_parser("archive-key", help="the archive's Ed25519 signing key (apart from the TLS CA)")
    aksub = ak.add_subparsers(dest="archive_key_command", required=True)
    aksub.add_parser("init", help="create the signing key (kept if it exists)") \
        .set_defaults(func=cmd_key_init)
    aksub.add_parser("show", help="print the verifier key to hand to third parties") \
        .set_defaults(func=cmd_key_show)

    ar = sub.add_parser("archive", help="the archive's signed checkpoints")
    arsub = ar.add_subparsers(dest="archive_command", required=True)
    cps = arsub.add_parser("checkpoints", help="export signed checkpoints (a witness keeps them)")
    cps.add_argument("--all", action="store_true", help="every checkpoint, not only the latest per partition")
    cps.add_argument("--out", help="append to this file instead of printing")
    cps.add_argument("--key", type=Path, help=key_help)
    cps.set_defaults(func=cmd_checkpoints)

    pr = sub.add_parser("proof", help="Merkle proofs a third party verifies with tools/verify_proof.py")
    prsub = pr.add_subparsers(dest="proof_command", required=True)
    inc = prsub.add_parser("inclusion", help="prove an accepted receipt's record is in a signed checkpoint")
    inc.add_argument("receipt_id")
    inc.add_argument("--operator", help="the receipt's operator (reads one archive partition, not all)")
    inc.add_argument("--out")
    inc.add_argument("--key", type=Path, help=key_help)
    inc.set_defaults(func=cmd_proof_inclusion)
    con = prsub.add_parser("consistency", help="prove a newer checkpoint extends an older one")
    con.add_argument("old", help="file holding the older checkpoint (a signed note)")
    con.add_argument("new", help="file holding the newer checkpoint")
    con.add_argument("--out")
    con.add_argument("--key", type=Path, help=key_help)
    con.set_defaults(func=cmd_proof_consistency)

    ag = sub.add_parser("archive-guard", help="watch who may change the archive: each ACL or setting change "
                        "on the archive or checkpoints goes to the audit log, the log and the metrics")
    ag.add_argument("--interval", type=float, help="seconds between looks (default: "
                    "archive.guard_interval_s)")
    ag.set_defaults(func=cmd_archive_guard)

    vc = sub.add_parser("verify-clickhouse", help="compare ClickHouse's events with the archive, per "
                        "operator and hour (needs the chdb folder free)")
    vc.add_argument("--since", required=True, help="start of the period (ISO 8601; UTC if no zone)")
    vc.add_argument("--until", required=True, help="end of the period, excluded")
    vc.set_defaults(func=cmd_verify_clickhouse)


def register_verify_archive(sub: Any) -> None:
    v = sub.add_parser("verify-archive", help="verify the archive: hash chains, Merkle logs, checkpoints")
    v.add_argument("--key", type=Path,
                   help="verifier key file (default: signing.vkey in the archive key folder)")
    v.add_argument("--witness", action="append", default=[], metavar="FILE",
                   help="checkpoints saved earlier (dsom archive checkpoints --out); repeatable")
    v.add_argument("--guard", action="store_true", help="also check, as admin, who may write or delete the "
                   "archive and checkpoints and that the archive's retention keeps everything")
    v.set_defaults(func=cmd_verify_archive)
