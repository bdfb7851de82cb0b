"""The demo's closing summary: what ClickHouse holds, and whether the archive verifies."""

from __future__ import annotations

from collections import defaultdict

from pipeline.archive import verify_archive
from pipeline.archive_logs import verifier_of
from pipeline.core.checkpoint import Verifier
from pipeline.security.archive_key import ArchiveKeyError
from pipeline.settings import KafkaSettings, Settings
from pipeline.tax_service import print_ledger, read_ledger, uah
from sinks.clickhouse.client import connect
from sinks.clickhouse.queries import event_summary, ggr_by_operator, rejection_summary


def print_summary(settings: Settings, tax_service: KafkaSettings | None = None) -> None:
    """Print events and amounts per operator and kind, rejections by reason, archive check."""
    client = connect(settings.clickhouse)
    try:
        events = event_summary(client, settings.clickhouse.database)
        rejections = rejection_summary(client, settings.clickhouse.database)
        ggr = ggr_by_operator(client, settings.clickhouse.database)
    finally:
        client.close()
    print("\n== ClickHouse: accepted events per operator and kind of operation (amounts in UAH)")
    print(f"{'operator':<28} {'kind':<11} {'events':>10} {'amount':>20}")
    for op, kind, n, amount in events:
        print(f"{op:<28} {kind:<11} {n:>10,} {uah(amount):>20}")
    print(f"{'total':<40} {sum(n for _, _, n, _ in events):>10,}")
    print("\n== ClickHouse: GGR per operator and licence kind, all periods (UAH)")
    print(f"{'operator':<28} {'stakes':>16} {'refunds':>14} {'winnings':>16} {'GGR':>15} "
          f"{'PIT withheld':>14}")
    for row in ggr:
        print(f"{row['operator_id']:<28} {uah(row['stakes']):>16} {uah(row['refunds']):>14} "
              f"{uah(row['winnings']):>16} {uah(row['ggr']):>15} {uah(row['pit_withheld']):>14}")
    by_reason: dict[str, int] = defaultdict(int)
    for _, reason, n in rejections:
        by_reason[reason] += n
    print("\n== ClickHouse: rejections by reason (all operators)")
    for reason, n in sorted(by_reason.items(), key=lambda item: -item[1]):
        print(f"{reason:<28} {n:>10,}")
    try:
        verifier: Verifier | None = verifier_of(settings)
    except ArchiveKeyError:  # no signing key made: the chains are checked, the Merkle logs not
        verifier = None
    report = verify_archive(settings, verifier)
    twice = sum(1 for n in report.event_ids.values() if n > 1)
    logs = report.logs
    signed = f"; {logs.checkpoints} signed checkpoints verified over {len(logs.leaves)} partition logs" \
        if logs is not None else ""
    print(f"\n== archive: {report.events:,} events in {len(report.chains)} hash chains{signed}; "
          f"archived more than once: {twice}")
    for finding in report.findings:
        print(f"FINDING: {finding}")
    print("ARCHIVE DOES NOT VERIFY\n" if report.findings else "verified from genesis\n")
    # Read tax-events as the State Tax Service does (with its own key, where TLS is on).
    as_tax_service = settings.model_copy(update={"kafka": tax_service}) if tax_service else settings
    print_ledger(read_ledger(as_tax_service))
