"""TaxProcessor.process_record (whole batches; compiled or reference reader) against process (per event)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from pipeline.core.tax import TaxRates, kyiv_midnight_us
from pipeline.core.taxation import TaxOutcome, TaxProcessor, TaxState
from pipeline.settings import HOUR_US, TaxSettings
from pipeline.tools.bench_offline import simulate
from schemas import ARCHIVE_BATCH, default_codec
from tests.sinks.clickhouse.samples import archive_batch, event

CODEC = default_codec()
RATES = TaxRates.load(TaxSettings().rates_path)
MIDNIGHT = kyiv_midnight_us(date(2026, 12, 1))  # a day and a month boundary in Kyiv


def run(values: list[bytes], settings: TaxSettings, how: str) -> tuple[list[TaxOutcome], TaxState, list[Any]]:
    proc = TaxProcessor(RATES, settings, CODEC, "python" if how == "reference" else "native")
    state = TaxState("dsom.archive", 0, settings)
    outs = []
    for v in values:
        if how == "per-event":
            outs.append(proc.process(state, CODEC.decode(v, expect=ARCHIVE_BATCH)[1]))
        else:
            outs.append(proc.process_record(state, v))
    return outs, state, proc.due(state, MIDNIGHT + 40 * 86_400_000_000)[0]


def assert_same(values: list[bytes], settings: TaxSettings) -> None:
    want_outs, want_state, want_due = run(values, settings, "per-event")
    for how in ("native", "reference"):
        outs, state, due = run(values, settings, how)
        assert outs == want_outs, how
        assert list(state.book.statements.items()) == list(want_state.book.statements.items()), how
        assert due == want_due, how


def at(t: int, kind: str = "BET", seq: int = 1, **changes: Any) -> dict[str, Any]:
    taxes = {"tax_withheld_pit": 18, "tax_withheld_military": 5} if kind == "WIN" else {}
    return event(**{"seq": seq, "kind": kind, "amount": 100, "occurred_at_us": t, **taxes, **changes})


@pytest.mark.parametrize("period", ["day", "month"])
def test_batches_across_period_boundaries_and_late_data(period: str) -> None:
    values = [
        archive_batch([at(MIDNIGHT - 10), at(MIDNIGHT - 5, "WIN", 2)], operator_id="op-a"),
        # across the boundary:
        archive_batch([at(MIDNIGHT - 3), at(MIDNIGHT, "WIN", 2), at(MIDNIGHT + 1, "REFUND", 3)]),
        archive_batch([at(MIDNIGHT + 2, "DEPOSIT")], operator_id="op-b"),  # counts nothing
        # late, the day before:
        archive_batch([at(MIDNIGHT + 5), at(MIDNIGHT - 2 * HOUR_US - 1, "WIN", 2, tax_withheld_pit=0)]),
        archive_batch([at(MIDNIGHT - 40 * 86_400_000_000, "WIN")], operator_id="op-b"),  # weeks late
        archive_batch([]),
        archive_batch([at(MIDNIGHT + 9), at(MIDNIGHT + 10, "WITHDRAWAL")]),
    ]
    assert_same(values, TaxSettings(period=period))


def test_simulated_archive_gives_what_event_by_event_gives() -> None:
    values = simulate(20_000).archive
    assert_same(values, TaxSettings(period="day"))
