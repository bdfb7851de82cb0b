"""ClickHouse's side of ``dsom verify-clickhouse``: bucket totals and rows, computed in SQL.

The canonical line and its hash are built by ClickHouse itself (``SHA256`` of the fields
joined by 0x1F), matching pipeline.core.reconcile, so a check of a period moves one row per
(operator, hour) over the wire, and rows only for the buckets that differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.core.reconcile import FIELDS, HOUR_US, Bucket, Reconciliation, Totals, compare_buckets, locate

_EXPR = {"occurred_at_us": "toUnixTimestamp64Micro(occurred_at)"}
LINE = "concat(" + ", '\\x1F', ".join(f"toString({_EXPR.get(f, f)})" for f in FIELDS) + ")"
HOUR = f"intDiv(toUnixTimestamp64Micro(occurred_at), {HOUR_US})"


def bucket_totals(client: Any, database: str, from_us: int, to_us: int) -> dict[Bucket, Totals]:
    rows = client.query(
        f"SELECT toString(operator_id), {HOUR}, count(), sum(amount), "
        f"sum(reinterpretAsUInt64(substring(SHA256({LINE}), 1, 8))) FROM {database}.events "
        f"WHERE occurred_at >= fromUnixTimestamp64Micro({from_us}) "
        f"AND occurred_at < fromUnixTimestamp64Micro({to_us}) GROUP BY 1, 2").result_rows
    return {(op, int(h)): Totals(int(n), int(amount), int(digest)) for op, h, n, amount, digest in rows}


def bucket_rows(client: Any, database: str, bucket: Bucket) -> list[tuple[str, str]]:
    rows = client.query(
        f"SELECT receipt_id, {LINE} FROM {database}.events "
        f"WHERE operator_id = {{op:String}} AND {HOUR} = {{h:Int64}}",
        parameters={"op": bucket[0], "h": bucket[1]}).result_rows
    return [(r, line) for r, line in rows]


def reconcile(client: Any, database: str, from_us: int, to_us: int,
              archive: dict[Bucket, Totals],
              archive_rows_of: Callable[[set[Bucket]], dict[Bucket, dict[str, str]]]) -> Reconciliation:
    """Compare; for each differing bucket, ``archive_rows_of(buckets)`` gives {bucket: {receipt: line}}."""
    result = compare_buckets(archive, bucket_totals(client, database, from_us, to_us))
    if result.differing:
        rows: dict[Bucket, dict[str, str]] = archive_rows_of(set(result.differing))
        for bucket in result.differing:
            result.findings += locate(bucket, rows.get(bucket, {}), bucket_rows(client, database, bucket))
    return result
