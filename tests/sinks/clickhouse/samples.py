"""Sample ArchiveBatch, ReceiptBatch and tax-events records, encoded and decoded through the real codec."""

from __future__ import annotations

import hashlib
from typing import Any

from schemas import (
    ARCHIVE_BATCH,
    GGR_STATEMENT,
    PAYOUT_TAX_BATCH,
    RECEIPT_BATCH,
    TAX_DISCREPANCY,
    default_codec,
)
from sinks.clickhouse.rollups import ROLLUPS

NOW_US = 1_800_000_000_123_457  # 2027-01-15, with odd microseconds on purpose
ARCHIVE = "dsom.archive"
RECEIPTS = "dsom.receipts.op-a"
CODEC = default_codec()


def event(**changes: Any) -> dict[str, Any]:
    ev: dict[str, Any] = dict(
        seq=1, operator_ref="tx-1", kind="BET", licence_id="LIC-OC-1", licence_kind="ONLINE_CASINO",
        channel="SITE", establishment_id=None, equipment_id=None, site_id="casino.example.ua",
        app_id=None, game_type="slots", round_ref="r1", bet_ref="b1", player_ref="p_ABCDEFGH23",
        amount=10_000, currency="UAH", occurred_at_us=NOW_US - 1_000_001, tax_withheld_pit=None,
        tax_withheld_military=None)
    ev.update(changes)
    return ev


def _hash(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest()


def archive_batch(events: list[dict[str, Any]], first_index: int = 1, operator_id: str = "op-a",
                  source_id: str = "s1", ingest_offset: int = 7, received_at_us: int = NOW_US) -> bytes:
    """An encoded ArchiveBatch holding ``events`` chained from ``first_index``."""
    archived = [{"receipt_id": f"r-{first_index + i:08d}", "chain_index": first_index + i,
                 "prev_hash": _hash(first_index + i - 1), "hash": _hash(first_index + i), "event": ev}
                for i, ev in enumerate(events)]
    return CODEC.encode(ARCHIVE_BATCH, {
        "chain_id": f"dsom.ingest.{operator_id}/0", "operator_id": operator_id, "source_id": source_id,
        "ingest_topic": f"dsom.ingest.{operator_id}", "ingest_partition": 0, "ingest_offset": ingest_offset,
        "received_at_us": received_at_us, "events": archived})


def receipt(seq: int | None, status: str = "REJECTED", reason: str | None = "unknown_licence",
            **changes: Any) -> dict[str, Any]:
    r: dict[str, Any] = {"seq": seq, "operator_ref": f"tx-{seq}" if seq is not None else None,
                         "status": status, "receipt_id": f"rc-{seq}", "reason": reason,
                         "detail": "no such licence" if reason else None, "kind": "BET",
                         "amount": 10_000, "occurred_at_us": NOW_US - 5}
    if status == "ACCEPTED":
        r.update(reason=None, detail=None)
    r.update(changes)
    return r


def receipt_batch(receipts: list[dict[str, Any]], operator_id: str = "op-a", source_id: str | None = "s1",
                  ingest_offset: int = 7) -> bytes:
    return CODEC.encode(RECEIPT_BATCH, {
        "operator_id": operator_id, "source_id": source_id, "ingest_topic": f"dsom.ingest.{operator_id}",
        "ingest_partition": 1, "ingest_offset": ingest_offset, "processed_at_us": NOW_US + 11,
        "receipts": receipts})


def decoded(value: bytes, expect: str) -> dict[str, Any]:
    name, record = CODEC.decode(value, expect=expect)
    assert name == expect
    return record


TAX_EVENTS_TOPIC = "dsom.tax-events"


def payout(receipt_id: str, amount: int, pit_withheld: int, discrepancy: bool = False,
           occurred_at_us: int = NOW_US, player_ref: str = "p_PLAYER0001") -> dict[str, Any]:
    """A PayoutTax: 18 % PIT and 5 % levy due (amounts here are whole hundreds, so exact)."""
    return {"receipt_id": receipt_id, "licence_id": "LIC-OC-1", "licence_kind": "ONLINE_CASINO",
            "player_ref": player_ref, "occurred_at_us": occurred_at_us, "amount": amount,
            "pit_rate_ppm": 180_000, "military_rate_ppm": 50_000, "pit_due": amount * 18 // 100,
            "military_due": amount * 5 // 100, "pit_withheld": pit_withheld,
            "military_withheld": amount * 5 // 100, "discrepancy": discrepancy}


def payout_tax_batch(payouts: list[dict[str, Any]], operator_id: str = "op-a") -> bytes:
    return CODEC.encode(PAYOUT_TAX_BATCH, {"operator_id": operator_id, "ingest_offset": 1,
                                           "chain_id": f"dsom.ingest.{operator_id}/0", "payouts": payouts})


def tax_discrepancy(receipt_id: str, amount: int, pit_withheld: int, operator_id: str = "op-a",
                    occurred_at_us: int = NOW_US) -> bytes:
    return CODEC.encode(TAX_DISCREPANCY, {
        "receipt_id": receipt_id, "operator_id": operator_id, "licence_id": "LIC-OC-1",
        "occurred_at_us": occurred_at_us, "amount": amount, "pit_due": amount * 18 // 100,
        "pit_withheld": pit_withheld, "military_due": amount * 5 // 100,
        "military_withheld": amount * 5 // 100, "tolerance": 1})


# 2026-11 in Kyiv: 2026-10-31 22:00 UTC to 2026-11-30 22:00 UTC.
NOV_START_US = 1_793_484_000_000_000
NOV_END_US = 1_796_076_000_000_000


def statement(revision: int, ggr: int, operator_id: str = "op-a", period: str = "2026-11",
              status: str = "OPEN") -> bytes:
    return CODEC.encode(GGR_STATEMENT, {
        "operator_id": operator_id, "period": period, "period_start_us": NOV_START_US,
        "period_end_us": NOV_END_US, "revision": revision, "status": status, "stakes": ggr + 1_000,
        "refunds": 0, "winnings": 1_000, "ggr": ggr, "bets": 3, "payouts": 1, "ggr_tax_rate_ppm": 100_000,
        "ggr_tax_due": max(ggr, 0) // 10, "pit_due": 180, "military_due": 50, "pit_withheld": 180,
        "military_withheld": 50, "discrepancies": 0, "issued_at_us": NOW_US + revision})


def rollup_contents(ch: Any, database: str = "dsom") -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup's rows, merged per key, to compare two ways of filling them.

    Quantile states are left out: a t-digest merged from several states may differ slightly
    from one built at once. Exact states (uniqExact) are compared by their value.
    """
    contents = {}
    for r in ROLLUPS:
        types = ch.query("SELECT name, type FROM system.columns WHERE database = {d:String} "
                         "AND table = {t:String} ORDER BY position",
                         parameters={"d": database, "t": r.name}).result_rows
        exprs = [f"finalizeAggregation({n})" if t.startswith("AggregateFunction(uniq") else n
                 for n, t in types if not t.startswith("AggregateFunction(quantiles")]
        contents[r.name] = sorted(tuple(str(v) for v in row) for row in ch.query(
            f"SELECT {', '.join(exprs)} FROM {database}.{r.name} FINAL").result_rows)
    return contents


ALERTS_TOPIC = "dsom.alerts"


def alert(alert_id: str, state: str, at_us: int, rule: str = "rtp_deviation", operator_id: str = "op-a",
          subject: str = "op-a|slot-1|slots") -> bytes:
    """A ``ua.dsom.v1.Alert`` record, encoded."""
    from schemas import ALERT  # noqa: PLC0415 - only the alert samples need it

    return CODEC.encode(ALERT, {
        "alert_id": alert_id, "state": state, "rule": rule, "rule_version": "2020-01-01",
        "severity": "CRITICAL", "subject_kind": "MACHINE", "subject": subject, "operator_id": operator_id,
        "licence_kind": None, "opened_at_us": 1_700_000_000_000_000, "at_us": at_us, "event_at_us": None,
        "amounts": {"stakes": 1_000}, "measures": {"z": -4.5}, "summary": f"{alert_id} {state}"})


def as_version_1(value: bytes) -> bytes:
    """An ArchiveBatch as archives written before its version 2 (link_rule) hold it."""
    import io  # noqa: PLC0415

    from fastavro import schemaless_writer  # noqa: PLC0415

    from schemas.codec import MAGIC, schema_versions  # noqa: PLC0415

    v1 = schema_versions(ARCHIVE_BATCH)[0]
    _, batch = CODEC.decode(value, expect=ARCHIVE_BATCH)
    del batch["link_rule"]
    buf = io.BytesIO()
    schemaless_writer(buf, v1.schema, batch)
    return MAGIC + v1.fingerprint + buf.getvalue()
