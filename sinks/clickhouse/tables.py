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

from sinks.clickhouse.rollups import TOKEN_COLUMN, create_rollups

LC = "LowCardinality(String)"
TIME = "DateTime64(6, 'UTC')"
# A bloom filter finds a batch's rows by its token among the newest parts without a scan.
TOKEN_INDEX = f"INDEX {TOKEN_COLUMN}_bloom {TOKEN_COLUMN} TYPE bloom_filter GRANULARITY 4"


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
    # Rows carry their batch's deduplication token (``ingest_token``, set at insert, not built
    # by rows.py): the sink rolls each batch up by it, exactly once (see rollups.py).
    tokened: bool = False

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
        parts = [c.ddl() for c in self.all_columns] + list(self._token_ddl()) + list(self.elements)
        body = ",\n    ".join(parts)
        return (f"CREATE TABLE IF NOT EXISTS {quote_identifier(database)}.{quote_identifier(self.name)}"
                f" (\n    {body}\n)\n{self.engine}")

    def _token_ddl(self) -> tuple[str, ...]:
        return (f"{TOKEN_COLUMN} {LC}", TOKEN_INDEX) if self.tokened else ()


_SRC_ELEMENTS = (
    "INDEX src_offset_minmax src_offset TYPE minmax GRANULARITY 1",
    "PROJECTION src_offsets (SELECT src_topic, src_partition, max(src_offset)"
    " GROUP BY src_topic, src_partition)",
)

# The cabinets' single-event look-ups (web/lookup.py) by keys that are not in the sort order. A
# projection of just the key and ``_part_offset`` is an index: a binary search finds the rows, and
# only their granules are read (receipt and bet: one or two rows; a player: hundreds, spread out).
# Machines and sites belong to one operator, whose rows are contiguous: a bloom filter and a set
# skip the other operators' granules. Added to tables made before (new parts get them; ``docs/
# cabinets.md`` says how to build them for old parts).
LOOKUP_ELEMENTS: tuple[str, ...] = (
    "PROJECTION lookup_receipt (SELECT _part_offset ORDER BY receipt_id)",
    "PROJECTION lookup_bet (SELECT _part_offset ORDER BY bet_ref)",
    "PROJECTION lookup_player (SELECT _part_offset ORDER BY player_ref)",
    "INDEX lookup_machine equipment_id TYPE bloom_filter(0.01) GRANULARITY 1",
    "INDEX lookup_site site_id TYPE set(256) GRANULARITY 1",
)
# The tax officer's payout records by player or receipt (web/tax_records.py), the same way. The
# page without filters shows the newest payouts: a min-max index on the time lets ClickHouse's top-K
# filtering (use_skip_indexes_for_top_k) read the newest granules only, not sort them all (at 25 M
# payouts 506 ms of CPU without it, 112 ms with it; docs/cabinets.md).
TAX_LOOKUP_ELEMENTS: tuple[str, ...] = (
    "PROJECTION lookup_player (SELECT _part_offset ORDER BY player_ref)",
    "PROJECTION lookup_receipt (SELECT _part_offset ORDER BY receipt_id)",
    "INDEX lookup_time occurred_at TYPE minmax GRANULARITY 1",
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
    elements=_SRC_ELEMENTS + LOOKUP_ELEMENTS,
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
    tokened=True,
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
    elements=_SRC_ELEMENTS + TAX_LOOKUP_ELEMENTS,
    engine=("ENGINE = MergeTree\n"
            "PARTITION BY toYYYYMM(occurred_at)\n"
            "ORDER BY (record_type, operator_id, occurred_at)\n"
            "SETTINGS non_replicated_deduplication_window = 10000"),
    key_column="row_key",
    added_later=("player_ref",),
    tokened=True,
)

ALERTS = Table(
    name="alerts",
    columns=(
        # One row per change in an alert's life (OPENED, UPDATED, RESOLVED), as the topic
        # carries them: the cabinets' inboxes read each alert's latest row (queries.alert_rows).
        Column("row_key", "String", "ZSTD(1)"),  # <alert_id>:<state>:<at_us>, the idempotency key
        Column("alert_id", "String", "ZSTD(1)"),
        Column("state", LC),
        Column("rule", LC),
        Column("rule_version", LC),
        Column("severity", LC),
        Column("subject_kind", LC),
        Column("subject", "String"),  # operator|player_ref of an RG alert: for its operator only
        Column("operator_id", LC),
        Column("licence_kind", LC),  # '' when null
        Column("opened_at", TIME),
        Column("at", TIME),
        Column("event_at", f"Nullable({TIME})"),
        Column("amounts", "String"),  # JSON object, kopecks
        Column("measures", "String"),  # JSON object
        Column("summary", "String"),
        Column("src_topic", LC),  # the alerts topic
        Column("src_partition", "UInt16"),
        Column("src_offset", "UInt64"),
    ),
    elements=_SRC_ELEMENTS,
    # Kept like the topic (evidence of supervision); the inboxes ask per operator, newest first.
    engine=("ENGINE = MergeTree\n"
            "PARTITION BY toYYYYMM(opened_at)\n"
            "ORDER BY (operator_id, opened_at, alert_id)\n"
            "SETTINGS non_replicated_deduplication_window = 10000"),
    key_column="row_key",
)

# The registry's history as the reports join it: one row per record of ``<prefix>.registry``, that
# is one entity's timeline as the registry knew it then (``rows.py``: the segments of world time,
# in order and without overlaps, each with what was in force; an open end is 2299-12-31). The
# newest record of an entity carries its whole history, so the reports read only that one
# (``registry_in_force`` below); older records stay, as what the registry said before. The
# registry's representatives are not copied: the reports do not need people.
REGISTRY_HISTORY = Table(
    name="registry_history",
    columns=(
        Column("kind", LC),  # operator, licence, establishment, equipment, site, app
        Column("entity_id", "String"),
        Column("operator_id", LC),
        Column("valid_from", f"Array({TIME})"),
        Column("valid_to", f"Array({TIME})"),
        Column("status", f"Array({LC})"),
        Column("licence_id", f"Array({LC})"),  # a licence's own; an establishment's, site's, app's
        Column("licence_kind", f"Array({LC})"),  # licences only
        Column("establishment_id", f"Array({LC})"),  # equipment only
        Column("certified_rtp_bp", "Array(UInt16)"),  # equipment only: 9450 = 94.50 %; else 0
        Column("seq", "Array(UInt64)"),  # the version's number in the registry
        Column("recorded_at", f"Array({TIME})"),  # when the registry recorded the version
        Column("src_topic", LC),  # the registry topic
        Column("src_partition", "UInt16"),
        Column("src_offset", "UInt64"),
    ),
    elements=_SRC_ELEMENTS,
    engine=("ENGINE = MergeTree\n"
            "ORDER BY (kind, entity_id, src_offset)\n"
            "SETTINGS non_replicated_deduplication_window = 10000"),
    key_column="entity_id",  # one row per record
)

TABLES: tuple[Table, ...] = (EVENTS, REJECTIONS, TAX_EVENTS, ALERTS, REGISTRY_HISTORY)

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
# Every entity's segments from its newest record: what was in force when, as the registry knows it
# now. The reports join it on (kind, entity_id) and an event's time within [valid_from, valid_to).
# GROUP BY, not IN (newest offsets): it reads the same over a cluster's Distributed table, and a
# filter on kind or entity reaches the table's key through it.
REGISTRY_VIEWS = (
    """CREATE OR REPLACE VIEW {db}.registry_in_force AS
    SELECT kind, entity_id, operator_id, valid_from, valid_to, status, licence_id, licence_kind,
           establishment_id, certified_rtp_bp, seq, recorded_at
    FROM (SELECT kind, entity_id, argMax(operator_id, src_offset) AS operator_id,
                 argMax(valid_from, src_offset) AS v_from, argMax(valid_to, src_offset) AS v_to,
                 argMax(status, src_offset) AS v_status, argMax(licence_id, src_offset) AS v_licence_id,
                 argMax(licence_kind, src_offset) AS v_licence_kind,
                 argMax(establishment_id, src_offset) AS v_establishment_id,
                 argMax(certified_rtp_bp, src_offset) AS v_rtp, argMax(seq, src_offset) AS v_seq,
                 argMax(recorded_at, src_offset) AS v_recorded_at
          FROM {db}.registry_history GROUP BY kind, entity_id)
    ARRAY JOIN v_from AS valid_from, v_to AS valid_to, v_status AS status, v_licence_id AS licence_id,
               v_licence_kind AS licence_kind, v_establishment_id AS establishment_id,
               v_rtp AS certified_rtp_bp, v_seq AS seq, v_recorded_at AS recorded_at""",
)
VIEWS = TAX_VIEWS + REGISTRY_VIEWS


class SchemaMismatchError(RuntimeError):
    """A table exists with columns other than the ones this code writes."""


def create_tables(client: Any, database: str) -> None:
    """Create the sink's tables and views if missing (idempotent); fail clearly if one has other columns.

    ``client`` is a clickhouse-connect client; the database must already exist. On a database
    made by an earlier version it adds ``added_later`` columns and the token column, replaces
    the views, and creates the rollups (``rollups.py``), filling new ones from stored rows.
    """
    for table in TABLES:
        client.command(table.ddl(database))
        have = _columns(client, database, table.name)
        missing = [name for name in table.added_later if name not in have]
        if missing:
            for name in missing:
                _add_column(client, database, table, name, have)
            have = _columns(client, database, table.name)
        if table.tokened and TOKEN_COLUMN not in have:  # rows stored before it keep '' (rolled up)
            qualified = f"{quote_identifier(database)}.{quote_identifier(table.name)}"
            client.command(f"ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS {TOKEN_COLUMN} {LC}")
            index = TOKEN_INDEX.replace("INDEX", "INDEX IF NOT EXISTS", 1)
            client.command(f"ALTER TABLE {qualified} ADD {index}")
            have = _columns(client, database, table.name)
        want = {c.name: c.type for c in table.all_columns}
        if table.tokened:
            want[TOKEN_COLUMN] = LC
        wrong = {n: (have.get(n), t) for n, t in want.items() if _norm(have.get(n)) != _norm(t)}
        if wrong:
            detail = ", ".join(f"{n} is {h or 'missing'} (want {w})" for n, (h, w) in wrong.items())
            raise SchemaMismatchError(
                f"table {database}.{table.name} exists with other columns: {detail}; migrate or drop it")
    db = quote_identifier(database)
    for table, elements in ((EVENTS, LOOKUP_ELEMENTS), (TAX_EVENTS, TAX_LOOKUP_ELEMENTS)):
        for element in elements:  # a table made before the look-ups existed
            kind, name, rest = element.split(" ", 2)
            client.command(
                f"ALTER TABLE {db}.{quote_identifier(table.name)} ADD {kind} IF NOT EXISTS {name} {rest}"
            )
    for ddl in VIEWS:
        client.command(ddl.format(db=db))
    create_rollups(client, database)
    for old in ("registry_licences", "registry_assets"):  # the file copies of earlier versions
        client.command(f"DROP TABLE IF EXISTS {db}.{old}")


def _columns(client: Any, database: str, table: str) -> dict[str, str]:
    found = client.query(
        "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} "
        "ORDER BY position", parameters={"db": database, "t": table}).result_rows
    return {str(name): str(typ) for name, typ in found}


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
