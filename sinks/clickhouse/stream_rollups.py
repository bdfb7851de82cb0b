"""A batch's roll-up rows computed in the stream, and the inserts that store them pre-aggregated.

The sink used to roll a stored batch up with one ``INSERT ... SELECT ... FROM events WHERE
ingest_token = <token>`` per rollup (``rollups.roll_up``): six reads of the batch back out of
``events``, about 30 ms of chdb CPU each, most of the sink's worker. Here the batch's archive
records are folded once, as they are read, into one row per group of each ``events`` rollup;
each rollup then gets one small insert of those rows. The fold is compiled on the raw-Avro path
(``dsom_native.rollup_rows``, over the undecoded records the sink hands ClickHouse); this module
is its reference (over decoded ``ArchiveBatch`` records) and the tests keep the two equal.

Every value a rollup sums, counts or takes the min or max of is folded here. The aggregate
states (``uniqExact`` of the bettors, t-digests of durations and stakes) are built by
ClickHouse at insert time from the values the fold collects (:data:`INPUTS`): the distinct
bettors, and each group's values in ascending order, so a repeat builds the same state.

Exactly once: the insert carries the token ``<batch token>-<rollup>``, the very token
``rollups.roll_up`` uses, and is one block of one row per group, as ``roll_up`` writes it. A
retry repeats it and ClickHouse drops it; after a crash the sink finishes the roll-up of stored
batches with ``roll_up`` from ``events`` (``resume.py``), which the same tokens make add only
what is missing. Both compute the same rows (tested against ``rebuild``, i.e. a GROUP BY over
``events``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from clickhouse_connect.driver.binding import format_str, quote_identifier

from pipeline.core.engine import Engine
from schemas import ARCHIVE_BATCH, default_codec
from sinks.clickhouse.rollups import (
    ASSETS_DAILY,
    GGR_HOURLY,
    INGEST_BY_OPERATOR,
    INGEST_HOURLY,
    INGEST_MINUTELY,
    KYIV_TZ,
    LATE_AFTER_US,
    PLAYERS_DAILY,
    SOURCE_SEQ,
    STAKE_BANDS,
    STAKES_DAILY,
    STAKES_HOURLY,
    TDIGEST_STATE,
    Rollup,
)

HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000
DAY_US = 86_400_000_000
GGR_KINDS = ("BET", "WIN", "REFUND")
ASSET_FIELDS = (("establishment", "establishment_id"), ("equipment", "equipment_id"),
                ("site", "site_id"), ("app", "app_id"))

Row = tuple[Any, ...]
Rows = dict[str, list[Row]]  # rollup name -> its rows, sorted by the group key


@dataclass(frozen=True)
class Inputs:
    """How a rollup's folded rows are read by ClickHouse: the file's structure, the SELECT."""

    rollup: Rollup
    structure: str  # the columns of each folded row, in order (JSONCompactEachRow)
    select: str  # one expression per column of the rollup, in the rollup's column order

    def insert_sql(self, database: str, path: str) -> str:
        db = quote_identifier(database)
        return (f"INSERT INTO {db}.{self.rollup.name} ({self.rollup.column_names}) "
                f"SELECT {self.select} FROM file({format_str(path)}, 'JSONCompactEachRow', "
                f"{format_str(self.structure)})")


def _us(column: str) -> str:
    return f"fromUnixTimestamp64Micro({column}, 'UTC')"


def _tdigest(values: str) -> str:
    return f"arrayReduce('{TDIGEST_STATE}', {values})"


_INGEST_STRUCTURE = ("t Int64, operator_id String, kind String, events UInt64, amount Int64, "
                     "last_received Int64, last_occurred Int64, late_events UInt64, max_delay_us Int64, "
                     "delays Array(Int64), received Array(Int64), received_events Array(UInt64)")
# now64() at insert, as roll_up's SELECT takes it: about when the batch became queryable.
_INGEST_SELECT = (
    f"toDateTime(t, 'UTC'), operator_id, kind, events, amount, {_us('last_received')}, "
    f"{_us('last_occurred')}, late_events, max_delay_us, {_tdigest('delays')}, "
    + _tdigest("arrayFlatten(arrayMap((r, n) -> arrayWithConstant(n, toUnixTimestamp64Micro(now64(6)) - r), "
               "received, received_events))"))

INPUTS: dict[str, Inputs] = {i.rollup.name: i for i in (
    Inputs(GGR_HOURLY,
           "hour Int64, operator_id String, licence_kind String, game_type String, stakes Int64, "
           "refunds Int64, winnings Int64, bets UInt64, payouts UInt64, refund_count UInt64, "
           "players Array(String)",
           "toDateTime(hour, 'UTC'), operator_id, licence_kind, game_type, stakes, refunds, winnings, bets, "
           "payouts, refund_count, arrayReduce('uniqExactState', players)"),
    Inputs(INGEST_MINUTELY, _INGEST_STRUCTURE, _INGEST_SELECT),
    Inputs(INGEST_HOURLY, _INGEST_STRUCTURE, _INGEST_SELECT),
    Inputs(SOURCE_SEQ,
           "operator_id String, source_id String, min_seq UInt64, max_seq UInt64, events UInt64, "
           "last_received Int64",
           f"operator_id, source_id, min_seq, max_seq, events, {_us('last_received')}"),
    Inputs(ASSETS_DAILY,
           "day Int64, operator_id String, asset_type String, asset_id String, licence_kind String, "
           "game_type String, events UInt64, bets UInt64, stakes Int64, refunds Int64, winnings Int64, "
           "first_seen Int64, last_seen Int64",
           "toDate(toDateTime(day * 86400, 'UTC'), 'UTC'), operator_id, asset_type, asset_id, licence_kind, "
           f"game_type, events, bets, stakes, refunds, winnings, {_us('first_seen')}, {_us('last_seen')}"),
    Inputs(STAKES_HOURLY,
           "hour Int64, operator_id String, licence_kind String, game_type String, band_1 UInt64, "
           "band_2 UInt64, band_3 UInt64, band_4 UInt64, band_5 UInt64, max_stake Int64, stakes Array(Int64)",
           "toDateTime(hour, 'UTC'), operator_id, licence_kind, game_type, band_1, band_2, band_3, band_4, "
           f"band_5, max_stake, {_tdigest('stakes')}"),
)}


@dataclass(frozen=True)
class Derived:
    """A coarser rollup re-read from an hourly rollup's folded rows (the same file, one more insert).

    Nothing more to fold (nor to keep equal between the reference and the compiled fold): the
    hourly rows already hold every value the day needs, the aggregate states' inputs included, and
    ClickHouse groups them by day (or operator only). ``columns`` are the rollup's, over the
    parent's file columns, grouped by its keys; values are sorted before a t-digest is built,
    so a repeat builds the same state. Stored under ``<batch token>-<rollup>``, as ``roll_up``
    stores the same rows computed from ``events``.
    """

    rollup: Rollup
    parent: Inputs
    columns: str  # the rollup's columns in order, over the parent's file columns
    group_by: str
    array_join: str = ""  # rows of the file repeated, e.g. once per unit of time

    def insert_sql(self, database: str, path: str) -> str:
        db = quote_identifier(database)
        # ordered by the group keys, as roll_up's insert is (one block, the same on a repeat)
        return (f"INSERT INTO {db}.{self.rollup.name} ({self.rollup.column_names}) SELECT {self.columns} "
                f"FROM file({format_str(path)}, 'JSONCompactEachRow', {format_str(self.parent.structure)}) "
                f"{self.array_join} GROUP BY {self.group_by} ORDER BY {self.group_by}")


_KYIV_DAY = f"toDate(toDateTime(hour, 'UTC'), '{KYIV_TZ}')"
_SORTED = "arraySort(arrayFlatten(groupArray({values})))"
# each event's time to queryable, as _INGEST_SELECT's store_q takes it
_STORE = ("arrayFlatten(arrayMap((r, n) -> arrayWithConstant(n, toUnixTimestamp64Micro(now64(6)) - r), "
          "received, received_events))")

DERIVED: dict[str, Derived] = {d.rollup.name: d for d in (
    Derived(PLAYERS_DAILY, INPUTS[GGR_HOURLY.name],
            f"{_KYIV_DAY} AS day, licence_kind, sum(bets), sum(stakes), "
            "arrayReduce('uniqExactState', arrayFlatten(groupArray(players)))",
            "day, licence_kind"),
    Derived(STAKES_DAILY, INPUTS[STAKES_HOURLY.name],
            f"{_KYIV_DAY} AS day, licence_kind, sum(band_1), sum(band_2), sum(band_3), sum(band_4), "
            f"sum(band_5), {_tdigest(_SORTED.format(values='stakes'))}",
            "day, licence_kind"),
    Derived(INGEST_BY_OPERATOR, INPUTS[INGEST_HOURLY.name],
            "unit, toDateTime(if(unit = 'hour', t, intDiv(t, 86400) * 86400), 'UTC') AS t_unit, scope, "
            f"sum(events), {_tdigest(_SORTED.format(values='delays'))}, "
            f"{_tdigest(_SORTED.format(values=_STORE))}",
            "unit, t_unit, scope",
            array_join="ARRAY JOIN ['hour', 'day'] AS unit ARRAY JOIN [operator_id, ''] AS scope"),
)}


def _band(amount: int) -> int:
    for i, limit in enumerate(STAKE_BANDS):
        if amount < limit:
            return i
    return len(STAKE_BANDS)


class _Ingest:
    __slots__ = ("events", "amount", "last_received", "last_occurred", "late", "max_delay", "delays",
                 "received")

    def __init__(self) -> None:
        self.events = self.amount = self.late = 0
        self.last_received = self.last_occurred = self.max_delay = -(1 << 63)
        self.delays: list[int] = []
        self.received: dict[int, int] = {}

    def add(self, amount: int, received: int, occurred: int) -> None:
        delay = received - occurred
        self.events += 1
        self.amount += amount
        self.last_received = max(self.last_received, received)
        self.last_occurred = max(self.last_occurred, occurred)
        self.late += delay > LATE_AFTER_US
        self.max_delay = max(self.max_delay, delay)
        self.delays.append(delay)
        self.received[received] = self.received.get(received, 0) + 1

    def row(self, t: int, operator_id: str, kind: str) -> Row:
        received = sorted(self.received)
        return (t, operator_id, kind, self.events, self.amount, self.last_received, self.last_occurred,
                self.late, self.max_delay, sorted(self.delays), received,
                [self.received[r] for r in received])


def fold(batches: Iterable[dict[str, Any]]) -> Rows:
    """The roll-up rows of decoded ``ArchiveBatch`` records: what ``roll_up`` would add for them.

    The reference of ``dsom_native.rollup_rows``; every events rollup of :data:`INPUTS`.
    """
    ggr: dict[tuple[int, str, str, str], list[Any]] = {}
    minutely: dict[tuple[int, str, str], _Ingest] = {}
    hourly: dict[tuple[int, str, str], _Ingest] = {}
    sources: dict[tuple[str, str], list[int]] = {}
    assets: dict[tuple[int, str, str, str, str, str], list[int]] = {}
    stakes: dict[tuple[int, str, str, str], list[Any]] = {}
    for batch in batches:
        op, received = batch["operator_id"], batch["received_at_us"]
        source = batch["source_id"]
        for archived in batch["events"]:
            ev = archived["event"]
            kind, amount, occurred = ev["kind"], ev["amount"], ev["occurred_at_us"]
            licence_kind, game = ev["licence_kind"], ev["game_type"] or ""
            hour = occurred // HOUR_US * 3600
            if kind in GGR_KINDS:
                g = ggr.get((hour, op, licence_kind, game))
                if g is None:
                    g = ggr[(hour, op, licence_kind, game)] = [0, 0, 0, 0, 0, 0, set()]
                if kind == "BET":
                    g[0] += amount
                    g[3] += 1
                    g[6].add(ev["player_ref"])
                elif kind == "REFUND":
                    g[1] += amount
                    g[5] += 1
                else:
                    g[2] += amount
                    g[4] += 1
            for table, unit in ((minutely, MINUTE_US), (hourly, HOUR_US)):
                key = (received // unit * (unit // 1_000_000), op, kind)
                acc = table.get(key)
                if acc is None:
                    acc = table[key] = _Ingest()
                acc.add(amount, received, occurred)
            s = sources.get((op, source))
            if s is None:
                sources[(op, source)] = [ev["seq"], ev["seq"], 1, received]
            else:
                seq = ev["seq"]
                s[0], s[1], s[2], s[3] = min(s[0], seq), max(s[1], seq), s[2] + 1, max(s[3], received)
            day = occurred // DAY_US
            for asset_type, field in ASSET_FIELDS:
                asset_id = ev[field]
                if not asset_id:
                    continue
                a = assets.get((day, op, asset_type, asset_id, licence_kind, game))
                if a is None:
                    a = assets[(day, op, asset_type, asset_id, licence_kind, game)] = [
                        0, 0, 0, 0, 0, occurred, occurred]
                a[0] += 1
                if kind == "BET":
                    a[1] += 1
                    a[2] += amount
                elif kind == "REFUND":
                    a[3] += amount
                elif kind == "WIN":
                    a[4] += amount
                a[5], a[6] = min(a[5], occurred), max(a[6], occurred)
            if kind == "BET":
                st = stakes.get((hour, op, licence_kind, game))
                if st is None:
                    st = stakes[(hour, op, licence_kind, game)] = [0, 0, 0, 0, 0, amount, []]
                st[_band(amount)] += 1
                st[5] = max(st[5], amount)
                st[6].append(amount)
    return {
        GGR_HOURLY.name: [(*k, *g[:6], sorted(g[6])) for k, g in sorted(ggr.items())],
        INGEST_MINUTELY.name: [acc.row(*k) for k, acc in sorted(minutely.items())],
        INGEST_HOURLY.name: [acc.row(*k) for k, acc in sorted(hourly.items())],
        SOURCE_SEQ.name: [(*k, *s) for k, s in sorted(sources.items())],
        ASSETS_DAILY.name: [(*k, *a) for k, a in sorted(assets.items())],
        STAKES_HOURLY.name: [(*k, *st[:6], sorted(st[6])) for k, st in sorted(stakes.items())],
    }


def encode(rows: list[Row]) -> bytes:
    """The rows as JSONCompactEachRow: one JSON array per line."""
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def rollup_files(batches: Iterable[dict[str, Any]]) -> dict[str, bytes]:
    """Each rollup's folded rows as the file its insert reads: ``dsom_native.rollup_rows``'s reference."""
    return {name: encode(rows) for name, rows in fold(batches).items()}


def folder(engine: Engine) -> Callable[[list[bytes]], dict[str, bytes]]:
    """The fold of ``engine`` over undecoded ArchiveBatch records: compiled, or the reference."""
    if engine == "native":
        import dsom_native

        return dsom_native.rollup_rows
    codec = default_codec()
    return lambda values: rollup_files(codec.decode(v, expect=ARCHIVE_BATCH)[1] for v in values)
