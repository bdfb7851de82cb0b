"""Read queries over the sink's tables: summaries for the demo and reports, GGR windows, taxes, resume points.

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


BATCH_TOKENS = """
SELECT DISTINCT ingest_token
FROM {db:Identifier}.{table:Identifier}
WHERE src_topic = {topic:String} AND src_partition = {partition:UInt16}
  AND src_offset BETWEEN {first:UInt64} AND {last:UInt64} AND ingest_token != ''
"""


def batch_tokens(client: Any, database: str, table: Table, tp: TP, first: int, last: int) -> list[str]:
    """The deduplication tokens of the batches whose rows of ``tp`` lie in ``[first, last]``."""
    rows = client.query(BATCH_TOKENS, parameters={
        "db": database, "table": table.name, "topic": tp[0], "partition": tp[1], "first": first,
        "last": last}).result_rows
    return sorted(str(r[0]) for r in rows)


def _qualified(database: str, table: Table) -> str:
    return f"{quote_identifier(database)}.{quote_identifier(table.name)}"


# Start of the time window a UTC DateTime ``{t}`` falls in, per granularity. Kyiv's offset from
# UTC is always a whole number of hours, so every UTC hour lies inside one Kyiv day and month:
# hourly rollups roll up exactly into Kyiv days and months.
KYIV = "Europe/Kyiv"  # chdb 26.9 knows it (and the old 'Europe/Kiev')
WINDOW_STARTS = {
    "minute": "toStartOfMinute({t})",
    "hour": "toStartOfHour({t})",
    "day": "toStartOfDay({t})",
    "month": "toDateTime(toStartOfMonth({t}), 'UTC')",
    "kyiv_day": f"toStartOfDay({{t}}, '{KYIV}')",
    "kyiv_month": f"toDateTime(toStartOfMonth({{t}}, '{KYIV}'), '{KYIV}')",
}
# Over ggr_hourly.hour: an hour and coarser.
WINDOWS = {name: WINDOW_STARTS[name].format(t="hour") for name in
           ("hour", "day", "month", "kyiv_day", "kyiv_month")}

_GGR_FILTER = """
WHERE hour >= fromUnixTimestamp64Micro({{since_us:Int64}}, 'UTC')
  AND hour < fromUnixTimestamp64Micro({{until_us:Int64}}, 'UTC')
  AND ({{operator:String}} = '' OR operator_id = {{operator:String}})
"""

# sum(x) AS x shadows the column: the GGR expression below uses the sums.
GGR_WINDOWS = """
SELECT toInt64(toUnixTimestamp({window})) * 1000000 AS window_start_us,
       operator_id, licence_kind, game_type,
       sum(stakes) AS stakes, sum(refunds) AS refunds, sum(winnings) AS winnings,
       stakes - refunds - winnings AS ggr, sum(bets) AS bets, sum(payouts) AS payouts,
       uniqExactMerge(players) AS active_players
FROM {{db:Identifier}}.ggr_hourly""" + _GGR_FILTER + """
GROUP BY window_start_us, operator_id, licence_kind, game_type
ORDER BY window_start_us, operator_id, licence_kind, game_type
"""

# Per operator: the players states merge across licence kinds and game types, so a player
# who bet on two games counts once.
GGR_BY_OPERATOR_PERIOD = """
SELECT toInt64(toUnixTimestamp({window})) * 1000000 AS window_start_us, operator_id,
       sum(stakes) AS stakes, sum(refunds) AS refunds, sum(winnings) AS winnings,
       stakes - refunds - winnings AS ggr, sum(bets) AS bets, sum(payouts) AS payouts,
       uniqExactMerge(players) AS active_players
FROM {{db:Identifier}}.ggr_hourly""" + _GGR_FILTER + """
GROUP BY window_start_us, operator_id
ORDER BY window_start_us, operator_id
"""

TAX_SUMMARY = """
SELECT operator_id, count() AS payouts, sum(amount) AS winnings,
       sum(pit_due) AS pit_due, sum(military_due) AS military_due,
       sum(pit_withheld) AS pit_withheld, sum(military_withheld) AS military_withheld,
       toUInt64(sum(discrepancy)) AS discrepancies
FROM {db:Identifier}.payout_taxes
GROUP BY operator_id
ORDER BY operator_id
"""

LATEST_STATEMENTS = """
SELECT operator_id, period, toUnixTimestamp64Micro(period_start) AS period_start_us,
       toUnixTimestamp64Micro(period_end) AS period_end_us, revision, toString(status) AS status,
       stakes, refunds, winnings, ggr, bets, payouts, ggr_tax_rate_ppm, ggr_tax_due,
       pit_due, military_due, pit_withheld, military_withheld, discrepancies,
       toUnixTimestamp64Micro(issued_at) AS issued_at_us
FROM {db:Identifier}.ggr_statements
ORDER BY operator_id, period
"""


def _dicts(result: Any) -> list[dict[str, Any]]:
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


def _window(granularity: str) -> str:
    if granularity not in WINDOWS:
        raise ValueError(f"granularity must be one of {', '.join(WINDOWS)}, not {granularity!r}")
    return WINDOWS[granularity]


def ggr_windows(client: Any, database: str, granularity: str, since_us: int = 0, until_us: int = 2**62,
                operator_id: str | None = None) -> list[dict[str, Any]]:
    """GGR per window, operator, licence kind and game type, with active players (distinct bettors).

    Windows: ``hour``, ``day``, ``month`` (UTC); ``kyiv_day``, ``kyiv_month`` (Kyiv local).
    Rows: ``window_start_us`` (UTC microseconds), ``operator_id``, ``licence_kind``,
    ``game_type``, ``stakes``, ``refunds``, ``winnings``, ``ggr`` (kopecks), ``bets``,
    ``payouts``, ``active_players``. Over the hours that start in ``[since_us, until_us)``
    (a window cut by the bounds holds only those hours).
    """
    sql = GGR_WINDOWS.format(window=_window(granularity))
    return _dicts(client.query(sql, parameters={"db": database, "since_us": since_us,
                                                "until_us": until_us, "operator": operator_id or ""}))


def ggr_by_operator_period(client: Any, database: str, granularity: str, since_us: int = 0,
                           until_us: int = 2**62) -> list[dict[str, Any]]:
    """As :func:`ggr_windows`, per window and operator only (every licence kind and game type)."""
    sql = GGR_BY_OPERATOR_PERIOD.format(window=_window(granularity))
    return _dicts(client.query(sql, parameters={"db": database, "since_us": since_us,
                                                "until_us": until_us, "operator": ""}))


def tax_summary(client: Any, database: str) -> list[dict[str, Any]]:
    """Winnings tax per operator from the individual payouts on tax-events (kopecks).

    ``payouts``, ``winnings``, ``pit_due``, ``military_due``, ``pit_withheld``,
    ``military_withheld``, and ``discrepancies`` (payouts flagged as one).
    """
    return _dicts(client.query(TAX_SUMMARY, parameters={"db": database}))


def latest_statements(client: Any, database: str) -> list[dict[str, Any]]:
    """The highest revision of every GGR statement (operator, period); times in UTC µs."""
    return _dicts(client.query(LATEST_STATEMENTS, parameters={"db": database}))


# Each alert's latest change (its current state), newest first; an empty operator means all.
LATEST_ALERTS = """
SELECT alert_id, state, rule, rule_version, severity, subject_kind, subject, operator_id, licence_kind,
       toUnixTimestamp64Micro(opened_at) AS opened_at_us, toUnixTimestamp64Micro(at) AS at_us,
       amounts, measures, summary
FROM {db:Identifier}.alerts
WHERE ({operator:String} = '' OR operator_id = {operator:String})
  AND ({alert:String} = '' OR alert_id = {alert:String})
  AND rule NOT IN {without:Array(String)}
ORDER BY at DESC, src_offset DESC
LIMIT 1 BY alert_id
LIMIT {limit:UInt32}
"""

# Per operator and rule: how many alerts there are and how many are open (the regulator's view
# of per-player rules, e.g. responsible gambling, whose subjects it does not see).
ALERT_COUNTS = """
SELECT operator_id, alert_rule AS rule, count() AS alerts, countIf(state != 'RESOLVED') AS still_open
FROM (
    SELECT alert_id, argMax(state, (at, src_offset)) AS state, any(operator_id) AS operator_id,
           any(rule) AS alert_rule
    FROM {db:Identifier}.alerts
    WHERE rule IN {rules:Array(String)}
    GROUP BY alert_id
)
GROUP BY operator_id, alert_rule
ORDER BY operator_id, rule
"""


def latest_alerts(client: Any, database: str, operator_id: str | None = None, alert_id: str | None = None,
                  without_rules: tuple[str, ...] = (), limit: int = 500) -> list[dict[str, Any]]:
    """Each alert's latest record (its fields as in ``ua.dsom.v1.Alert``), newest change first."""
    result = client.query(LATEST_ALERTS, parameters={
        "db": database, "operator": operator_id or "", "alert": alert_id or "",
        "without": list(without_rules), "limit": limit})
    rows = _dicts(result)
    for r in rows:
        r["opened_at_us"], r["at_us"] = int(r["opened_at_us"]), int(r["at_us"])
    return rows


def alert_counts(client: Any, database: str, rules: tuple[str, ...]) -> list[dict[str, Any]]:
    """Alerts and open alerts per operator for ``rules``."""
    return _dicts(client.query(ALERT_COUNTS, parameters={"db": database, "rules": list(rules)}))
