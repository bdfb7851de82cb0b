"""Reconciling ClickHouse with the archive: per operator and hour, counts, sums and a row digest.

Pure. The archive is the record; ClickHouse is a copy every report reads, and can be edited by
whoever holds its credentials. Each ``events`` row is reduced to a canonical line (the fields
below, joined by 0x1F) and hashed; a bucket's digest is the sum of its rows' hashes' first 8
bytes (little-endian, modulo 2^64), which ClickHouse computes itself in SQL
(sinks/clickhouse/reconcile.py), so only the buckets are compared over the wire. The sum is
order-free, and a changed, missing or extra row changes it unless a forger finds a 64-bit
collision. A bucket that differs is then compared row by row, by receipt ID.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

HOUR_US = 3_600_000_000
SEP = "\x1f"
# The columns compared, in order: what every figure and report is computed from.
FIELDS = ("receipt_id", "operator_id", "source_id", "seq", "kind", "amount", "occurred_at_us", "player_ref",
          "licence_id", "operator_ref", "bet_ref", "tax_withheld_pit", "tax_withheld_military", "chain_id",
          "chain_index")
MASK = (1 << 64) - 1
Bucket = tuple[str, int]  # (operator, hour: occurred_at_us // HOUR_US)


def archive_rows(batch: dict[str, Any], from_us: int, to_us: int) -> Iterable[tuple[Bucket, str, str, int]]:
    """(bucket, receipt ID, canonical line, amount) of each event in ``[from_us, to_us)`` of a batch.

    The values as the ClickHouse sink stores them (sinks/clickhouse/rows.py): absent taxes are 0.
    """
    for archived in batch["events"]:
        ev = archived["event"]
        if not from_us <= ev["occurred_at_us"] < to_us:
            continue
        values = (archived["receipt_id"], batch["operator_id"], batch["source_id"], ev["seq"], ev["kind"],
                  ev["amount"], ev["occurred_at_us"], ev["player_ref"], ev["licence_id"], ev["operator_ref"],
                  ev["bet_ref"] or "", ev["tax_withheld_pit"] or 0, ev["tax_withheld_military"] or 0,
                  batch["chain_id"], archived["chain_index"])
        line = SEP.join(str(v) for v in values)
        bucket = (batch["operator_id"], ev["occurred_at_us"] // HOUR_US)
        yield bucket, archived["receipt_id"], line, ev["amount"]


def row_hash(line: str) -> int:
    return int.from_bytes(hashlib.sha256(line.encode()).digest()[:8], "little")


@dataclass
class Totals:
    rows: int = 0
    amount: int = 0
    digest: int = 0

    def add(self, line: str, amount: int) -> None:
        self.rows += 1
        self.amount += amount
        self.digest = (self.digest + row_hash(line)) & MASK


@dataclass
class Reconciliation:
    """Buckets that differ and the rows found to differ in them, each a sentence."""

    buckets: int = 0
    rows: int = 0
    differing: list[Bucket] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


def archive_totals(batches: Iterable[dict[str, Any]], from_us: int, to_us: int) -> dict[Bucket, Totals]:
    totals: dict[Bucket, Totals] = {}
    for batch in batches:
        for bucket, _, line, amount in archive_rows(batch, from_us, to_us):
            totals.setdefault(bucket, Totals()).add(line, amount)
    return totals


def archive_bucket_rows(batches: Iterable[dict[str, Any]], from_us: int, to_us: int,
                        buckets: set[Bucket]) -> dict[Bucket, dict[str, str]]:
    """{bucket: {receipt ID: canonical line}} of the given buckets only."""
    out: dict[Bucket, dict[str, str]] = {}
    for batch in batches:
        for bucket, receipt, line, _ in archive_rows(batch, from_us, to_us):
            if bucket in buckets:
                out.setdefault(bucket, {})[receipt] = line
    return out


def compare_buckets(archive: dict[Bucket, Totals], clickhouse: dict[Bucket, Totals]) -> Reconciliation:
    out = Reconciliation(buckets=len(archive), rows=sum(t.rows for t in archive.values()))
    for bucket in sorted(archive.keys() | clickhouse.keys()):
        a, c = archive.get(bucket, Totals()), clickhouse.get(bucket, Totals())
        if (a.rows, a.amount, a.digest) != (c.rows, c.amount, c.digest):
            out.differing.append(bucket)
    return out


def hour_text(hour: int) -> str:
    import datetime as dt  # noqa: PLC0415 - only for messages

    return dt.datetime.fromtimestamp(hour * 3600, dt.UTC).strftime("%Y-%m-%d %H:00Z")


def locate(bucket: Bucket, archive: dict[str, str], clickhouse: list[tuple[str, str]]) -> list[str]:
    """Name each row of one bucket that was edited, deleted, inserted or duplicated in ClickHouse."""
    where = f"operator {bucket[0]}, hour {hour_text(bucket[1])}"
    found: list[str] = []
    seen: dict[str, int] = {}
    for receipt, line in clickhouse:
        seen[receipt] = seen.get(receipt, 0) + 1
        want = archive.get(receipt)
        if want is None:
            found.append(f"{where}: row {receipt} is in ClickHouse but not in the archive (inserted)")
        elif want != line:
            diffs = [f"{name} {a!r} in the archive, {c!r} in ClickHouse" for name, a, c in
                     zip(FIELDS, want.split(SEP), line.split(SEP), strict=False) if a != c]
            found.append(f"{where}: row {receipt} was edited: {'; '.join(diffs)}")
    for receipt, n in seen.items():
        if n > 1 and receipt in archive:
            found.append(f"{where}: row {receipt} is in ClickHouse {n} times")
    for receipt in archive.keys() - seen.keys():
        found.append(f"{where}: row {receipt} of the archive is missing from ClickHouse (deleted)")
    if not found:
        found.append(f"{where}: totals differ but no row could be pinned (rows moved between hours?)")
    return found
