"""Read queries over the sink's tables: summaries for the demo and reports, resume points for the sink.

Plain SQL with clickhouse-connect parameters (``{name:Type}``, bound by the server or chdb).
Money comes back as integer kopecks and times as integer microseconds, never floats.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.binding import quote_identifier

from sinks.clickhouse.tables import TABLES, Table

TP = tuple[str, int]

EVENT_SUMMARY = """
SELECT operator_id, kind, count() AS events, sum(amount) AS amount
FROM {db:Identifier}.events
GROUP BY operator_id, kind
ORDER BY operator_id, kind
"""

REJECTION_SUMMARY = """
SELECT operator_id, reason, count() AS rejections
FROM {db:Identifier}.rejections
GROUP BY operator_id, reason
ORDER BY operator_id, reason
"""

# GGR = stakes accepted - stakes refunded - winnings paid; deposits and withdrawals are not part of it.
GGR_BY_OPERATOR = """
SELECT operator_id, licence_kind,
       sumIf(amount, kind = 'BET') AS stakes,
       sumIf(amount, kind = 'REFUND') AS refunds,
       sumIf(amount, kind = 'WIN') AS winnings,
       stakes - refunds - winnings AS ggr,
       sumIf(tax_withheld_pit, kind = 'WIN') AS pit_withheld,
       sumIf(tax_withheld_military, kind = 'WIN') AS military_withheld
FROM {db:Identifier}.events
WHERE kind IN ('BET', 'REFUND', 'WIN')
  AND occurred_at >= fromUnixTimestamp64Micro({since_us:Int64}, 'UTC')
  AND occurred_at < fromUnixTimestamp64Micro({until_us:Int64}, 'UTC')
GROUP BY operator_id, licence_kind
ORDER BY operator_id, licence_kind
"""

MAX_SRC_OFFSETS = """
SELECT src_topic, src_partition, max(src_offset)
FROM {db:Identifier}.{table:Identifier}
GROUP BY src_topic, src_partition
"""

STORED_KEYS = """
SELECT src_offset, {key:Identifier}
FROM {db:Identifier}.{table:Identifier}
WHERE src_topic = {topic:String} AND src_partition = {partition:UInt16}
  AND src_offset BETWEEN {first:UInt64} AND {last:UInt64}
LIMIT {limit:UInt64}
"""


def event_summary(client: Any, database: str) -> list[tuple[str, str, int, int]]:
    """``(operator_id, kind, events, amount in kopecks)`` over all stored events."""
    rows = client.query(EVENT_SUMMARY, parameters={"db": database}).result_rows
    return [(str(op), str(kind), int(n), int(amount)) for op, kind, n, amount in rows]


def rejection_summary(client: Any, database: str) -> list[tuple[str, str, int]]:
    """``(operator_id, reason, rejections)`` over all stored rejections."""
    rows = client.query(REJECTION_SUMMARY, parameters={"db": database}).result_rows
    return [(str(op), str(reason), int(n)) for op, reason, n in rows]


def ggr_by_operator(client: Any, database: str, since_us: int = 0,
                    until_us: int = 2**62) -> list[dict[str, Any]]:
    """Stakes, refunds, winnings, GGR and withheld taxes (kopecks) per operator and licence kind.

    Over the events that occurred in ``[since_us, until_us)`` (UTC microseconds).
    """
    result = client.query(GGR_BY_OPERATOR, parameters={"db": database, "since_us": since_us,
                                                       "until_us": until_us})
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


def table_counts(client: Any, database: str) -> dict[str, int]:
    """Rows per sink table."""
    return {t.name: int(client.command(f"SELECT count() FROM {_qualified(database, t)}"))
            for t in TABLES}


def max_src_offsets(client: Any, database: str, table: Table) -> dict[TP, int]:
    """Highest Kafka offset stored per source (topic, partition); answered by the projection."""
    rows = client.query(MAX_SRC_OFFSETS, parameters={"db": database, "table": table.name}).result_rows
    return {(str(topic), int(partition)): int(offset) for topic, partition, offset in rows}


def stored_keys(client: Any, database: str, table: Table, tp: TP, first: int, last: int,
                limit: int) -> dict[int, set[Any]] | None:
    """Row keys (``table.key_column``) stored per offset of ``tp`` in ``[first, last]``.

    None when there are more than ``limit`` rows (the caller decides what to do instead).
    """
    rows = client.query(STORED_KEYS, parameters={
        "db": database, "table": table.name, "key": table.key_column, "topic": tp[0],
        "partition": tp[1], "first": first, "last": last, "limit": limit + 1}).result_rows
    if len(rows) > limit:
        return None
    keys: dict[int, set[Any]] = {}
    for offset, key in rows:
        keys.setdefault(int(offset), set()).add(key)
    return keys


def _qualified(database: str, table: Table) -> str:
    return f"{quote_identifier(database)}.{quote_identifier(table.name)}"


# Window start expressions over ggr_hourly.hour (a UTC DateTime), as UTC microseconds.
WINDOWS = {
    "hour": "hour",
    "day": "toStartOfDay(hour)",
    "month": "toDateTime(toStartOfMonth(hour), 'UTC')",
    "kyiv_day": "toStartOfDay(toTimeZone(hour, 'Europe/Kyiv'))",
    "kyiv_month": "toDateTime(toStartOfMonth(toTimeZone(hour, 'Europe/Kyiv')), 'Europe/Kyiv')",
}

GGR_WINDOWS = """
SELECT toInt64(toUnixTimestamp({window})) * 1000000 AS window_start_us,
       operator_id, licence_kind, game_type,
       sum(stakes) AS stakes, sum(refunds) AS refunds, sum(winnings) AS winnings,
       stakes - refunds - winnings AS ggr, sum(bets) AS bets, sum(payouts) AS payouts,
       uniqExactMerge(players) AS active_players
FROM {{db:Identifier}}.ggr_hourly
WHERE hour >= fromUnixTimestamp64Micro({{since_us:Int64}}, 'UTC')
  AND hour < fromUnixTimestamp64Micro({{until_us:Int64}}, 'UTC')
  AND ({{operator:String}} = '' OR operator_id = {{operator:String}})
GROUP BY window_start_us, operator_id, licence_kind, game_type
ORDER BY window_start_us, operator_id, licence_kind, game_type
"""

TAX_SUMMARY = """
SELECT operator_id, countIf(record_type = 'payout') AS payouts,
       sumIf(amount, record_type = 'payout') AS winnings,
       sumIf(pit_due, record_type = 'payout') AS pit_due,
       sumIf(military_due, record_type = 'payout') AS military_due,
       sumIf(pit_withheld, record_type = 'payout') AS pit_withheld,
       sumIf(military_withheld, record_type = 'payout') AS military_withheld,
       countIf(record_type = 'discrepancy') AS discrepancies
FROM {db:Identifier}.tax_events
WHERE record_type IN ('payout', 'discrepancy')
GROUP BY operator_id
ORDER BY operator_id
"""

LATEST_STATEMENTS = """
SELECT * FROM {db:Identifier}.ggr_statements ORDER BY operator_id, period
"""


def _dicts(result: Any) -> list[dict[str, Any]]:
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


def ggr_windows(client: Any, database: str, granularity: str, since_us: int = 0, until_us: int = 2**62,
                operator_id: str | None = None) -> list[dict[str, Any]]:
    """GGR per window, operator, licence kind and game type, with active players (distinct bettors).

    Windows: ``hour``, ``day``, ``month`` (UTC); ``kyiv_day``, ``kyiv_month`` (Kyiv local).
    Only whole hours in ``[since_us, until_us)`` count. Money in kopecks, times in UTC µs.
    """
    if granularity not in WINDOWS:
        raise ValueError(f"granularity must be one of {', '.join(WINDOWS)}")
    sql = GGR_WINDOWS.format(window=WINDOWS[granularity])
    return _dicts(client.query(sql, parameters={"db": database, "since_us": since_us,
                                                "until_us": until_us, "operator": operator_id or ""}))


def tax_summary(client: Any, database: str) -> list[dict[str, Any]]:
    """Winnings tax per operator from the individual payouts on tax-events (kopecks)."""
    return _dicts(client.query(TAX_SUMMARY, parameters={"db": database}))


def latest_statements(client: Any, database: str) -> list[dict[str, Any]]:
    """The highest revision of every GGR statement (operator, period)."""
    return _dicts(client.query(LATEST_STATEMENTS, parameters={"db": database}))
