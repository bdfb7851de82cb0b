"""Pre-aggregated tables the reports read, kept by ClickHouse materialized views over ``events``.

A report over 100 million events must answer in about a second, so no report scans ``events``:
each reads a rollup whose rows are per hour, minute or day and per operator (and the few
dimensions the report groups by). All rollups follow ``ggr_hourly``'s rules (see ``tables.py``):

- AggregatingMergeTree with ``non_replicated_deduplication_window``, and the sink inserts with
  ``deduplicate_blocks_in_dependent_materialized_views``: a retried ``events`` insert is dropped
  here too, so nothing is counted twice.
- A rollup whose view is missing (a database made by an earlier version, or a view dropped on
  purpose) is emptied and rebuilt from ``events`` before its view is created.
- Money is Int64 kopecks; durations are Int64 microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_DEDUP = "non_replicated_deduplication_window = 10000"
# Quantiles of durations and stakes: t-digest states are small and merge across rows; exact
# quantiles would need every value. Reports label them as approximate.
_Q = "quantilesTDigest(0.5, 0.9, 0.99)"
_QSTATE = "quantilesTDigestState(0.5, 0.9, 0.99)"
QMERGE = "quantilesTDigestMerge(0.5, 0.9, 0.99)"  # what reports read the states with
# Stake bands of the stake distribution, in kopecks: < 10, < 100, < 1,000, < 10,000 UAH, above.
STAKE_BANDS = (1_000, 10_000, 100_000, 1_000_000)
STAKE_BAND_LABELS = ("under 10 UAH", "10-100 UAH", "100-1,000 UAH", "1,000-10,000 UAH", "10,000 UAH and more")
# An event received more than this after it occurred counts as late data (operators may send
# days late after an outage: late is reported, not rejected).
LATE_AFTER_US = 3600 * 1_000_000


@dataclass(frozen=True)
class Rollup:
    name: str
    columns: str  # the table's column list, in the view's SELECT order
    engine: str
    select: str  # over {db}.<source>; its columns match ``columns`` by position
    source: str = "events"

    def table_ddl(self, db: str) -> str:
        return f"CREATE TABLE IF NOT EXISTS {db}.{self.name} ({self.columns})\n{self.engine}"

    def view_ddl(self, db: str) -> str:
        return (f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{self.name}_mv TO {db}.{self.name} AS "
                + self.select.format(db=db))


def _ingest(name: str, unit: str, bucket: str) -> Rollup:
    """Per ``unit`` of arrival: what each operator sent, how late, and how long until queryable.

    The view runs at insert time, so now64() is the moment a row is stored.
    """
    return Rollup(
        name=name,
        columns=f"""
    {unit} DateTime('UTC'),
    operator_id LowCardinality(String),
    kind LowCardinality(String),
    events SimpleAggregateFunction(sum, UInt64),
    amount SimpleAggregateFunction(sum, Int64),
    last_received SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    last_occurred SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    late_events SimpleAggregateFunction(sum, UInt64),
    max_delay_us SimpleAggregateFunction(max, Int64),
    delay_q AggregateFunction({_Q}, Int64),
    store_q AggregateFunction({_Q}, Int64)""",
        engine=f"ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM({unit}) "
               f"ORDER BY ({unit}, operator_id, kind) SETTINGS {_DEDUP}",
        select=f"""
SELECT {bucket}(received_at) AS {unit}, operator_id, kind, count() AS events,
       sum(amount) AS amount, max(received_at) AS last_received, max(occurred_at) AS last_occurred,
       countIf(toUnixTimestamp64Micro(received_at) - toUnixTimestamp64Micro(occurred_at) > {LATE_AFTER_US})
           AS late_events,
       max(toUnixTimestamp64Micro(received_at) - toUnixTimestamp64Micro(occurred_at)) AS max_delay_us,
       {_QSTATE}(toUnixTimestamp64Micro(received_at) - toUnixTimestamp64Micro(occurred_at)) AS delay_q,
       {_QSTATE}(toUnixTimestamp64Micro(now64(6)) - toUnixTimestamp64Micro(received_at)) AS store_q
FROM {{db}}.events
GROUP BY {unit}, operator_id, kind""",
    )


# Per minute for the last minutes and short periods; per hour for long periods, where merging
# per-minute quantile states would be slow (a week is 10,080 minutes per operator and kind).
INGEST_MINUTELY = _ingest("ingest_minutely", "minute", "toStartOfMinute")
INGEST_HOURLY = _ingest("ingest_hourly", "hour", "toStartOfHour")

# Per source: the sequence range and how many events of it were accepted (events are unique
# by (source, seq), so count() is exact); with the rejections, the range's gaps follow.
SOURCE_SEQ = Rollup(
    name="source_seq",
    columns="""
    operator_id LowCardinality(String),
    source_id String,
    min_seq SimpleAggregateFunction(min, UInt64),
    max_seq SimpleAggregateFunction(max, UInt64),
    events SimpleAggregateFunction(sum, UInt64),
    last_received SimpleAggregateFunction(max, DateTime64(6, 'UTC'))""",
    engine=f"ENGINE = AggregatingMergeTree ORDER BY (operator_id, source_id) SETTINGS {_DEDUP}",
    select="""
SELECT operator_id, source_id, min(seq) AS min_seq, max(seq) AS max_seq, count() AS events,
       max(received_at) AS last_received
FROM {db}.events
GROUP BY operator_id, source_id""",
)

# Per day and asset (establishment, equipment, site, app): activity and the money through it,
# for "activity on unregistered assets" and return to player per machine.
ASSETS_DAILY = Rollup(
    name="assets_daily",
    columns="""
    day Date,
    operator_id LowCardinality(String),
    asset_type LowCardinality(String),
    asset_id String,
    licence_kind LowCardinality(String),
    game_type LowCardinality(String),
    events SimpleAggregateFunction(sum, UInt64),
    bets SimpleAggregateFunction(sum, UInt64),
    stakes SimpleAggregateFunction(sum, Int64),
    refunds SimpleAggregateFunction(sum, Int64),
    winnings SimpleAggregateFunction(sum, Int64),
    first_seen SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(6, 'UTC'))""",
    engine=f"ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(day) "
           f"ORDER BY (operator_id, asset_type, asset_id, licence_kind, game_type, day) SETTINGS {_DEDUP}",
    select="""
SELECT toDate(occurred_at) AS day, operator_id, asset.1 AS asset_type, asset.2 AS asset_id,
       licence_kind, game_type, count() AS events, countIf(kind = 'BET') AS bets,
       sumIf(amount, kind = 'BET') AS stakes, sumIf(amount, kind = 'REFUND') AS refunds,
       sumIf(amount, kind = 'WIN') AS winnings, min(occurred_at) AS first_seen,
       max(occurred_at) AS last_seen
FROM {db}.events
ARRAY JOIN arrayFilter(a -> a.2 != '', [('establishment', establishment_id), ('equipment', equipment_id),
                                        ('site', site_id), ('app', app_id)]) AS asset
GROUP BY day, operator_id, asset_type, asset_id, licence_kind, game_type""",
)

# Per hour: the distribution of stakes (bands and quantiles), for player activity.
STAKES_HOURLY = Rollup(
    name="stakes_hourly",
    columns="""
    hour DateTime('UTC'),
    operator_id LowCardinality(String),
    licence_kind LowCardinality(String),
    game_type LowCardinality(String),
    band_1 SimpleAggregateFunction(sum, UInt64),
    band_2 SimpleAggregateFunction(sum, UInt64),
    band_3 SimpleAggregateFunction(sum, UInt64),
    band_4 SimpleAggregateFunction(sum, UInt64),
    band_5 SimpleAggregateFunction(sum, UInt64),
    max_stake SimpleAggregateFunction(max, Int64),
    stake_q AggregateFunction(""" + _Q + """, Int64)""",
    engine=f"ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(hour) "
           f"ORDER BY (operator_id, licence_kind, game_type, hour) SETTINGS {_DEDUP}",
    select="""
SELECT toDateTime(toStartOfHour(occurred_at), 'UTC') AS hour, operator_id, licence_kind, game_type,
       countIf(amount < """ + str(STAKE_BANDS[0]) + """) AS band_1,
       countIf(amount >= """ + str(STAKE_BANDS[0]) + " AND amount < " + str(STAKE_BANDS[1]) + """) AS band_2,
       countIf(amount >= """ + str(STAKE_BANDS[1]) + " AND amount < " + str(STAKE_BANDS[2]) + """) AS band_3,
       countIf(amount >= """ + str(STAKE_BANDS[2]) + " AND amount < " + str(STAKE_BANDS[3]) + """) AS band_4,
       countIf(amount >= """ + str(STAKE_BANDS[3]) + """) AS band_5,
       max(amount) AS max_stake, """ + _QSTATE + """(amount) AS stake_q
FROM {db}.events
WHERE kind = 'BET'
GROUP BY hour, operator_id, licence_kind, game_type""",
)

# Per hour of the payout: the winnings tax due and withheld, from the pipeline's own tax events.
TAX_HOURLY = Rollup(
    name="tax_hourly",
    source="tax_events",
    columns="""
    hour DateTime('UTC'),
    operator_id LowCardinality(String),
    licence_kind LowCardinality(String),
    payouts SimpleAggregateFunction(sum, UInt64),
    winnings SimpleAggregateFunction(sum, Int64),
    pit_due SimpleAggregateFunction(sum, Int64),
    pit_withheld SimpleAggregateFunction(sum, Int64),
    military_due SimpleAggregateFunction(sum, Int64),
    military_withheld SimpleAggregateFunction(sum, Int64),
    discrepancies SimpleAggregateFunction(sum, UInt64),
    discrepancy_kopecks SimpleAggregateFunction(sum, Int64)""",
    engine=f"ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(hour) "
           f"ORDER BY (operator_id, licence_kind, hour) SETTINGS {_DEDUP}",
    select="""
SELECT toDateTime(toStartOfHour(occurred_at), 'UTC') AS hour, operator_id, licence_kind,
       count() AS payouts, sum(amount) AS winnings, sum(pit_due) AS pit_due,
       sum(pit_withheld) AS pit_withheld, sum(military_due) AS military_due,
       sum(military_withheld) AS military_withheld, sum(discrepancy) AS discrepancies,
       -- t.<column>: the column itself, not the sum of the same name above
       sumIf(abs(t.pit_withheld + t.military_withheld - t.pit_due - t.military_due), t.discrepancy = 1)
           AS discrepancy_kopecks
FROM {db}.tax_events AS t
WHERE record_type = 'payout'
GROUP BY hour, operator_id, licence_kind""",
)

ROLLUPS: tuple[Rollup, ...] = (INGEST_MINUTELY, INGEST_HOURLY, SOURCE_SEQ, ASSETS_DAILY, STAKES_HOURLY,
                               TAX_HOURLY)


def create_rollups(client: Any, db: str) -> None:
    """Create every rollup and its view (idempotent); rebuild a rollup whose view is new.

    ``db`` is the quoted database name. Nothing else writes a rollup while its view is
    missing, so emptying and refilling it is safe to repeat after a crash midway.
    """
    for rollup in ROLLUPS:
        client.command(rollup.table_ddl(db))
        exists = int(client.command(f"SELECT count() FROM system.tables "
                                    f"WHERE database = {_literal(db)} AND name = '{rollup.name}_mv'"))
        if not exists:
            client.command(f"TRUNCATE TABLE {db}.{rollup.name}")
            if int(client.command(f"SELECT count() FROM {db}.{rollup.source}")):
                client.command(f"INSERT INTO {db}.{rollup.name} {rollup.select.format(db=db)}")
            client.command(rollup.view_ddl(db))


def _literal(quoted_db: str) -> str:
    """The database name as a string literal (``db`` arrives quoted as an identifier)."""
    name = quoted_db[1:-1].replace("``", "`") if quoted_db.startswith("`") else quoted_db
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"
