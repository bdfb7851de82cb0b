"""Pure conversion of decoded ArchiveBatch, ReceiptBatch and tax-events records into ClickHouse columns.

No I/O here. Rows are built column-oriented (one Python list per column, in the table's
column order from ``tables.py``), which is what clickhouse-connect serialises fastest.

Times stay integer microseconds since the epoch: clickhouse-connect writes an ``int`` into a
``DateTime64(6)`` column as raw ticks, so ClickHouse stores exactly the Avro value (no float
or ``datetime`` round trip). Only a rejected event's time, as the operator sent it, is clamped
to the range ClickHouse can show.

A row is identified by the Kafka record it came from plus its table's ``key_column``:
``chain_index`` for an event, ``receipt_id`` for a rejection, ``row_key`` for a tax event
(``receipt_id`` of a payout or discrepancy, ``<period>|<revision>`` of a statement: a record
holds one operator's statement), ``entity_id`` for a registry record (one row per record). The
sink passes the keys of rows already stored (after a crash between insert and offset commit) as
``skip``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson

from registry.core.history import END, timeline
from registry.core.snapshot import decode_value
from schemas import GGR_STATEMENT, PAYOUT_TAX_BATCH, TAX_DISCREPANCY, MalformedRecordError, UnknownSchemaError
from sinks.clickhouse.records import PAYOUT_FIELDS, PayoutView, ReceiptView, rejected_view
from sinks.clickhouse.tables import ALERTS, EVENTS, REGISTRY_HISTORY, REJECTIONS, TAX_EVENTS, Table

_NO_SKIP: frozenset[Any] = frozenset()
# DateTime64's documented range. A rejected event's time is whatever the operator sent (often
# the reason it was rejected); outside this range ClickHouse would show nonsense and Python
# clients fail to read it back as a datetime, so it is clamped to the nearest bound.
MIN_TIME_US = -2_208_988_800_000_000  # 1900-01-01 00:00:00 UTC
MAX_TIME_US = 10_413_791_999_999_999  # 2299-12-31 23:59:59.999999 UTC


def clamp_time_us(us: int | None) -> int | None:
    return None if us is None else min(max(us, MIN_TIME_US), MAX_TIME_US)


class Columns:
    """Rows of one table held column-oriented, in the table's column order."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.data: dict[str, list[Any]] = {name: [] for name in table.column_names}
        self.rows = 0

    def as_lists(self) -> list[list[Any]]:
        """The columns in insert order (the lists themselves, not copies)."""
        return [self.data[name] for name in self.table.column_names]

    def as_rows(self) -> list[dict[str, Any]]:
        """Row dicts; for tests and debugging, not the hot path."""
        names = self.table.column_names
        return [dict(zip(names, values, strict=True)) for values in zip(*self.as_lists(), strict=True)]

    def clear(self) -> None:
        self.truncate(0)

    def truncate(self, rows: int) -> None:
        """Drop every row after the first ``rows`` (undoes a partly appended record)."""
        for values in self.data.values():
            del values[rows:]
        self.rows = rows


def add_archive_batch(cols: Columns, batch: dict[str, Any], topic: str, partition: int, offset: int,
                      skip: Collection[int] = _NO_SKIP) -> int:
    """Append one ``events`` row per archived event; return the number of rows appended.

    ``batch`` is the archive record at ``topic``/``partition``/``offset``; events whose
    ``chain_index`` is in ``skip`` are already stored and left out.
    """
    assert cols.table is EVENTS
    d = cols.data
    operator_id = batch["operator_id"]
    source_id = batch["source_id"]
    received_at = batch["received_at_us"]
    chain_id = batch["chain_id"]
    added = 0
    try:
        for archived in batch["events"]:
            if skip and archived["chain_index"] in skip:
                continue
            ev = archived["event"]
            d["receipt_id"].append(archived["receipt_id"])
            d["operator_id"].append(operator_id)
            d["source_id"].append(source_id)
            d["seq"].append(ev["seq"])
            d["operator_ref"].append(ev["operator_ref"])
            d["kind"].append(ev["kind"])
            d["licence_id"].append(ev["licence_id"])
            d["licence_kind"].append(ev["licence_kind"])
            d["channel"].append(ev["channel"])
            d["establishment_id"].append(ev["establishment_id"] or "")
            d["equipment_id"].append(ev["equipment_id"] or "")
            d["site_id"].append(ev["site_id"] or "")
            d["app_id"].append(ev["app_id"] or "")
            d["game_type"].append(ev["game_type"] or "")
            d["round_ref"].append(ev["round_ref"] or "")
            d["bet_ref"].append(ev["bet_ref"] or "")
            d["player_ref"].append(ev["player_ref"])
            d["amount"].append(ev["amount"])
            d["currency"].append(ev["currency"])
            d["occurred_at"].append(ev["occurred_at_us"])
            d["received_at"].append(received_at)
            d["tax_withheld_pit"].append(ev["tax_withheld_pit"] or 0)
            d["tax_withheld_military"].append(ev["tax_withheld_military"] or 0)
            d["chain_id"].append(chain_id)
            d["chain_index"].append(archived["chain_index"])
            d["hash"].append(archived["hash"])
            d["src_topic"].append(topic)
            d["src_partition"].append(partition)
            d["src_offset"].append(offset)
            added += 1
    except BaseException:
        cols.truncate(cols.rows)  # never leave columns of unequal length behind
        raise
    cols.rows += added
    return added


def add_receipt_batch(cols: Columns, batch: dict[str, Any], topic: str, partition: int, offset: int,
                      skip: Collection[str] = _NO_SKIP) -> int:
    """Append one ``rejections`` row per REJECTED receipt of a decoded ReceiptBatch (see add_rejections)."""
    return add_rejections(cols, rejected_view(batch), topic, partition, offset, skip)


def add_rejections(cols: Columns, view: ReceiptView, topic: str, partition: int, offset: int,
                   skip: Collection[str] = _NO_SKIP) -> int:
    """Append one ``rejections`` row per rejected receipt; return the number of rows appended.

    ``view`` is the receipts record at ``topic``/``partition``/``offset`` (``records.py``);
    receipts whose ``receipt_id`` is in ``skip`` are already stored and left out. Accepted
    receipts are not rows: their events reach ``events`` through the archive topic.
    """
    assert cols.table is REJECTIONS
    d = cols.data
    operator_id, source_id, ingest_topic, ingest_partition, ingest_offset, processed_at, rejected = view
    added = 0
    try:
        for seq, operator_ref, receipt_id, reason, detail, kind, amount, occurred_at in rejected:
            if skip and receipt_id in skip:
                continue
            d["operator_id"].append(operator_id)
            d["source_id"].append(source_id or "")
            d["seq"].append(seq)
            d["operator_ref"].append(operator_ref or "")
            d["receipt_id"].append(receipt_id)
            d["reason"].append(reason or "")
            d["detail"].append(detail or "")
            d["kind"].append(kind or "")
            d["amount"].append(amount)
            d["occurred_at"].append(clamp_time_us(occurred_at))
            d["processed_at"].append(processed_at)
            d["ingest_topic"].append(ingest_topic)
            d["ingest_partition"].append(ingest_partition)
            d["ingest_offset"].append(ingest_offset)
            d["src_topic"].append(topic)
            d["src_partition"].append(partition)
            d["src_offset"].append(offset)
            added += 1
    except BaseException:
        cols.truncate(cols.rows)
        raise
    cols.rows += added
    return added


_TAX_ZERO: dict[str, Any] = {name: 0 for name in TAX_EVENTS.column_names}
_TAX_ZERO.update({name: "" for name in ("record_type", "row_key", "operator_id", "receipt_id", "licence_id",
                                        "licence_kind", "player_ref", "period", "status", "src_topic")})


def tax_event_rows(schema: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``tax_events`` rows (without src columns) of one decoded tax-events record."""
    if schema == PAYOUT_TAX_BATCH:
        return [{
            "record_type": "payout", "row_key": p["receipt_id"], "operator_id": record["operator_id"],
            "receipt_id": p["receipt_id"], "licence_id": p["licence_id"], "licence_kind": p["licence_kind"],
            "player_ref": p["player_ref"], "occurred_at": p["occurred_at_us"], "amount": p["amount"],
            "pit_rate_ppm": p["pit_rate_ppm"], "military_rate_ppm": p["military_rate_ppm"],
            "pit_due": p["pit_due"], "military_due": p["military_due"], "pit_withheld": p["pit_withheld"],
            "military_withheld": p["military_withheld"], "discrepancy": int(p["discrepancy"]),
        } for p in record["payouts"]]
    if schema == TAX_DISCREPANCY:
        return [{
            "record_type": "discrepancy", "row_key": record["receipt_id"],
            "operator_id": record["operator_id"], "receipt_id": record["receipt_id"],
            "licence_id": record["licence_id"], "occurred_at": record["occurred_at_us"],
            "amount": record["amount"], "pit_due": record["pit_due"], "pit_withheld": record["pit_withheld"],
            "military_due": record["military_due"], "military_withheld": record["military_withheld"],
            "discrepancy": 1,
        }]
    if schema == GGR_STATEMENT:
        r = record
        return [{
            "record_type": "statement", "row_key": f"{r['period']}|{r['revision']}",
            "operator_id": r["operator_id"], "occurred_at": r["period_start_us"],
            "period": r["period"], "period_end": r["period_end_us"], "revision": r["revision"],
            "status": r["status"], "stakes": r["stakes"], "refunds": r["refunds"],
            "winnings": r["winnings"], "ggr": r["ggr"], "bets": r["bets"], "payouts": r["payouts"],
            "ggr_tax_rate_ppm": r["ggr_tax_rate_ppm"], "ggr_tax_due": r["ggr_tax_due"],
            "pit_due": r["pit_due"], "military_due": r["military_due"], "pit_withheld": r["pit_withheld"],
            "military_withheld": r["military_withheld"], "discrepancies": r["discrepancies"],
            "issued_at": r["issued_at_us"],
        }]
    raise UnknownSchemaError(f"{schema} is not a tax-events schema")


def add_tax_event(cols: Columns, schema: str, record: dict[str, Any], topic: str, partition: int,
                  offset: int, skip: Collection[str] = _NO_SKIP) -> int:
    """Append the ``tax_events`` rows of one record; rows whose ``row_key`` is in ``skip`` are stored."""
    assert cols.table is TAX_EVENTS
    added = 0
    for row in tax_event_rows(schema, record):
        if skip and row["row_key"] in skip:
            continue
        full = {**_TAX_ZERO, **row, "src_topic": topic, "src_partition": partition, "src_offset": offset}
        for name, values in cols.data.items():
            values.append(full[name])
        added += 1
    cols.rows += added
    return added


_PAYOUT_COLUMNS = tuple("occurred_at" if f == "occurred_at_us" else f for f in PAYOUT_FIELDS)
_PAYOUT_ZEROS = tuple((name, _TAX_ZERO[name]) for name in TAX_EVENTS.column_names
                      if name not in {*_PAYOUT_COLUMNS, "record_type", "row_key", "operator_id",
                                      "src_topic", "src_partition", "src_offset"})


def add_payouts(cols: Columns, view: PayoutView, topic: str, partition: int, offset: int) -> int:
    """Append the ``tax_events`` rows of one PayoutTaxBatch, a column at a time.

    The same rows as ``add_tax_event`` of the decoded record (tested), without a dict per row;
    for records with rows to leave out the sink uses ``add_tax_event``.
    """
    assert cols.table is TAX_EVENTS
    operator_id, _, _, columns = view
    n = len(columns[0])
    d = cols.data
    for name, values in zip(_PAYOUT_COLUMNS, columns, strict=True):
        d[name].extend(values)
    d["row_key"].extend(columns[0])
    for name, value in (("record_type", "payout"), ("operator_id", operator_id), ("src_topic", topic),
                        ("src_partition", partition), ("src_offset", offset), *_PAYOUT_ZEROS):
        d[name].extend([value] * n)
    cols.rows += n
    return n


def add_alert(cols: Columns, alert: dict[str, Any], topic: str, partition: int, offset: int,
              skip: Collection[str] = _NO_SKIP) -> int:
    """Append the ``alerts`` row of one decoded ``ua.dsom.v1.Alert`` record (none if in ``skip``)."""
    assert cols.table is ALERTS
    key = f"{alert['alert_id']}:{alert['state']}:{alert['at_us']}"
    if key in skip:
        return 0
    row = {
        "row_key": key, "alert_id": alert["alert_id"], "state": alert["state"], "rule": alert["rule"],
        "rule_version": alert["rule_version"], "severity": alert["severity"],
        "subject_kind": alert["subject_kind"], "subject": alert["subject"],
        "operator_id": alert["operator_id"],
        "licence_kind": alert["licence_kind"] or "", "opened_at": alert["opened_at_us"], "at": alert["at_us"],
        "event_at": alert["event_at_us"], "amounts": orjson.dumps(alert["amounts"]).decode(),
        "measures": orjson.dumps(alert["measures"]).decode(), "summary": alert["summary"],
        "src_topic": topic, "src_partition": partition, "src_offset": offset,
    }
    for name, values in cols.data.items():
        values.append(row[name])
    cols.rows += 1
    return 1


# The registry's kinds the reports join; representatives (people) are not copied.
REGISTRY_KINDS = frozenset({"operator", "licence", "establishment", "equipment", "site", "app"})
_REGISTRY_SEGMENT_COLUMNS = ("valid_from", "valid_to", "status", "licence_id", "licence_kind",
                             "establishment_id", "certified_rtp_bp", "seq", "recorded_at")


def registry_row(key: bytes | None, value: bytes | None) -> dict[str, Any] | None:
    """The ``registry_history`` row (without src columns) of one ``<prefix>.registry`` record.

    The record holds an entity's versions; the row holds its timeline (``registry.core.history``,
    the validator's own definition of what was in force when) as parallel arrays, one element per
    segment. A licence's segments are clipped to its own validity dates, so "in force and active"
    is one test for it too. None for what the reports do not join: representatives, a record
    without a key, a tombstone (the registry deletes nothing), an entity with no segment.
    """
    if key is None or value is None:
        return None
    kind, sep, entity_id = key.decode(errors="replace").partition("/")
    if not sep or kind not in REGISTRY_KINDS:
        return None
    try:
        segs = timeline(decode_value(value))
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedRecordError(f"registry record {kind}/{entity_id}: {exc}") from exc
    row: dict[str, Any] = {"kind": kind, "entity_id": entity_id, "operator_id": ""}
    row.update({name: [] for name in _REGISTRY_SEGMENT_COLUMNS})
    for seg in segs:
        v, d = seg.version, seg.version.data
        lo, hi = seg.start_us, END if seg.end_us is None else seg.end_us
        if kind == "licence":
            lo = max(lo, int(d.get("valid_from_us", 0)))
            hi = min(hi, END if d.get("valid_to_us") is None else int(d["valid_to_us"]))
            if lo >= hi:
                continue
        row["operator_id"] = v.operator_id
        row["valid_from"].append(clamp_time_us(lo))
        row["valid_to"].append(clamp_time_us(hi))
        row["status"].append(str(d.get("status", "active")))
        row["licence_id"].append(v.entity_id if kind == "licence" else str(d.get("licence_id") or ""))
        row["licence_kind"].append(str(d.get("licence_kind") or ""))
        row["establishment_id"].append(str(d.get("establishment_id") or "") if kind == "equipment" else "")
        row["certified_rtp_bp"].append(int(d.get("certified_rtp_bp") or 0))
        row["seq"].append(v.seq)
        row["recorded_at"].append(v.recorded_at_us)
    return row if row["valid_from"] else None


def add_registry_record(cols: Columns, key: bytes | None, value: bytes | None, topic: str, partition: int,
                        offset: int, skip: Collection[str] = _NO_SKIP) -> int:
    """Append the ``registry_history`` row of one registry record (0 or 1 rows)."""
    assert cols.table is REGISTRY_HISTORY
    row = registry_row(key, value)
    if row is None or row["entity_id"] in skip:
        return 0
    full = {**row, "src_topic": topic, "src_partition": partition, "src_offset": offset}
    for name, values in cols.data.items():
        values.append(full[name])
    cols.rows += 1
    return 1
