"""Pre-aggregated tables the reports read, filled by the sink batch by batch, exactly once.

A report over 100 million events must answer in about a second, so no report scans ``events``:
each reads a rollup whose rows are per hour, minute or day and per operator (and the few
dimensions the report groups by).

Exactly once, across crashes. Every row the sink inserts carries its batch's deduplication
token (``ingest_token``). After the batch is stored, :func:`roll_up` adds that batch's rows to
every rollup: one ``INSERT ... SELECT ... WHERE ingest_token = <token>`` per rollup, under the
token ``<token>-<rollup>``. A retry (the same batch after a failure, or after a crash before
the Kafka offsets were committed: the sink finds the tokens of stored rows beyond the committed
offsets) repeats those inserts under the same tokens, so ClickHouse drops the ones that landed
and adds the ones that did not. Materialized views cannot do this: ClickHouse commits a view's
part separately from the table's, so a crash between the two left a block out of the rollup
for good (seen in the SIGKILL test once there were several views).

On the raw-Avro path the sink does not run :func:`roll_up` for ``events``: it folds the batch's
records in the stream and inserts the rows pre-aggregated under the same tokens
(``stream_rollups.py``); :func:`roll_up` stays for recovery, rows built in Python and
``tax_hourly``.

Money is Int64 kopecks; durations are Int64 microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.binding import format_str, quote_identifier

_DEDUP = "non_replicated_deduplication_window = 10000"
# Quantiles of durations and stakes: t-digest states are small and merge across rows; exact
# quantiles would need every value. Reports label them as approximate.
_Q = "quantilesTDigest(0.5, 0.9, 0.99)"
TDIGEST_STATE = "quantilesTDigestState(0.5, 0.9, 0.99)"
QMERGE = "quantilesTDigestMerge(0.5, 0.9, 0.99)"  # what reports read the states with
# Stake bands of the stake distribution, in kopecks: < 10, < 100, < 1,000, < 10,000 UAH, above.
STAKE_BANDS = (1_000, 10_000, 100_000, 1_000_000)
STAKE_BAND_LABELS = ("under 10 UAH", "10-100 UAH", "100-1,000 UAH", "1,000-10,000 UAH", "10,000 UAH and more")
# An event received more than this after it occurred counts as late data (operators may send
# days late after an outage: late is reported, not rejected).
LATE_AFTER_US = 3600 * 1_000_000
KYIV_TZ = "Europe/Kyiv"  # the officials' days (pipeline.core.tax.KYIV)


@dataclass(frozen=True)
class Rollup:
    name: str
    columns: str  # the table's column list, in the SELECT's order
    engine: str
    # Over {db}.<source> WHERE ({where}) (and the rollup's own conditions); columns as above.
    select: str
    source: str = "events"
    # What a cluster's Distributed table shards its rows by (cluster_ddl.py): the operator, so that
    # a batch's rows land on one shard; a rollup without operators, by what it has.
    shard_by: str = "operator_id"

    @property
    def column_names(self) -> str:
        """The columns' names, comma-separated, for an INSERT's column list."""
        return ", ".join(line.strip().split()[0] for line in self.columns.strip().split(",\n"))

    def table_ddl(self, db: str) -> str:
        return f"CREATE TABLE IF NOT EXISTS {db}.{self.name} ({self.columns})\n{self.engine}"

    def insert(self, db: str, where: str) -> str:
        select = self.select.format(db=db, where=where)
        # Ordered by the group keys, so a repeat splits into the same parts in the same order
        # (see ONE_BLOCK), whatever the order the stored rows are read in.
        keys = select.rsplit("GROUP BY", 1)[1].strip()
        return f"INSERT INTO {db}.{self.name} ({self.column_names}) {select}\nORDER BY {keys}"


def _ingest(name: str, unit: str, bucket: str) -> Rollup:
    """Per ``unit`` of arrival: what each operator sent, how late, and how long until queryable.

    The sink rolls a batch up right after storing it, so now64() is about when it became
    queryable (for a batch rolled up again after a crash, when that happened).
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
       {TDIGEST_STATE}(toUnixTimestamp64Micro(received_at) - toUnixTimestamp64Micro(occurred_at)) AS delay_q,
       {TDIGEST_STATE}(toUnixTimestamp64Micro(now64(6)) - toUnixTimestamp64Micro(received_at)) AS store_q
FROM {{db}}.events
WHERE ({{where}})
GROUP BY {unit}, operator_id, kind""",
    )


# Rolling GGR windows: per operator x licence kind x game type x UTC hour. Kyiv's offset is
# whole hours, so hours roll up exactly into Kyiv days and months. Only BET, WIN and REFUND are
# GGR; deposits and withdrawals are wallet flows.
GGR_HOURLY = Rollup(
    name="ggr_hourly",
    columns="""
    hour DateTime('UTC'),
    operator_id LowCardinality(String),
    licence_kind LowCardinality(String),
    game_type LowCardinality(String),
    stakes SimpleAggregateFunction(sum, Int64),
    refunds SimpleAggregateFunction(sum, Int64),
    winnings SimpleAggregateFunction(sum, Int64),
    bets SimpleAggregateFunction(sum, UInt64),
    payouts SimpleAggregateFunction(sum, UInt64),
    refund_count SimpleAggregateFunction(sum, UInt64),
    players AggregateFunction(uniqExact, String)""",
    engine=f"ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(hour) "
           f"ORDER BY (operator_id, licence_kind, game_type, hour) SETTINGS {_DEDUP}",
    select="""
SELECT toDateTime(toStartOfHour(occurred_at), 'UTC') AS hour, operator_id, licence_kind, game_type,
       sumIf(amount, kind = 'BET') AS stakes, sumIf(amount, kind = 'REFUND') AS refunds,
       sumIf(amount, kind = 'WIN') AS winnings, countIf(kind = 'BET') AS bets,
       countIf(kind = 'WIN') AS payouts, countIf(kind = 'REFUND') AS refund_count,
       uniqExactStateIf(player_ref, kind = 'BET') AS players
FROM {db}.events
WHERE kind IN ('BET', 'WIN', 'REFUND') AND ({where})
GROUP BY hour, operator_id, licence_kind, game_type""",
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
WHERE ({where})
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
WHERE ({where})
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
       max(amount) AS max_stake, """ + TDIGEST_STATE + """(amount) AS stake_q
FROM {db}.events
WHERE kind = 'BET' AND ({where})
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
WHERE record_type = 'payout' AND ({where})
GROUP BY hour, operator_id, licence_kind""",
)

# -- whole days, for reports over a week or more (dashboards/reports.py) --
#
# Merging a week of per-hour states was most of what two reports cost at 100 M events: the
# distinct bettors of player activity (84,000 uniqExact sets of ggr_hourly, 55 M elements), its
# stake quantiles and system status's latency quantiles (t-digests per hour, operator and kind or
# game). Per day (or hour), keyed only by what those reports group or filter by, a week is a few
# hundred (thousand) states. The reports take whole days from these and the hours at the period's
# edges from the hourly rollups: counts, sums and distinct players are exact either way; t-digest
# quantiles are approximate either way (a digest of a day's values differs slightly from one merged
# from its hours'). The sink fills them from the folded rows of the hourly rollups
# (stream_rollups.DERIVED).

# Per Kyiv day and licence kind: bets, stakes and the distinct bettors, for player activity
# without an operator or game filter. Kyiv days, because the periods officials choose (today,
# 7 or 30 days, months) start at Kyiv midnight: such a period is whole days, with no edge hours.
PLAYERS_DAILY = Rollup(
    name="players_daily",
    shard_by="licence_kind",
    columns="""
    day Date,
    licence_kind LowCardinality(String),
    bets SimpleAggregateFunction(sum, UInt64),
    stakes SimpleAggregateFunction(sum, Int64),
    players AggregateFunction(uniqExact, String)""",
    engine=f"ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(day) "
           f"ORDER BY (licence_kind, day) SETTINGS {_DEDUP}",
    select=f"""
SELECT toDate(occurred_at, '{KYIV_TZ}') AS day, licence_kind, countIf(kind = 'BET') AS bets,
       sumIf(amount, kind = 'BET') AS stakes, uniqExactStateIf(player_ref, kind = 'BET') AS players
FROM {{db}}.events
WHERE kind IN ('BET', 'WIN', 'REFUND') AND ({{where}})
GROUP BY day, licence_kind""",
)

# Per Kyiv day and licence kind: the stake distribution (bands, t-digest), for player activity.
STAKES_DAILY = Rollup(
    name="stakes_daily",
    shard_by="licence_kind",
    columns="""
    day Date,
    licence_kind LowCardinality(String),
    band_1 SimpleAggregateFunction(sum, UInt64),
    band_2 SimpleAggregateFunction(sum, UInt64),
    band_3 SimpleAggregateFunction(sum, UInt64),
    band_4 SimpleAggregateFunction(sum, UInt64),
    band_5 SimpleAggregateFunction(sum, UInt64),
    stake_q AggregateFunction(""" + _Q + """, Int64)""",
    engine=f"ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(day) "
           f"ORDER BY (licence_kind, day) SETTINGS {_DEDUP}",
    select="""
SELECT toDate(occurred_at, '""" + KYIV_TZ + """') AS day, licence_kind,
       countIf(amount < """ + str(STAKE_BANDS[0]) + """) AS band_1,
       countIf(amount >= """ + str(STAKE_BANDS[0]) + " AND amount < " + str(STAKE_BANDS[1]) + """) AS band_2,
       countIf(amount >= """ + str(STAKE_BANDS[1]) + " AND amount < " + str(STAKE_BANDS[2]) + """) AS band_3,
       countIf(amount >= """ + str(STAKE_BANDS[2]) + " AND amount < " + str(STAKE_BANDS[3]) + """) AS band_4,
       countIf(amount >= """ + str(STAKE_BANDS[3]) + """) AS band_5,
       """ + TDIGEST_STATE + """(amount) AS stake_q
FROM {db}.events
WHERE kind = 'BET' AND ({where})
GROUP BY day, licence_kind""",
)

# Per UTC hour and per UTC day of arrival (``unit``), per operator and for all operators together
# (``operator_id`` ''): events and the latency quantiles, for system status (its buckets are UTC or
# Kyiv hours, days, months). Without a filter a week in hours is 168 states, not 168 per operator
# and event kind as in ingest_hourly; for one operator 168, in days 7. One rollup with both units
# and both scopes, so that one insert stores a batch's rows of all of them.
INGEST_BY_OPERATOR = Rollup(
    name="ingest_by_operator",
    columns=f"""
    unit LowCardinality(String),
    t DateTime('UTC'),
    operator_id LowCardinality(String),
    events SimpleAggregateFunction(sum, UInt64),
    delay_q AggregateFunction({_Q}, Int64),
    store_q AggregateFunction({_Q}, Int64)""",
    engine=f"ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(t) "
           f"ORDER BY (unit, t, operator_id) SETTINGS {_DEDUP}",
    select=f"""
SELECT unit, if(unit = 'hour', toStartOfHour(received_at), toStartOfDay(received_at)) AS t, scope,
       count() AS events,
       {TDIGEST_STATE}(toUnixTimestamp64Micro(received_at) - toUnixTimestamp64Micro(occurred_at)) AS delay_q,
       {TDIGEST_STATE}(toUnixTimestamp64Micro(now64(6)) - toUnixTimestamp64Micro(received_at)) AS store_q
FROM {{db}}.events
ARRAY JOIN ['hour', 'day'] AS unit
ARRAY JOIN [operator_id, ''] AS scope
WHERE ({{where}})
GROUP BY unit, t, scope""",
)

ROLLUPS: tuple[Rollup, ...] = (GGR_HOURLY, INGEST_MINUTELY, INGEST_HOURLY, SOURCE_SEQ, ASSETS_DAILY,
                               STAKES_HOURLY, TAX_HOURLY, PLAYERS_DAILY, STAKES_DAILY, INGEST_BY_OPERATOR)
TOKEN_COLUMN = "ingest_token"
# A token deduplicates the insert's blocks one by one, numbered in the order they come: a repeat
# must produce the same blocks in the same order. One thread and one block do that (a batch's
# roll-up is a few thousand rows at most); with parallel reading, a batch stored in two parts
# (two months) rolled up as two blocks in either order, and a repeat counted twice (seen).
# On a cluster the sink writes through Distributed tables (sinks/clickhouse/cluster_ddl.py): the
# insert must reach the shard before it returns (offsets are committed after it), and carry its
# deduplication token there. Without Distributed tables (chdb, one server) it changes nothing.
DISTRIBUTED_SYNC = {"insert_distributed_sync": 1}
ONE_BLOCK = {"max_threads": 1, "max_block_size": 1_000_000, "min_insert_block_size_rows": 1_000_000,
             "max_insert_block_size": 1_000_000}


def create_rollups(client: Any, database: str) -> None:
    """Create every rollup (idempotent); fill a new one from the rows already stored.

    A database made by an earlier version kept its rollups with materialized views: the views
    are dropped (the sink rolls up itself now) and the data kept, since the views had rolled up
    every row until then.
    """
    db = quote_identifier(database)
    for rollup in ROLLUPS:
        existed = _exists(client, database, rollup.name)
        client.command(rollup.table_ddl(db))
        engine = _engine(client, database, rollup.name)
        if engine.endswith("MergeTree") and not engine.startswith("Replicated"):
            # A cluster's roll-up is Distributed over replicated tables made with their settings.
            client.command(f"ALTER TABLE {db}.{rollup.name} MODIFY SETTING {_DEDUP}")
        if _exists(client, database, f"{rollup.name}_mv"):
            client.command(f"DROP VIEW {db}.{rollup.name}_mv")
        elif not existed:
            rebuild(client, database, rollup)


def rebuild(client: Any, database: str, rollup: Rollup) -> None:
    """Empty ``rollup`` and fill it from every stored row (a new rollup; tests; repairs).

    Not while the sink runs: its batches would be counted twice or missed.
    """
    db = quote_identifier(database)
    client.command(f"TRUNCATE TABLE {db}.{rollup.name}")
    if int(client.command(f"SELECT count() FROM {db}.{rollup.source}")):
        client.command(rollup.insert(db, "1"))


def rebuild_all(client: Any, database: str) -> None:
    for rollup in ROLLUPS:
        rebuild(client, database, rollup)


def roll_up(client: Any, database: str, source: str, token: str, min_offset: int = 0) -> int:
    """Add the rows of the batch stored under ``token`` in table ``source`` to its rollups.

    Idempotent: each rollup's insert carries ``<token>-<rollup>``, so repeating it (a retry, a
    recovery after a crash) changes nothing that already landed. ``min_offset`` (the lowest
    source offset of the batch, when known) lets the offset index skip older parts. Returns
    the number of rollups written to.
    """
    db = quote_identifier(database)
    where = f"{TOKEN_COLUMN} = {format_str(token)} AND src_offset >= {int(min_offset)}"
    done = 0
    for rollup in ROLLUPS:
        if rollup.source != source:
            continue
        client.command(rollup.insert(db, where), settings={
            "insert_deduplication_token": f"{token}-{rollup.name}", "insert_deduplicate": 1,
            "async_insert": 0, **DISTRIBUTED_SYNC, **ONE_BLOCK})
        done += 1
    return done


def _engine(client: Any, database: str, name: str) -> str:
    return str(client.command(
        "SELECT any(engine) FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": name}))


def _exists(client: Any, database: str, name: str) -> bool:
    return bool(int(client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": name})))
