"""The eleven reports, in four groups, as named and documented ClickHouse queries.

Every report is one SQL query over the sink's tables and rollups (never a scan of ``events``:
see ``sinks/clickhouse/rollups.py``), with the same parameters, bound by ClickHouse itself:

- ``since_us``, ``until_us``: the period, UTC microseconds, ``[since, until)``. Reports over
  hourly rollups take the hours that start in it, minute rollups the minutes, daily the days.
- ``now_us``: the moment "silent for" and "last 5 minutes" are measured from.
- ``operator``, ``licence_kind``, ``game_type``: filters; '' means all. A report that has no
  such column filters operators through the licence registry, or ignores the filter (its
  ``filters`` say which apply).
- ``granularity``: time buckets of the time-series reports (``minute``, ``hour``, ``day``,
  ``month``, ``kyiv_day``, ``kyiv_month``).
- ``silent_after_s``: how long without events makes a licensed operator silent.

The reports that join the registry (licence compliance, unregistered assets, compliance alerts,
return to player) join the version in force when the events happened, as the registry knows it
now (``registry_in_force``: each entity's timeline, fed by the sink from ``<prefix>.registry``).
The rollups keep the hour (or, per asset, the day with its first and last event), so "when" is
to that unit: an hour's events count as licensed when a licence of their kind was active at the
hour's start and at its end; a day's activity on an asset counts as registered when the asset
was registered to the operator at its first and at its last event of that day.

Money is Int64 kopecks and counts are integers; ratios (shares, RTP, rates) are Float64 and
labelled as such. The SQL is plain ClickHouse, so it runs unchanged on a server and on chdb;
Grafana panels are generated from it (``dashboards/grafana_gen.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sinks.clickhouse.queries import WINDOW_STARTS
from sinks.clickhouse.rollups import KYIV_TZ, QMERGE, STAKE_BAND_LABELS, STAKE_BANDS


def N_(message: str) -> str:  # noqa: N802 - the gettext convention extractors look for
    """Marks a string a person reads for extraction (``make i18n``); web/reports.py translates it."""
    return message


GROUPS = {
    "operational": N_("Operational"),
    "regulatory": N_("Regulatory"),
    "analytical": N_("Analytical"),
    "financial": N_("Financial"),
}
FILTERS = ("operator", "licence_kind", "game_type")
GRANULARITIES = tuple(WINDOW_STARTS)
# Rejection reasons that mean "an activity the operator is not licensed for".
UNLICENSED_REASONS = ("unknown_licence", "licence_kind_mismatch", "licence_inactive", "licence_suspended",
                      "channel_not_allowed")


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    kind: str = "text"  # text | count | money (kopecks) | ratio | percent | time | duration_us


@dataclass(frozen=True)
class Chart:
    type: str  # bar | line
    x: str  # column on the x axis (categories, or time for line)
    y: tuple[str, ...]  # columns plotted
    series: str | None = None  # a column whose values split y into one series each
    only: tuple[str, str] | None = None  # (column, value): plot only the rows that have it


@dataclass(frozen=True)
class Report:
    name: str
    group: str
    title: str
    description: str
    sql: str
    columns: tuple[Column, ...]
    chart: Chart | None
    filters: tuple[str, ...] = FILTERS
    time_series: bool = False  # takes ``granularity``

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


# -- shared fragments --

DB = "{db:Identifier}"


def _ts(bound: str) -> str:
    """A µs parameter as a DateTime, to compare with DateTime and Date columns of the rollups."""
    return f"toDateTime(intDiv({{{bound}:Int64}}, 1000000), 'UTC')"


def _period(column: str, date: bool = False) -> str:
    lo, hi = _ts("since_us"), _ts("until_us")
    if date:
        # The days the period touches: up to the day of its last microsecond (a period ending
        # inside a day, as Grafana's "now" does, would otherwise lose that day's activity).
        last = "toDateTime(intDiv({until_us:Int64} - 1, 1000000), 'UTC')"
        return f"{column} >= toDate({lo}) AND {column} <= toDate({last})"
    return f"{column} >= {lo} AND {column} < {hi}"


def _period64(column: str) -> str:
    return (f"{column} >= fromUnixTimestamp64Micro({{since_us:Int64}}, 'UTC') "
            f"AND {column} < fromUnixTimestamp64Micro({{until_us:Int64}}, 'UTC')")


# Each registry entity's segments of world time with what was in force (sinks/clickhouse/tables.py).
REG = DB + ".registry_in_force"
OP = "({operator:String} = '' OR operator_id = {operator:String})"
LK = "({licence_kind:String} = '' OR licence_kind = {licence_kind:String})"
GT = "({game_type:String} = '' OR game_type = {game_type:String})"
# Operators that held a licence of the filtered kind at any time, for tables without a
# licence_kind column (from the history's rows: cheaper than the view, and time plays no part).
LK_OP = ("({licence_kind:String} = '' OR operator_id IN (SELECT operator_id FROM " + DB
         + ".registry_history WHERE kind = 'licence' AND has(licence_kind, {licence_kind:String})))")
NOW_S = "intDiv({now_us:Int64}, 1000000)"


def _bucket(column: str) -> str:
    """Start of ``column``'s (a UTC DateTime) time bucket, as UTC µs, by ``{granularity}``."""
    *named, (_, last) = WINDOW_STARTS.items()
    cases = "".join(f"{{granularity:String}} = '{name}', {start.format(t=column)}, " for name, start in named)
    return f"toInt64(toUnixTimestamp(multiIf({cases}{last.format(t=column)}))) * 1000000"


def _bucket_end_s(bucket_us: str) -> str:
    """End of the bucket that starts at ``bucket_us`` (an expression, UTC µs), in UTC seconds."""
    start = f"toDateTime(intDiv({bucket_us}, 1000000), 'UTC')"
    kyiv = f"toDateTime(intDiv({bucket_us}, 1000000), 'Europe/Kyiv')"
    return (f"toInt64(toUnixTimestamp(multiIf("
            f"{{granularity:String}} = 'minute', {start} + INTERVAL 1 MINUTE, "
            f"{{granularity:String}} = 'hour', {start} + INTERVAL 1 HOUR, "
            f"{{granularity:String}} = 'day', {start} + INTERVAL 1 DAY, "
            f"{{granularity:String}} = 'month', {start} + INTERVAL 1 MONTH, "
            f"{{granularity:String}} = 'kyiv_day', {kyiv} + INTERVAL 1 DAY, "
            f"{kyiv} + INTERVAL 1 MONTH)))")


_UNLICENSED = "(" + ", ".join(f"'{r}'" for r in UNLICENSED_REASONS) + ")"

# Every operator the registry knows or the data mentions.
_OPERATORS = f"""operators AS (
    SELECT DISTINCT operator_id FROM (
        SELECT operator_id FROM {DB}.registry_history WHERE kind = 'licence'
        UNION ALL SELECT operator_id FROM {DB}.source_seq
        UNION ALL SELECT DISTINCT operator_id FROM {DB}.rejections WHERE operator_id != '')
    WHERE {OP} AND {LK_OP})"""

# The 5 minutes before now, for the ingest rate.
_RECENT = f"minute >= toDateTime({NOW_S} - 300, 'UTC') AND minute < toDateTime({NOW_S}, 'UTC')"
# The first whole hour in the period, and the start of the hour the period ends in.
_CEIL_SINCE = "toStartOfHour(toDateTime(intDiv({since_us:Int64} + 3599999999, 1000000), 'UTC'))"
_FLOOR_UNTIL = "toStartOfHour(toDateTime(intDiv({until_us:Int64}, 1000000), 'UTC'))"
# Accepted events per operator in the period, the rate over the 5 minutes before now, and the
# last arrival ever (from the tiny per-source rollup, so "silent for" reads no per-minute rows
# outside the period).
_INGEST = f"""ingest AS (
    SELECT s.operator_id AS operator_id, m.accepted AS accepted, m.late_events AS late_events,
           m.max_delay_us AS max_delay_us, s.last_received AS last_received, m.events_5m AS events_5m
    FROM (SELECT operator_id, max(last_received) AS last_received FROM {DB}.source_seq
          WHERE {OP} AND {LK_OP} GROUP BY operator_id) AS s
    LEFT JOIN (
        SELECT operator_id, sumIf(events, in_period) AS accepted,
               sumIf(late_events, in_period) AS late_events, maxIf(max_delay_us, in_period) AS max_delay_us,
               sumIf(events, recent) AS events_5m
        FROM (
            -- whole hours of the period from the hourly rollup, the minutes at its edges (and
            -- the last 5 minutes) from the per-minute one: exact, and a long period reads
            -- hours, not minutes
            SELECT operator_id, events, late_events, max_delay_us, 1 AS in_period, 0 AS recent
            FROM {DB}.ingest_hourly
            WHERE hour >= {_CEIL_SINCE} AND hour < {_FLOOR_UNTIL} AND {OP} AND {LK_OP}
            UNION ALL
            SELECT operator_id, events, late_events, max_delay_us,
                   {_period('minute')} AND (minute < {_CEIL_SINCE} OR minute >= {_FLOOR_UNTIL}), {_RECENT}
            FROM {DB}.ingest_minutely
            WHERE (({_period('minute')} AND (minute < {_CEIL_SINCE} OR minute >= {_FLOOR_UNTIL}))
                   OR ({_RECENT})) AND {OP} AND {LK_OP})
        GROUP BY operator_id) AS m ON m.operator_id = s.operator_id)"""

_REJECTED = f"""rejected AS (
    SELECT operator_id, count() AS rejected, countIf(reason IN {_UNLICENSED}) AS unlicensed,
           max(processed_at) AS last_rejected
    FROM {DB}.rejections WHERE {_period64('processed_at')} AND {OP} AND {LK_OP}
    GROUP BY operator_id)"""

# Missing sequence numbers per source: the accepted range less accepted and rejected seqs in it
# (a conflicting re-send names a seq already decided: it fills no gap).
_GAPS = f"""gaps AS (
    SELECT s.operator_id AS operator_id, s.source_id AS source_id,
           toInt64(s.max_seq - s.min_seq + 1) - toInt64(s.events)
               - toInt64(length(arrayFilter(x -> x BETWEEN s.min_seq AND s.max_seq, r.seqs))) AS missing
    FROM (SELECT operator_id, source_id, min(min_seq) AS min_seq, max(max_seq) AS max_seq,
                 sum(events) AS events
          FROM {DB}.source_seq WHERE {OP} AND {LK_OP} GROUP BY operator_id, source_id) AS s
    LEFT JOIN (SELECT operator_id, source_id, groupUniqArray(toUInt64(seq)) AS seqs
               FROM {DB}.rejections
               WHERE seq > 0 AND source_id != '' AND reason != 'conflicting_duplicate' AND {OP}
               GROUP BY operator_id, source_id) AS r
      ON s.operator_id = r.operator_id AND s.source_id = r.source_id)"""

# The registry's segments overlapping the period.
_IN_PERIOD = ("valid_from < fromUnixTimestamp64Micro({until_us:Int64}, 'UTC') "
              "AND valid_to > fromUnixTimestamp64Micro({since_us:Int64}, 'UTC')")
# True when the time ``t`` lies in one of ``spans`` ([(from, to), ...]).
_AT = "arrayExists(s -> s.1 <= {t} AND {t} < s.2, {spans})"

# Every licence in force at some time of the period, with its kind and its status at the period's
# end (or when it stopped being in force: 'expired' if its validity ended inside the period).
_UNTIL64 = "fromUnixTimestamp64Micro({until_us:Int64}, 'UTC')"
_LICENCES = f"""licences AS (
    SELECT operator_id, licence_id, kind_then AS licence_kind, status_then AS licence_status
    FROM (SELECT operator_id, licence_id, argMaxIf(licence_kind, valid_from, {_IN_PERIOD}) AS kind_then,
                 if(max(valid_to) <= {_UNTIL64}, 'expired',
                    argMaxIf(status, valid_from, valid_from < {_UNTIL64})) AS status_then
          FROM {REG} WHERE kind = 'licence' AND {OP} AND {LK}
          GROUP BY operator_id, licence_id HAVING countIf({_IN_PERIOD}) > 0))"""

# Events accepted in hours when the operator held no active licence of their kind (as the registry
# knows it now: a suspension recorded after the fact, from the time it took effect, counts).
_HOUR_END = "(hour + INTERVAL 3599999999 MICROSECOND)"
_OUTSIDE = f"""outside AS (
    SELECT g.operator_id AS operator_id, toInt64(sum(g.events)) AS events
    FROM (SELECT operator_id, licence_kind, hour, sum(bets) + sum(payouts) + sum(refund_count) AS events
          FROM {DB}.ggr_hourly WHERE {_period('hour')} AND {OP} AND {LK}
          GROUP BY operator_id, licence_kind, hour) AS g
    LEFT JOIN (SELECT operator_id, licence_kind, groupArray((valid_from, valid_to)) AS spans
               FROM {REG} WHERE kind = 'licence' AND status = 'active' AND {OP}
               GROUP BY operator_id, licence_kind) AS l
      ON l.operator_id = g.operator_id AND l.licence_kind = g.licence_kind
    WHERE NOT ({_AT.format(t='g.hour', spans='l.spans')}
               AND {_AT.format(t=_HOUR_END.replace('hour', 'g.hour'), spans='l.spans')})
    GROUP BY g.operator_id)"""

# Activity on assets not registered to the operator when it happened (to the day's first and last
# event on the asset).
_UNREGISTERED = f"""unregistered AS (
    SELECT a.operator_id AS operator_id, a.asset_type AS asset_type, a.asset_id AS asset_id,
           sum(a.events) AS events, sum(a.stakes) AS stakes,
           min(a.first_seen) AS first_seen, max(a.last_seen) AS last_seen
    FROM (SELECT operator_id, asset_type, asset_id, events, stakes, first_seen, last_seen
          FROM {DB}.assets_daily WHERE {_period('day', date=True)} AND {OP} AND {LK} AND {GT}) AS a
    LEFT JOIN (SELECT kind, entity_id, operator_id, groupArray((valid_from, valid_to)) AS spans
               FROM {REG} WHERE kind IN ('establishment', 'equipment', 'site', 'app')
                 AND status = 'active' AND {OP}
               GROUP BY kind, entity_id, operator_id) AS r
      ON r.kind = a.asset_type AND r.entity_id = a.asset_id AND r.operator_id = a.operator_id
    WHERE NOT ({_AT.format(t='a.first_seen', spans='r.spans')}
               AND {_AT.format(t='a.last_seen', spans='r.spans')})
    GROUP BY a.operator_id, a.asset_type, a.asset_id)"""

_GGR_PERIOD = f"{_period('hour')} AND {OP} AND {LK} AND {GT}"

# Whole days of the period from the daily rollups, the hours at its edges from the hourly ones
# (sinks/clickhouse/rollups.py, "whole days"): exactly the hours of the period, a week is a few
# hundred rows. A day is whole when all of its hours lie in the period (as _period takes hours).
_LO, _HI = _ts("since_us"), _ts("until_us")


def _kyiv_day_whole(day: str) -> str:
    """Whether the Kyiv day ``day`` (a ``Date`` expression) lies whole in the period."""
    return f"toDateTime({day}, '{KYIV_TZ}') >= {_LO} AND toDateTime({day} + 1, '{KYIV_TZ}') <= {_HI}"


def _utc_day_whole(day: str) -> str:
    """Whether the UTC day starting at ``day`` (a ``DateTime`` at midnight) lies whole in the period."""
    return f"{day} >= {_LO} AND {day} + INTERVAL 1 DAY <= {_HI}"


# Kyiv days per licence kind, for player activity when no operator or game filter asks for finer rows.
_BY_KYIV_DAY = "({operator:String} = '' AND {game_type:String} = '')"
_KIND_PERIOD_DAILY = f"{_BY_KYIV_DAY} AND {_kyiv_day_whole('day')} AND {LK}"
_KIND_PERIOD_HOURLY = (f"{_GGR_PERIOD} AND NOT ({_BY_KYIV_DAY} AND "
                       f"{_kyiv_day_whole(f'toDate(hour, {KYIV_TZ!r})')})")
# UTC days (``DateTime`` at midnight), for system status in days or months (UTC buckets: a day's
# rows fall in one bucket of either).
_BY_UTC_DAY = "{granularity:String} IN ('day', 'month')"
# ingest_by_operator's rows for the filters: all operators together ('') unless one is asked for.
_ALL_OPERATORS = "({operator:String} = '' AND {licence_kind:String} = '')"
_SCOPE = (f"(({_ALL_OPERATORS} AND operator_id = '') "
          f"OR (NOT {_ALL_OPERATORS} AND operator_id != '' AND {OP} AND {LK_OP}))")


# -- operational --

INGESTION_STATUS = Report(
    name="ingestion_status", group="operational", title=N_("Ingestion status per operator"),
    description=N_("For every operator: events accepted and rejected in the period, the share rejected, "
                "the accepted rate over the last 5 minutes, the last arrival and how long ago it was."),
    sql=f"""
WITH {_OPERATORS}, {_INGEST}, {_REJECTED}
SELECT o.operator_id AS operator_id, i.accepted AS accepted, r.rejected AS rejected,
       if(i.accepted + r.rejected = 0, 0,
          round(100 * r.rejected / (i.accepted + r.rejected), 3)) AS rejected_pct,
       round(i.events_5m / 300, 1) AS rate_per_s,
       if(i.last_received = toDateTime64(0, 6, 'UTC'), NULL, i.last_received) AS last_event,
       if(i.last_received = toDateTime64(0, 6, 'UTC'), NULL,
          {NOW_S} - toInt64(toUnixTimestamp(i.last_received))) AS silent_for_s
FROM operators AS o
LEFT JOIN ingest AS i ON i.operator_id = o.operator_id
LEFT JOIN rejected AS r ON r.operator_id = o.operator_id
ORDER BY operator_id
SETTINGS join_use_nulls = 0""",
    columns=(Column("operator_id", N_("Operator")), Column("accepted", N_("Accepted"), "count"),
             Column("rejected", N_("Rejected"), "count"), Column("rejected_pct", N_("Rejected %"), "percent"),
             Column("rate_per_s", N_("Events/s (last 5 min)"), "ratio"),
             Column("last_event", N_("Last event"), "time"),
             Column("silent_for_s", N_("Silent for (s)"), "count")),
    chart=Chart("bar", "operator_id", ("accepted", "rejected")),
    filters=("operator", "licence_kind"),
)

DATA_QUALITY = Report(
    name="data_quality", group="operational", title=N_("Data quality"),
    description=N_("Per operator and issue: rejections by reason code in the period (conflicting_duplicate "
                "counts the operator's conflicting re-sends: an event ID sent again with other content), "
                "sequence numbers missing now (gaps in a source's numbering), and late data (events "
                "received more than an hour after they occurred; operators may send days late after an "
                "outage)."),
    sql=f"""
WITH {_INGEST}, {_GAPS}
SELECT operator_id, issue, category, toInt64(count) AS count, detail FROM (
    SELECT operator_id, reason AS issue, 'rejection' AS category, count() AS count,
           concat('last ', toString(max(processed_at))) AS detail
    FROM {DB}.rejections WHERE {_period64('processed_at')} AND {OP} AND {LK_OP}
    GROUP BY operator_id, reason
    UNION ALL
    SELECT operator_id, 'sequence_gap', 'gap', sum(missing),
           concat(toString(countIf(missing > 0)), ' source(s) with gaps')
    FROM gaps GROUP BY operator_id HAVING sum(missing) > 0
    UNION ALL
    SELECT operator_id, 'late_data', 'late', late_events,
           concat('up to ', toString(round(max_delay_us / 3600e6, 1)), ' h late')
    FROM ingest WHERE late_events > 0)
ORDER BY operator_id, category, count DESC, issue""",
    columns=(Column("operator_id", N_("Operator")),
             Column("issue", N_("Issue")),
             Column("category", N_("Category")),
             Column("count", N_("Count"), "count"), Column("detail", N_("Detail"))),
    chart=Chart("bar", "issue", ("count",), series="operator_id"),
    filters=("operator", "licence_kind"),
)

SYSTEM_STATUS = Report(
    name="system_status", group="operational", title=N_("System status: throughput and latency"),
    description=N_("Per time bucket: events accepted and their rate (over the part of the bucket inside "
                "the period and before now; buckets of an hour or more count the hours that start in "
                "the period), and latency quantiles (t-digest, "
                "approximate): from occurred to received by the pipeline (operators' delay), and from "
                "received to queryable in ClickHouse (the pipeline's own). Consumer lag and errors come "
                "from the Prometheus metrics (shown live beside this report, and in Grafana)."),
    sql=f"""
SELECT bucket_us, accepted,
       -- over the part of the bucket inside the period and before now (the current bucket is partial)
       round(accepted / greatest(1,
           least({_bucket_end_s('bucket_us')}, intDiv({{until_us:Int64}}, 1000000), {NOW_S})
           - greatest(intDiv(bucket_us, 1000000), intDiv({{since_us:Int64}}, 1000000))), 3) AS rate_per_s,
       delay_p50_us, delay_p99_us, store_p50_us, store_p99_us
FROM (SELECT {_bucket('t')} AS bucket_us, sum(events) AS accepted,
             toInt64({QMERGE}(delay_q)[1]) AS delay_p50_us, toInt64({QMERGE}(delay_q)[3]) AS delay_p99_us,
             toInt64({QMERGE}(store_q)[1]) AS store_p50_us, toInt64({QMERGE}(store_q)[3]) AS store_p99_us
      FROM (SELECT minute AS t, events, delay_q, store_q FROM {DB}.ingest_minutely
            WHERE {{granularity:String}} = 'minute' AND {_period('minute')} AND {OP} AND {LK_OP}
            UNION ALL
            -- all operators together, or each (not per operator and event kind): hours, and whole
            -- days in day or month buckets (a week: 168 or 7 rows, per operator when filtered)
            SELECT t, events, delay_q, store_q FROM {DB}.ingest_by_operator
            WHERE unit = 'hour' AND {{granularity:String}} != 'minute' AND {_period('t')} AND {_SCOPE}
              AND NOT ({_BY_UTC_DAY} AND {_utc_day_whole('toStartOfDay(t)')})
            UNION ALL
            SELECT t, events, delay_q, store_q FROM {DB}.ingest_by_operator
            WHERE unit = 'day' AND {_BY_UTC_DAY} AND {_utc_day_whole('t')} AND {_SCOPE})
      GROUP BY bucket_us)
ORDER BY bucket_us""",
    columns=(Column("bucket_us", N_("From"), "time"), Column("accepted", N_("Accepted"), "count"),
             Column("rate_per_s", N_("Events/s"), "ratio"),
             Column("delay_p50_us", N_("Operator delay p50"), "duration_us"),
             Column("delay_p99_us", N_("Operator delay p99"), "duration_us"),
             Column("store_p50_us", N_("Pipeline latency p50"), "duration_us"),
             Column("store_p99_us", N_("Pipeline latency p99"), "duration_us")),
    chart=Chart("line", "bucket_us", ("rate_per_s",)),
    filters=("operator", "licence_kind"), time_series=True,
)

# -- regulatory --

LICENCE_COMPLIANCE = Report(
    name="licence_compliance", group="regulatory", title=N_("Silent operators and unlicensed activity"),
    description=N_("Every licence in force at some time of the period (and every operator that sends "
                "without one): its status at the period's end, events in the period, the last event and "
                "how long ago, and activity it is not licensed for: attempts rejected as unknown_licence, "
                "licence_kind_mismatch, licence_inactive, licence_suspended or channel_not_allowed, and "
                "events accepted in hours when the registry, as known now, shows no active licence of "
                "their kind (a suspension recorded after the fact counts from when it took effect). "
                "Status: silent when an active licence's operator sent nothing for silent_after_s."),
    sql=f"""
WITH {_LICENCES}, {_INGEST}, {_REJECTED}, {_OUTSIDE}
SELECT operator_id, licence_id, licence_kind, licence_status, accepted, last_event, silent_for_s,
       unlicensed_attempts,
       multiIf(licence_id = '', 'not in registry',
               licence_status = 'active' AND (last_event IS NULL OR silent_for_s > {{silent_after_s:Int64}}),
               'silent',
               unlicensed_attempts > 0, 'unlicensed activity',
               licence_status != 'active', licence_status, 'ok') AS status
FROM (
    SELECT l.operator_id AS operator_id, l.licence_id AS licence_id, l.licence_kind AS licence_kind,
           l.licence_status AS licence_status, i.accepted AS accepted,
           r.unlicensed + o.events AS unlicensed_attempts,
           if(i.last_received = toDateTime64(0, 6, 'UTC'), NULL, i.last_received) AS last_event,
           if(i.last_received = toDateTime64(0, 6, 'UTC'), NULL,
              {NOW_S} - toInt64(toUnixTimestamp(i.last_received))) AS silent_for_s
    FROM licences AS l
    LEFT JOIN ingest AS i ON i.operator_id = l.operator_id
    LEFT JOIN rejected AS r ON r.operator_id = l.operator_id
    LEFT JOIN outside AS o ON o.operator_id = l.operator_id
    UNION ALL
    SELECT i.operator_id, '', '', '', i.accepted, r.unlicensed + o.events, i.last_received,
           {NOW_S} - toInt64(toUnixTimestamp(i.last_received))
    FROM ingest AS i LEFT JOIN rejected AS r ON r.operator_id = i.operator_id
    LEFT JOIN outside AS o ON o.operator_id = i.operator_id
    WHERE i.operator_id NOT IN (SELECT operator_id FROM {REG} WHERE kind = 'licence' AND {_IN_PERIOD}))
ORDER BY status != 'ok' DESC, operator_id, licence_id
SETTINGS join_use_nulls = 0""",
    columns=(Column("operator_id", N_("Operator")), Column("licence_id", N_("Licence")),
             Column("licence_kind", N_("Licence kind")),
             Column("licence_status", N_("Licence status (end of period)")),
             Column("accepted", N_("Events"), "count"),
             Column("last_event", N_("Last event"), "time"),
             Column("silent_for_s", N_("Silent for (s)"), "count"),
             Column("unlicensed_attempts", N_("Unlicensed attempts"), "count"),
             Column("status", N_("Status"))),
    chart=Chart("bar", "operator_id", ("unlicensed_attempts",)),
    filters=("operator", "licence_kind"),
)

UNREGISTERED_ASSETS = Report(
    name="unregistered_assets", group="regulatory",
    title=N_("Activity on unregistered equipment, sites and apps"),
    description=N_("Establishments, equipment, websites and mobile apps that events in the period came "
                "through while they were not registered to the operator (as the registry knows it now, "
                "to the day's first and last event on the asset): events, stakes, first and last seen. "
                "Such events are accepted (the operation happened) and reported here."),
    sql=f"""
WITH {_UNREGISTERED}
SELECT operator_id, asset_type, asset_id, events, stakes, first_seen, last_seen
FROM unregistered
ORDER BY operator_id, asset_type, events DESC, asset_id""",
    columns=(Column("operator_id", N_("Operator")),
             Column("asset_type", N_("Type")),
             Column("asset_id", N_("Asset")),
             Column("events", N_("Events"), "count"), Column("stakes", N_("Stakes (UAH)"), "money"),
             Column("first_seen", N_("First seen"), "time"), Column("last_seen", N_("Last seen"), "time")),
    chart=Chart("bar", "asset_id", ("events",)),
)

COMPLIANCE_ALERTS = Report(
    name="compliance_alerts", group="regulatory", title=N_("Compliance alerts"),
    description=N_("One line per finding that needs a regulator's attention: silent operators with an "
                "active licence, unlicensed activity (rejected, or accepted while the registry shows no "
                "licence in force), activity on unregistered assets, winnings-tax discrepancies, a rejected "
                "share above 5 %, missing sequence numbers, and data more than 72 hours late."),
    # ClickHouse inlines a WITH subquery at every reference, so the findings per operator come
    # from one pass over ingest, rejected, outside and the active licences (each read once),
    # joined and unfolded by arrayJoin, not from one UNION branch each (ingest was computed
    # three times, rejected twice). At 100 M events: 6 to 11 % less CPU, the same rows.
    sql=f"""
WITH {_LICENCES}, {_INGEST}, {_REJECTED}, {_OUTSIDE}, {_GAPS}, {_UNREGISTERED}
SELECT severity, alert, operator_id, toInt64(value) AS value, detail FROM (
    SELECT f.1 AS severity, f.2 AS alert, op AS operator_id, f.3 AS value, f.4 AS detail
    FROM (
        SELECT op, arrayJoin(arrayConcat(
            if(silent,
               arrayMap(id -> ('high', 'silent_operator', silent_value,
                               concat('licence ', id, ': no events for ',
                                      if(silent_value < 0, 'ever', concat(toString(silent_value), ' s')))),
                        active_licences),
               []),
            if(unlicensed + outside_events > 0,
               [('high', 'unlicensed_activity', toInt64(unlicensed + outside_events),
                 concat(toString(unlicensed), ' rejected as outside the licence, ', toString(outside_events),
                        ' accepted while no licence of their kind was in force'))], []),
            if(rejected > 0 AND rejected / (rejected + accepted) > 0.05,
               [('medium', 'high_rejection_rate', toInt64(rejected),
                 concat(toString(round(100 * rejected / (rejected + accepted), 2)),
                        ' % of events rejected'))],
               []),
            if(in_ingest AND max_delay_us > 72 * 3600000000,
               [('low', 'very_late_data', toInt64(intDiv(max_delay_us, 3600000000)),
                 'hours late: beyond the 72 h operators have after an outage')], []))) AS f
        FROM (
            SELECT op, accepted, max_delay_us, in_ingest, rejected, unlicensed, outside_events,
                   active_licences,
                   if(last_received = toDateTime64(0, 6, 'UTC'), -1,
                      {NOW_S} - toInt64(toUnixTimestamp(last_received))) AS silent_value,
                   notEmpty(active_licences)
                       AND (last_received = toDateTime64(0, 6, 'UTC')
                            OR silent_value > {{silent_after_s:Int64}}) AS silent
            FROM (
                SELECT if(iro.op != '', iro.op, l.operator_id) AS op, accepted, max_delay_us, in_ingest,
                       last_received, rejected, unlicensed, outside_events, l.ids AS active_licences
                FROM (
                    SELECT if(ir.op != '', ir.op, o.operator_id) AS op, ir.accepted AS accepted,
                           ir.max_delay_us AS max_delay_us, ir.in_ingest AS in_ingest,
                           ir.last_received AS last_received, ir.rejected AS rejected,
                           ir.unlicensed AS unlicensed, o.events AS outside_events
                    FROM (
                        SELECT if(i.operator_id != '', i.operator_id, r.operator_id) AS op,
                               i.accepted AS accepted, i.max_delay_us AS max_delay_us,
                               i.operator_id != '' AS in_ingest, i.last_received AS last_received,
                               r.rejected AS rejected, r.unlicensed AS unlicensed
                        FROM ingest AS i FULL OUTER JOIN rejected AS r ON r.operator_id = i.operator_id) AS ir
                    FULL OUTER JOIN outside AS o ON o.operator_id = ir.op) AS iro
                FULL OUTER JOIN (SELECT operator_id, groupArray(licence_id) AS ids FROM licences
                                 WHERE licence_status = 'active' GROUP BY operator_id) AS l
                  ON l.operator_id = iro.op)))
    UNION ALL
    SELECT 'high', 'unregistered_asset', operator_id, count(),
           concat(arrayStringConcat(arraySlice(groupArray(asset_id), 1, 3), ', '),
                  if(count() > 3, ', ...', ''))
    FROM unregistered GROUP BY operator_id
    UNION ALL
    SELECT 'medium', 'tax_discrepancy', operator_id, sum(discrepancies),
           concat('withheld off by ', toString(sum(discrepancy_kopecks)), ' kopecks in all')
    FROM {DB}.tax_hourly
    WHERE {_period('hour')} AND {OP} AND {LK}
    GROUP BY operator_id HAVING sum(discrepancies) > 0
    UNION ALL
    SELECT 'low', 'sequence_gaps', operator_id, sum(missing),
           concat(toString(countIf(missing > 0)), ' source(s) missing sequence numbers')
    FROM gaps GROUP BY operator_id HAVING sum(missing) > 0)
ORDER BY severity = 'high' DESC, severity = 'medium' DESC, alert, operator_id
SETTINGS join_use_nulls = 0""",
    columns=(Column("severity", N_("Severity")),
             Column("alert", N_("Alert")),
             Column("operator_id", N_("Operator")),
             Column("value", N_("Value"), "count"), Column("detail", N_("Detail"))),
    chart=None,
    filters=("operator", "licence_kind"),
)

# -- analytical --

# The stake bands' columns (sinks/clickhouse/rollups.py: STAKE_BANDS, STAKE_BAND_LABELS), written
# out so each is a string the catalogs can translate.
_BAND_COLUMNS = (N_("Bets under 10 UAH"), N_("Bets of 10-100 UAH"), N_("Bets of 100-1,000 UAH"),
                 N_("Bets of 1,000-10,000 UAH"), N_("Bets of 10,000 UAH and more"))
assert len(_BAND_COLUMNS) == len(STAKE_BAND_LABELS) == len(STAKE_BANDS) + 1

PLAYER_ACTIVITY = Report(
    name="player_activity", group="analytical", title=N_("Player activity by kind of gambling"),
    description=N_("Per licence kind: active players (distinct pseudonymous bettors, exact), bets, bets per "
                   "player, stakes and the average stake, stake quantiles (t-digest, approximate) and the "
                   "number of bets in each stake band: under 10 UAH; 10-100 UAH; 100-1,000 UAH; "
                   "1,000-10,000 UAH; 10,000 UAH and more."),
    sql=f"""
SELECT g.licence_kind AS licence_kind, g.players AS active_players, g.bets AS bets,
       round(g.bets / greatest(g.players, 1), 2) AS bets_per_player, g.stakes AS stakes,
       intDiv(g.stakes, greatest(g.bets, 1)) AS avg_stake,
       toInt64(s.q[1]) AS stake_p50, toInt64(s.q[2]) AS stake_p90, toInt64(s.q[3]) AS stake_p99,
       s.b1 AS band_1, s.b2 AS band_2, s.b3 AS band_3, s.b4 AS band_4, s.b5 AS band_5
FROM (SELECT licence_kind, uniqExactMerge(players) AS players, sum(bets) AS bets, sum(stakes) AS stakes
      FROM (-- without an operator or game filter: whole Kyiv days per kind, edge hours per hour
            SELECT licence_kind, players, bets, stakes FROM {DB}.players_daily WHERE {_KIND_PERIOD_DAILY}
            UNION ALL
            SELECT licence_kind, players, bets, stakes FROM {DB}.ggr_hourly WHERE {_KIND_PERIOD_HOURLY})
      GROUP BY licence_kind) AS g
LEFT JOIN (SELECT licence_kind, {QMERGE}(stake_q) AS q, sum(band_1) AS b1, sum(band_2) AS b2,
                  sum(band_3) AS b3, sum(band_4) AS b4, sum(band_5) AS b5
           FROM (SELECT licence_kind, stake_q, band_1, band_2, band_3, band_4, band_5
                 FROM {DB}.stakes_daily WHERE {_KIND_PERIOD_DAILY}
                 UNION ALL
                 SELECT licence_kind, stake_q, band_1, band_2, band_3, band_4, band_5
                 FROM {DB}.stakes_hourly WHERE {_KIND_PERIOD_HOURLY})
           GROUP BY licence_kind) AS s
  ON s.licence_kind = g.licence_kind
ORDER BY licence_kind""",
    columns=(Column("licence_kind", N_("Kind")), Column("active_players", N_("Active players"), "count"),
             Column("bets", N_("Bets"), "count"), Column("bets_per_player", N_("Bets per player"), "ratio"),
             Column("stakes", N_("Stakes (UAH)"), "money"),
             Column("avg_stake", N_("Average stake (UAH)"), "money"),
             Column("stake_p50", N_("Stake p50 (UAH)"), "money"),
             Column("stake_p90", N_("Stake p90 (UAH)"), "money"),
             Column("stake_p99", N_("Stake p99 (UAH)"), "money"))
    + tuple(Column(f"band_{i}", label, "count") for i, label in enumerate(_BAND_COLUMNS, 1)),
    chart=Chart("bar", "licence_kind", ("active_players",)),
)

MARKET_DYNAMICS = Report(
    name="market_dynamics", group="analytical",
    title=N_("Market dynamics: turnover, GGR, shares, concentration"),
    description=N_("Per time bucket and operator: turnover (stakes accepted), GGR, the operator's share of "
                "the bucket's turnover, and the market's concentration as the Herfindahl-Hirschman "
                "index of turnover shares (0-10,000; above 2,500 is highly concentrated)."),
    sql=f"""
SELECT bucket_us, operator_id, turnover, ggr, round(share, 2) AS share_pct,
       round(sum(share * share) OVER (PARTITION BY bucket_us), 0) AS hhi
FROM (SELECT bucket_us, operator_id, turnover, ggr,
             100 * turnover / greatest(sum(turnover) OVER (PARTITION BY bucket_us), 1) AS share
      FROM (SELECT {_bucket('hour')} AS bucket_us, operator_id, sum(stakes) AS turnover,
                   sum(stakes) - sum(refunds) - sum(winnings) AS ggr
            FROM {DB}.ggr_hourly WHERE {_GGR_PERIOD}
            GROUP BY bucket_us, operator_id))
ORDER BY bucket_us, operator_id""",
    columns=(Column("bucket_us", N_("From"), "time"), Column("operator_id", N_("Operator")),
             Column("turnover", N_("Turnover (UAH)"), "money"), Column("ggr", N_("GGR (UAH)"), "money"),
             Column("share_pct", N_("Share of turnover %"), "percent"), Column("hhi", N_("HHI"), "ratio")),
    chart=Chart("line", "bucket_us", ("turnover",), series="operator_id"),
    time_series=True,
)

RETURN_TO_PLAYER = Report(
    name="return_to_player", group="analytical", title=N_("Return to player per game and per machine"),
    description=N_("Winnings paid per kopeck of net stakes (stakes - refunds), in %, per operator and game "
                "type, and per machine (equipment) in establishments, beside the RTP the machine was "
                "certified at in the equipment registry when it played (the certificate in force at its "
                "last event of each day; a machine re-certified in the period has a line per "
                "certificate; none when it was not registered). A machine far from its certified RTP "
                "deserves a look."),
    sql=f"""
SELECT level, operator_id, licence_kind, game_type, equipment_id, bets, stakes, refunds, winnings,
       if(stakes - refunds <= 0, NULL, round(100 * winnings / (stakes - refunds), 2)) AS rtp_pct,
       if(certified_bp = 0, NULL, certified_bp / 100) AS certified_rtp_pct,
       if(rtp_pct IS NULL OR certified_rtp_pct IS NULL, NULL,
          round(rtp_pct - certified_rtp_pct, 2)) AS rtp_minus_certified
FROM (
    SELECT 'game' AS level, operator_id, licence_kind, game_type, '' AS equipment_id,
           sum(bets) AS bets, sum(stakes) AS stakes, sum(refunds) AS refunds, sum(winnings) AS winnings,
           toUInt16(0) AS certified_bp
    FROM {DB}.ggr_hourly WHERE {_GGR_PERIOD}
    GROUP BY operator_id, licence_kind, game_type
    UNION ALL
    SELECT 'machine', a.operator_id, a.licence_kind, a.game_type, a.asset_id, sum(a.bets), sum(a.stakes),
           sum(a.refunds), sum(a.winnings),
           arrayFirst(s -> s.1 <= a.last_seen AND a.last_seen < s.2, r.spans).3 AS certified
    FROM (SELECT operator_id, licence_kind, game_type, asset_id, bets, stakes, refunds, winnings, last_seen
          FROM {DB}.assets_daily
          WHERE asset_type = 'equipment' AND {_period('day', date=True)} AND {OP} AND {LK} AND {GT}) AS a
    LEFT JOIN (SELECT entity_id, operator_id, groupArray((valid_from, valid_to, certified_rtp_bp)) AS spans
               FROM {REG} WHERE kind = 'equipment' AND status = 'active' AND {OP}
               GROUP BY entity_id, operator_id) AS r
      ON r.entity_id = a.asset_id AND r.operator_id = a.operator_id
    GROUP BY a.operator_id, a.licence_kind, a.game_type, a.asset_id, certified)
ORDER BY level = 'game' DESC, operator_id, game_type, equipment_id, certified_bp
SETTINGS join_use_nulls = 0""",
    columns=(Column("level", N_("Level")), Column("operator_id", N_("Operator")),
             Column("licence_kind", N_("Kind")), Column("game_type", N_("Game")),
             Column("equipment_id", N_("Machine")), Column("bets", N_("Bets"), "count"),
             Column("stakes", N_("Stakes (UAH)"), "money"), Column("refunds", N_("Refunds (UAH)"), "money"),
             Column("winnings", N_("Winnings (UAH)"), "money"), Column("rtp_pct", N_("RTP %"), "percent"),
             Column("certified_rtp_pct", N_("Certified RTP %"), "percent"),
             Column("rtp_minus_certified", N_("RTP - certified (points)"), "percent")),
    chart=Chart("bar", "game_type", ("rtp_pct",), series="operator_id", only=("level", "game")),
)

# -- financial --

GGR = Report(
    name="ggr", group="financial", title=N_("GGR per operator, licence kind and period"),
    description=N_("GGR = stakes accepted - stakes refunded - winnings paid, per time bucket (Kyiv months "
                "by default, as statements are), operator and licence kind; deposits and withdrawals "
                "are wallet flows and not part of it."),
    sql=f"""
SELECT {_bucket('hour')} AS period_start_us, operator_id, licence_kind,
       sum(stakes) AS stakes, sum(refunds) AS refunds, sum(winnings) AS winnings,
       stakes - refunds - winnings AS ggr, sum(bets) AS bets, sum(payouts) AS payouts
FROM {DB}.ggr_hourly WHERE {_GGR_PERIOD}
GROUP BY period_start_us, operator_id, licence_kind
ORDER BY period_start_us, operator_id, licence_kind""",
    columns=(Column("period_start_us", N_("Period from"), "time"), Column("operator_id", N_("Operator")),
             Column("licence_kind", N_("Kind")), Column("stakes", N_("Stakes (UAH)"), "money"),
             Column("refunds", N_("Refunds (UAH)"), "money"),
             Column("winnings", N_("Winnings (UAH)"), "money"),
             Column("ggr", N_("GGR (UAH)"), "money"), Column("bets", N_("Bets"), "count"),
             Column("payouts", N_("Payouts"), "count")),
    chart=Chart("bar", "operator_id", ("ggr",)),
    time_series=True,
)

TAXES = Report(
    name="taxes", group="financial", title=N_("Taxes: winnings tax withheld against computed, GGR tax due"),
    description=N_("Per operator: payouts of winnings in the period, personal income tax and military "
                   "levy due (computed by the pipeline at the rates in force) against what the operator "
                   "withheld, the payouts flagged as discrepancies, and the GGR and GGR tax due of the "
                   "latest revision of every statement whose own period overlaps the selected one. A "
                   "statement covers a whole Kyiv month and counts whole: the columns Statements from and "
                   "Statements until give the periods the GGR figures are for."),
    sql=f"""
SELECT operator_id, payouts, winnings, pit_due, pit_withheld, military_due, military_withheld,
       (pit_withheld + military_withheld) - (pit_due + military_due) AS withheld_minus_due,
       discrepancies, ggr, ggr_tax_due, statements,
       if(statements = 0, NULL, s_from) AS statements_from,
       if(statements = 0, NULL, s_until) AS statements_until
FROM (
    SELECT operator_id, toInt64(sum(payouts)) AS payouts, sum(winnings) AS winnings, sum(pit_due) AS pit_due,
           sum(pit_withheld) AS pit_withheld, sum(military_due) AS military_due,
           sum(military_withheld) AS military_withheld, toInt64(sum(discrepancies)) AS discrepancies
    FROM {DB}.tax_hourly
    WHERE {_period('hour')} AND {OP} AND {LK}
    GROUP BY operator_id) AS p
FULL OUTER JOIN (
    -- every statement whose period overlaps the selected one (a month's statement shows in a week
    -- of that month), with the span of the statements' own periods
    SELECT operator_id, sum(ggr) AS ggr, sum(ggr_tax_due) AS ggr_tax_due, count() AS statements,
           min(period_start) AS s_from, max(period_end) AS s_until
    FROM {DB}.ggr_statements
    WHERE period_start < fromUnixTimestamp64Micro({{until_us:Int64}}, 'UTC')
      AND period_end > fromUnixTimestamp64Micro({{since_us:Int64}}, 'UTC') AND {OP} AND {LK_OP}
    GROUP BY operator_id) AS s USING (operator_id)
ORDER BY operator_id
SETTINGS join_use_nulls = 0""",
    columns=(Column("operator_id", N_("Operator")), Column("payouts", N_("Payouts"), "count"),
             Column("winnings", N_("Winnings (UAH)"), "money"),
             Column("pit_due", N_("PIT due (UAH)"), "money"),
             Column("pit_withheld", N_("PIT withheld (UAH)"), "money"),
             Column("military_due", N_("Levy due (UAH)"), "money"),
             Column("military_withheld", N_("Levy withheld (UAH)"), "money"),
             Column("withheld_minus_due", N_("Withheld - due (UAH)"), "money"),
             Column("discrepancies", N_("Discrepancies"), "count"), Column("ggr", N_("GGR (UAH)"), "money"),
             Column("ggr_tax_due", N_("GGR tax due (UAH)"), "money"),
             Column("statements", N_("Statements"), "count"),
             Column("statements_from", N_("Statements from"), "time"),
             Column("statements_until", N_("Statements until"), "time")),
    chart=Chart("bar", "operator_id", ("pit_due", "pit_withheld")),
    filters=("operator", "licence_kind"),
)

REPORTS: tuple[Report, ...] = (
    INGESTION_STATUS, DATA_QUALITY, SYSTEM_STATUS,
    LICENCE_COMPLIANCE, UNREGISTERED_ASSETS, COMPLIANCE_ALERTS,
    PLAYER_ACTIVITY, MARKET_DYNAMICS, RETURN_TO_PLAYER,
    GGR, TAXES,
)
BY_NAME = {r.name: r for r in REPORTS}
