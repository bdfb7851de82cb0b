"""The sink's ClickHouse tables: columns in insert order, their DDL, and idempotent creation.

Each :class:`Table` is the one place that fixes a table's column names, types and order;
``rows.py`` builds columns in this order and ``sink.py`` inserts with these types.

Choices common to the tables (see docs and the design notes):

- Money is ``Int64`` kopecks, never Decimal or Float (chdb turns Decimal into float on output).
- Times are ``DateTime64(6, 'UTC')`` written as integer microseconds, exactly as the Avro holds them.
- ``non_replicated_deduplication_window``: without it a plain MergeTree (and embedded chdb)
  ignores ``insert_deduplication_token``, and a retried insert would land twice.
- ``src_topic``/``src_partition``/``src_offset`` name the Kafka record every row came from.
  The aggregate projection ``src_offsets`` answers "highest offset stored per partition"
  from a few rows per part, which the sink asks on every partition assignment; the minmax
  index lets it read back the rows of the last uncommitted offsets without a full scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.binding import quote_identifier

LC = "LowCardinality(String)"
TIME = "DateTime64(6, 'UTC')"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    codec: str = ""
    default: str = ""  # an expression ClickHouse fills the column with; such columns are never inserted

    def ddl(self) -> str:
        default = f" DEFAULT {self.default}" if self.default else ""
        codec = f" CODEC({self.codec})" if self.codec else ""
        return f"{quote_identifier(self.name)} {self.type}{default}{codec}"


@dataclass(frozen=True)
class Table:
    """A table's columns (in insert order), extra DDL elements and engine clause."""

    name: str
    columns: tuple[Column, ...]  # inserted by the sink
    elements: tuple[str, ...]  # indexes and projections, after the columns
    engine: str
    key_column: str  # with src_topic/partition/offset, identifies one row: see rows.py
    # Columns added after the table first shipped: ``create_tables`` adds them to an existing
    # table (old rows get the type's default). Any other difference is a SchemaMismatchError.
    added_later: tuple[str, ...] = ()
    filled: tuple[Column, ...] = ()  # filled by ClickHouse itself (``default``), after ``columns``

    @property
    def column_names(self) -> tuple[str, ...]:
        """The inserted columns, in insert order."""
        return tuple(c.name for c in self.columns)

    @property
    def column_types(self) -> tuple[str, ...]:
        return tuple(c.type for c in self.columns)

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return self.columns + self.filled

    def ddl(self, database: str) -> str:
        body = ",\n    ".join([c.ddl() for c in self.all_columns] + list(self.elements))
        return (f"CREATE TABLE IF NOT EXISTS {quote_identifier(database)}.{quote_identifier(self.name)}"
                f" (\n    {body}\n)\n{self.engine}")


_SRC_ELEMENTS = (
    "INDEX src_offset_minmax src_offset TYPE minmax GRANULARITY 1",
    "PROJECTION src_offsets (SELECT src_topic, src_partition, max(src_offset)"
    " GROUP BY src_topic, src_partition)",
)

EVENTS = Table(
    name="events",
    columns=(
        # Random UUID text: ZSTD brings its 36 characters close to the 16 bytes of entropy,
        # without the UUID type's failure mode (a batch with one non-UUID ID could never land).
        Column("receipt_id", "String", "ZSTD(1)"),
        Column("operator_id", LC),
        Column("source_id", LC),
        Column("seq", "UInt64"),
        Column("operator_ref", "String"),
        Column("kind", LC),
        Column("licence_id", LC),
        Column("licence_kind", LC),
        Column("channel", LC),
        Column("establishment_id", LC),  # '' when null, as for every optional text below
        Column("equipment_id", "String"),  # can reach hundreds of thousands of machines
        Column("site_id", LC),
        Column("app_id", LC),
        Column("game_type", LC),
        Column("round_ref", "String"),
        Column("bet_ref", "String"),
        Column("player_ref", "String"),
        Column("amount", "Int64"),  # kopecks
        Column("currency", LC),
        Column("occurred_at", TIME),
        Column("received_at", TIME, "Delta, ZSTD(1)"),
        Column("tax_withheld_pit", "Int64"),  # kopecks; 0 when null (only WIN carries them)
        Column("tax_withheld_military", "Int64"),
        Column("chain_id", LC),  # <ingest topic>/<partition>: with chain_index, orders the hash chain
        Column("chain_index", "UInt64"),
        Column("hash", "FixedString(32)"),
        Column("src_topic", LC),  # the archive topic
        Column("src_partition", "UInt16"),
        Column("src_offset", "UInt64"),
    ),
    # When the row became queryable (ClickHouse's clock at the insert): with the produce time of
    # its ingest record it gives the end-to-end latency (make bench). Not part of the insert,
    # so a retried insert is still the same rows under the same deduplication token.
    filled=(Column("inserted_at", TIME, "Delta, ZSTD(1)", default="now64(6)"),),
    added_later=("inserted_at",),
    elements=_SRC_ELEMENTS,
    # Reports filter by operator and period and group by kind (GGR = BET - REFUND - WIN),
    # licence kind and game type: operator first prunes per-operator reports to a contiguous
    # range, kind next keeps "stakes only" scans small, and time last serves period filters
    # (months are pruned by the partition key first). Late data of up to a week touches at
    # most two monthly partitions per insert.
    #
    # No TTL: accepted events are the legal record, kept for years (regulators elsewhere keep
    # betting data 5 to 10 years); expiry is a deliberate export-then-drop-partition decision,
    # never a silent background deletion.
    engine=("ENGINE = MergeTree\n"
            "PARTITION BY toYYYYMM(occurred_at)\n"
            "ORDER BY (operator_id, kind, occurred_at)\n"
            "SETTINGS non_replicated_deduplication_window = 10000"),
    key_column="chain_index",
)

REJECTIONS = Table(
    name="rejections",
    columns=(
        Column("operator_id", LC),
        Column("source_id", LC),  # '' for a record that could not be decoded
        # Nullable: null marks a record-level rejection; Int64 because invalid_sequence
        # rejects seq < 1, which an unsigned column could not hold.
        Column("seq", "Nullable(Int64)"),
        Column("operator_ref", "String"),
        Column("receipt_id", "String", "ZSTD(1)"),
        Column("reason", LC),
        Column("detail", "String"),
        Column("kind", LC),
        Column("amount", "Nullable(Int64)"),  # as sent: may be negative or absurd
        Column("occurred_at", f"Nullable({TIME})"),  # as sent: may be far past or future
        Column("processed_at", TIME),
        Column("ingest_topic", LC),
        Column("ingest_partition", "UInt16"),
        Column("ingest_offset", "UInt64"),
        Column("src_topic", LC),  # the receipts topic
        Column("src_partition", "UInt16"),
        Column("src_offset", "UInt64"),
    ),
    elements=_SRC_ELEMENTS,
    # Partitioned by the pipeline's own clock (occurred_at is whatever the operator sent,
    # which is often the very reason for the rejection), so whole old parts simply drop.
    engine=("ENGINE = MergeTree\n"
            "PARTITION BY toYYYYMM(processed_at)\n"
            "ORDER BY (operator_id, reason, processed_at)\n"
            "TTL toDateTime(processed_at) + INTERVAL 2 YEAR\n"
            "SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1"),
    key_column="receipt_id",
)

TAX_EVENTS = Table(
    name="tax_events",
    columns=(
        # One table for the three tax-event schemas, as the topic carries them: one row per
        # payout, per discrepancy and per statement revision. The views below split them.
        Column("record_type", LC),  # payout | discrepancy | statement
        Column("row_key", "String", "ZSTD(1)"),  # receipt_id, or <period>|<revision>
        Column("operator_id", LC),
        Column("receipt_id", "String", "ZSTD(1)"),  # '' for statements
        Column("licence_id", LC),  # payouts and discrepancies
        Column("licence_kind", LC),  # payouts only
        Column("player_ref", "String"),  # payouts only: winnings tax is a tax of the player
        Column("occurred_at", TIME),  # payouts and discrepancies; the period start for statements
        Column("amount", "Int64"),
        Column("pit_rate_ppm", "Int64"),
        Column("military_rate_ppm", "Int64"),
        Column("pit_due", "Int64"),
        Column("military_due", "Int64"),
        Column("pit_withheld", "Int64"),
        Column("military_withheld", "Int64"),
        Column("discrepancy", "UInt8"),
        Column("period", LC),
        Column("period_end", TIME),
        Column("revision", "UInt32"),
        Column("status", LC),
        Column("stakes", "Int64"),
        Column("refunds", "Int64"),
        Column("winnings", "Int64"),
        Column("ggr", "Int64"),
        Column("bets", "Int64"),
        Column("payouts", "Int64"),
        Column("ggr_tax_rate_ppm", "Int64"),
        Column("ggr_tax_due", "Int64"),
        Column("discrepancies", "Int64"),
        Column("issued_at", TIME),
        Column("src_topic", LC),  # the tax-events topic
        Column("src_partition", "UInt16"),
        Column("src_offset", "UInt64"),
    ),
    elements=_SRC_ELEMENTS,
    engine=("ENGINE = MergeTree\n"
            "PARTITION BY toYYYYMM(occurred_at)\n"
            "ORDER BY (record_type, operator_id, occurred_at)\n"
            "SETTINGS non_replicated_deduplication_window = 10000"),
    key_column="row_key",
    added_later=("player_ref",),
)

TABLES: tuple[Table, ...] = (EVENTS, REJECTIONS, TAX_EVENTS)

# Rolling GGR windows: per operator x licence kind x game type x UTC hour, kept by ClickHouse
# from `events`. Kyiv's offset is whole hours, so hours roll up exactly into Kyiv days and months.
#
# Exactly once: a repeated insert into `events` (a retry with the same deduplication token) is
# dropped there, but ClickHouse still runs the view on it and hands the view's block on to
# `ggr_hourly` (measured on chdb 26.9: every retried batch counted twice). So `ggr_hourly`
# deduplicates too: with `non_replicated_deduplication_window` and
# `deduplicate_blocks_in_dependent_materialized_views` (the sink sets it on every insert), the
# view's block gets an ID derived from the `events` block's, and the repeat is dropped there as
# well. Distinct inserts whose aggregates happen to be equal keep distinct IDs (checked).
GGR_HOURLY = """
CREATE TABLE IF NOT EXISTS {db}.ggr_hourly (
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
    players AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (operator_id, licence_kind, game_type, hour)
SETTINGS non_replicated_deduplication_window = 10000
"""

# Tables made before the setting above was added get it here (idempotent).
GGR_HOURLY_DEDUP = "ALTER TABLE {db}.ggr_hourly MODIFY SETTING non_replicated_deduplication_window = 10000"

# Only BET, WIN and REFUND are GGR; deposits and withdrawals are wallet flows.
GGR_HOURLY_SELECT = """
SELECT toDateTime(toStartOfHour(occurred_at), 'UTC') AS hour, operator_id, licence_kind, game_type,
       sumIf(amount, kind = 'BET') AS stakes, sumIf(amount, kind = 'REFUND') AS refunds,
       sumIf(amount, kind = 'WIN') AS winnings, countIf(kind = 'BET') AS bets,
       countIf(kind = 'WIN') AS payouts, countIf(kind = 'REFUND') AS refund_count,
       uniqExactStateIf(player_ref, kind = 'BET') AS players
FROM {db}.events
WHERE kind IN ('BET', 'WIN', 'REFUND')
GROUP BY hour, operator_id, licence_kind, game_type
"""

GGR_HOURLY_MV = ("CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.ggr_hourly_mv TO {db}.ggr_hourly AS"
                 + GGR_HOURLY_SELECT)

# `OR REPLACE`: a changed definition reaches databases made by an earlier version.
TAX_VIEWS = (
    """CREATE OR REPLACE VIEW {db}.payout_taxes AS
    SELECT receipt_id, operator_id, licence_id, licence_kind, player_ref, occurred_at, amount,
           pit_rate_ppm, military_rate_ppm, pit_due, military_due, pit_withheld, military_withheld,
           discrepancy, src_topic, src_partition, src_offset
    FROM {db}.tax_events WHERE record_type = 'payout'""",
    """CREATE OR REPLACE VIEW {db}.tax_discrepancies AS
    SELECT receipt_id, operator_id, licence_id, occurred_at, amount, pit_due, pit_withheld,
           military_due, military_withheld, src_topic, src_partition, src_offset
    FROM {db}.tax_events WHERE record_type = 'discrepancy'""",
    # Every revision is kept in tax_events; the view shows the highest per (operator, period).
    """CREATE OR REPLACE VIEW {db}.ggr_statements AS
    SELECT operator_id, period, occurred_at AS period_start, period_end, revision, status, stakes,
           refunds, winnings, ggr, bets, payouts, ggr_tax_rate_ppm, ggr_tax_due, pit_due,
           military_due, pit_withheld, military_withheld, discrepancies, issued_at
    FROM {db}.tax_events WHERE record_type = 'statement'
    ORDER BY revision DESC
    LIMIT 1 BY operator_id, period""",
)


class SchemaMismatchError(RuntimeError):
    """A table exists with columns other than the ones this code writes."""


def create_tables(client: Any, database: str) -> None:
    """Create the sink's tables and views if missing (idempotent); fail clearly if one has other columns.

    ``client`` is a clickhouse-connect client; the database must already exist. On a database
    made by an earlier version it adds ``added_later`` columns, replaces the views, and fills
    ``ggr_hourly`` from the events already stored when its materialized view is new.
    """
    for table in TABLES:
        client.command(table.ddl(database))
        have = _columns(client, database, table.name)
        missing = [name for name in table.added_later if name not in have]
        if missing:
            for name in missing:
                _add_column(client, database, table, name, have)
            have = _columns(client, database, table.name)
        want = {c.name: c.type for c in table.all_columns}
        wrong = {n: (have.get(n), t) for n, t in want.items() if _norm(have.get(n)) != _norm(t)}
        if wrong:
            detail = ", ".join(f"{n} is {h or 'missing'} (want {w})" for n, (h, w) in wrong.items())
            raise SchemaMismatchError(
                f"table {database}.{table.name} exists with other columns: {detail}; migrate or drop it")
    db = quote_identifier(database)
    client.command(GGR_HOURLY.format(db=db))
    client.command(GGR_HOURLY_DEDUP.format(db=db))
    if not _exists(client, database, "ggr_hourly_mv"):
        _backfill_ggr_hourly(client, db)
        client.command(GGR_HOURLY_MV.format(db=db))
    for ddl in TAX_VIEWS:
        client.command(ddl.format(db=db))


def _backfill_ggr_hourly(client: Any, db: str) -> None:
    """Fill ``ggr_hourly`` from the stored events, before its view exists.

    Nothing else writes ``ggr_hourly`` while the view is missing, so it is emptied first: a
    backfill cut short (a crash before the view was created) is simply done again. Events
    inserted by another process between the backfill and the view's creation would be missed;
    the sink creates its tables before it consumes anything, so with one sink that cannot happen.
    """
    if not int(client.command(f"SELECT count() FROM {db}.events")):
        return
    client.command(f"TRUNCATE TABLE {db}.ggr_hourly")
    client.command(f"INSERT INTO {db}.ggr_hourly {GGR_HOURLY_SELECT.format(db=db)}")


def _columns(client: Any, database: str, table: str) -> dict[str, str]:
    found = client.query(
        "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} "
        "ORDER BY position", parameters={"db": database, "t": table}).result_rows
    return {str(name): str(typ) for name, typ in found}


def _exists(client: Any, database: str, name: str) -> bool:
    return bool(int(client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": name})))


def _add_column(client: Any, database: str, table: Table, name: str, have: dict[str, str]) -> None:
    columns = table.all_columns
    names = [c.name for c in columns]
    i = names.index(name)
    # After its predecessor when that exists; a table with other columns fails the check anyway.
    after = ""
    if i == 0:
        after = " FIRST"
    elif names[i - 1] in have:
        after = f" AFTER {quote_identifier(names[i - 1])}"
    client.command(f"ALTER TABLE {quote_identifier(database)}.{quote_identifier(table.name)} "
                   f"ADD COLUMN IF NOT EXISTS {columns[i].ddl()}{after}")


def _norm(type_name: str | None) -> str | None:
    return type_name.replace(" ", "") if type_name is not None else None
