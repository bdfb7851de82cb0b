"""Roll-ups folded in the stream (stream_rollups.py, dsom_native.rollup_rows): the compiled fold
equals the reference byte for byte, and the pre-aggregated inserts equal a GROUP BY over
``events`` (rollups.rebuild) across retries, replays and crashes between the inserts."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import dsom_native
import pytest

from pipeline.tools.bench_offline import simulate
from schemas import ARCHIVE_BATCH
from sinks.clickhouse import avro
from sinks.clickhouse.batch import TableBatch
from sinks.clickhouse.rollups import ROLLUPS, rebuild_all, roll_up
from sinks.clickhouse.stream_rollups import DERIVED, INPUTS, fold, rollup_files
from sinks.clickhouse.tables import EVENTS
from sinks.clickhouse.writer import ClickHouseWriter
from tests.sinks.clickhouse.conftest import DB
from tests.sinks.clickhouse.samples import ARCHIVE, NOW_US, archive_batch, decoded, event, rollup_contents

HOUR = 3_600_000_000
JAN31_END = 1_801_439_999_999_999  # the last microsecond of January 2027 (UTC)


@cache
def simulated() -> tuple[bytes, ...]:
    """Archive records of simulated traffic: every kind, licence kind, channel and asset."""
    return tuple(simulate(4_000, batch_size=100).archive)


def hand_made() -> list[bytes]:
    """Edge cases: text that JSON escapes, no game type, no assets, several assets, late and
    early events, hour, day and month boundaries, every stake band, one record of no events."""
    return [
        archive_batch([
            event(seq=1, kind="BET", amount=999, occurred_at_us=JAN31_END, player_ref='p_"quo\\te\n'),
            event(seq=2, kind="BET", amount=1_000, occurred_at_us=JAN31_END + 1, player_ref="p_ÄÖÜ✓"),
            event(seq=3, kind="WIN", amount=5_000, occurred_at_us=JAN31_END - HOUR, game_type=None,
                  tax_withheld_pit=900, tax_withheld_military=75),
            event(seq=5, kind="REFUND", amount=10_000, occurred_at_us=JAN31_END, site_id=None,
                  establishment_id="est\t1", equipment_id="eq-1", app_id="app.x"),
            event(seq=4, kind="DEPOSIT", amount=1_000_000, occurred_at_us=JAN31_END + 2 * HOUR,
                  bet_ref=None, game_type=None),
            event(seq=9, kind="BET", amount=100_000, occurred_at_us=JAN31_END, site_id=None),
            event(seq=7, kind="BET", amount=10_000_000, occurred_at_us=JAN31_END, player_ref="p_ÄÖÜ✓"),
        ], operator_id="op-ü", source_id="s\x01", received_at_us=JAN31_END + 3 * HOUR),
        archive_batch([event(seq=1, kind="WITHDRAWAL", amount=1, occurred_at_us=NOW_US + 10 * HOUR)],
                      first_index=100, received_at_us=NOW_US),  # received before it occurred
        archive_batch([], first_index=200),
    ]


@pytest.mark.parametrize("records", ["simulated", "hand-made"])
def test_the_compiled_fold_is_the_reference_byte_for_byte(records: str) -> None:
    values = list(simulated()) if records == "simulated" else hand_made()
    want = rollup_files(decoded(v, ARCHIVE_BATCH) for v in values)
    assert set(want) == set(INPUTS)
    assert set(INPUTS) | set(DERIVED) == {r.name for r in ROLLUPS if r.source == "events"}
    assert all(want.values()) if records == "simulated" else want["stakes_hourly"]
    assert dsom_native.rollup_rows(values) == want


def test_the_fold_counts_what_it_is_given() -> None:
    rows = fold(decoded(v, ARCHIVE_BATCH) for v in hand_made())
    (source,) = [r for r in rows["source_seq"] if r[0] == "op-ü"]
    assert source[1:5] == ("s\x01", 1, 9, 7)
    bands = [r[4:9] for r in rows["stakes_hourly"]]
    assert [sum(b) for b in zip(*bands, strict=True)] == [1, 1, 0, 1, 1]  # 999, 1,000, 100,000, 10 M kopecks


def raw_batch(offset: int, values: list[bytes]) -> TableBatch:
    """The sink's batch of archive records handed to ClickHouse undecoded."""
    batch = TableBatch(EVENTS)
    for i, value in enumerate(values):
        batch.add_raw(0, offset + i, value, avro.archive_event_count(value))
        batch.add_record(ARCHIVE, 0, offset + i, now=0.0)
    return batch


def contents(ch: Any) -> dict[str, Any]:
    """Every rollup's rows (rollup_contents) and their quantiles, except the time to queryable
    (``store_q``: when the roll-up ran), where each group holds few enough values for a t-digest
    to keep them all: not ingest_by_operator's all-operators rows (operator_id ''), whose digests
    merged batch by batch differ slightly from one built from every value at once."""
    out: dict[str, Any] = rollup_contents(ch)
    quantiles = (("ingest_minutely", "delay_q", "1"), ("ingest_hourly", "delay_q", "1"),
                 ("stakes_hourly", "stake_q", "1"), ("stakes_daily", "stake_q", "1"),
                 ("ingest_by_operator", "delay_q", "operator_id != ''"))
    for name, column, where in quantiles:
        out[f"{name}.{column}"] = ch.query(
            f"SELECT toString(finalizeAggregation({column})) AS q FROM {DB}.{name} FINAL WHERE {where} "
            "ORDER BY q"
        ).result_rows
    return out


def store_only(writer: ClickHouseWriter, batch: TableBatch) -> None:
    """The batch's events insert alone, as a process that dies right after it leaves it."""
    token = batch.token()
    writer._insert_avro(EVENTS, [(p, o, v) for p, o, v, _ in batch.raw],
                        {"insert_deduplication_token": token, "insert_deduplicate": 1}, token)


def test_pre_aggregated_rollups_equal_a_group_by_over_events_across_replays(ch: Any) -> None:
    writer = ClickHouseWriter(ch, DB, ARCHIVE, threading.Event())
    values = list(simulated()) + hand_made()
    batches = [raw_batch(i * 10, values[i * 10:(i + 1) * 10]) for i in range((len(values) + 9) // 10)]
    assert len(batches) >= 4
    writer.write(batches[0])
    writer.write(batches[0])  # retried after it landed
    # a crash between the events insert and the roll-ups: recovered from events (resume.py)
    crashed = batches[1]
    store_only(writer, crashed)
    roll_up(ch, DB, "events", crashed.token())
    writer.write(crashed)  # and read again: the whole batch replayed
    # a crash midway through the roll-ups: some landed pre-aggregated, the rest from events
    midway = batches[2]
    store_only(writer, midway)
    rolled = dsom_native.rollup_rows([v for _, _, v, _ in midway.raw])
    writer._insert_rolled({n: rolled[n] for n in ("ggr_hourly", "assets_daily")}, midway.token())
    roll_up(ch, DB, "events", midway.token())
    for batch in batches[3:]:
        writer.write(batch)
    writer.write(batches[-1])
    assert int(ch.command(f"SELECT count() FROM {DB}.events")) == sum(b.rows for b in batches)
    streamed = contents(ch)
    assert all(streamed[r.name] for r in ROLLUPS if r.source == "events")
    rebuild_all(ch, DB)  # the GROUP BY over every stored event
    assert contents(ch) == streamed
