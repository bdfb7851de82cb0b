"""The worst records the contract allows produce outputs within the proven bound, in both engines."""

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from pipeline.core.limits import (
    MAX_DETAIL_BYTES,
    OUTPUT_MESSAGE_BYTES,
    cap_detail,
    worst_case_output_bytes,
)
from pipeline.core.processor import Outcome
from pipeline.core.validation import quoted
from pipeline.settings import ValidationSettings
from tests.pipeline.core.test_processor import ENGINES, Engine, processor, record
from tests.pipeline.core.test_validation import NOW, event

V = ValidationSettings()
BOUND = worst_case_output_bytes(V.max_record_bytes, V.max_events_per_batch, V.max_open_gaps_per_source)


def test_the_bound_fits_the_output_topics() -> None:
    assert max(BOUND.values()) <= OUTPUT_MESSAGE_BYTES


@cache
def fill(case: str) -> bytes:
    """The largest record of events ``WORST[case](i)`` within both limits (events and bytes)."""
    make = WORST[case]
    per_event = len(record([make(0), make(1)])) - len(record([make(0)]))
    n = min(V.max_events_per_batch, V.max_record_bytes // per_event)
    while len(value := record([make(i) for i in range(n)])) > V.max_record_bytes:
        n -= max(1, (len(value) - V.max_record_bytes) // per_event)
    return value


NON_PRINTABLE = "\U000e0001" * 32  # repr writes each as 10 characters: the longest details
CONTROL = "\x01" * 128  # JSON writes each as 6 bytes: the largest bets changelog


WORST: dict[str, Callable[[int], dict[str, Any]]] = {
    # every event rejected with a detail quoting its bet_ref: the largest receipts
    "refunds_of_unknown_bets": lambda i: event(seq=i + 1, kind="REFUND", bet_ref=NON_PRINTABLE,
                                               operator_ref=""),
    # the most events, each rejected
    "most_events_rejected": lambda i: event(seq=i + 1, amount=0, operator_ref="", round_ref=None,
                                            bet_ref="b", site_id="s", game_type="g"),
    # the most events, each accepted: the largest archive
    "most_events_accepted": lambda i: event(seq=i + 1, kind="DEPOSIT", operator_ref="", round_ref=None,
                                            bet_ref=None, game_type=None, site_id="s"),
    # accepted BETs with bet_refs JSON escapes most
    "bets_with_control_characters": lambda i: event(seq=i + 1, bet_ref=CONTROL[:120] + f"{i:08d}",
                                                    operator_ref=""),
    # a source left with the most open gaps, its seqs as long as JSON numbers get
    "most_open_gaps": lambda i: event(seq=(1 << 62) + 2 * i, kind="DEPOSIT", operator_ref="",
                                      round_ref=None, bet_ref=None, game_type=None, site_id="s"),
}


def sizes(out: Outcome) -> dict[str, int]:
    found = {"receipts": len(out.receipts_value or b"") + len(out.receipts_key),
             "archive": len(out.archive_value or b"") + 64}
    for key, value in out.changelog:
        kind = ("seq_entry" if b"|seq|" in key else "bets_entry" if b"|bets|" in key
                else "digests_entry" if b"|dig|" in key else "other")
        found[kind] = max(found.get(kind, 0), len(key) + len(value or b""))
    return found


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(WORST))
def test_worst_records_stay_within_the_bound(engine: Engine, case: str) -> None:
    value = fill(case)
    proc = processor(engine)
    out = proc.process(proc.new_state("dsom.ingest.op-a", 0), 0, b"s1", value, NOW)
    assert out.events_in > 0
    for kind, size in sizes(out).items():
        if kind in BOUND:
            assert size <= BOUND[kind], (case, kind, size)
    # each case reaches the output it was built for, so the bound is tested where it binds
    biggest = max(sizes(out).items(), key=lambda kv: kv[1])
    assert biggest[1] > 400_000, (case, sizes(out))


def test_details_are_cut_at_a_character_boundary() -> None:
    assert cap_detail("x" * MAX_DETAIL_BYTES) == "x" * MAX_DETAIL_BYTES
    cut = cap_detail("x" * (MAX_DETAIL_BYTES - 1) + "ї")  # 2 bytes: does not fit whole
    assert cut == "x" * (MAX_DETAIL_BYTES - 1)
    assert len(cap_detail("ї" * 1000).encode()) == MAX_DETAIL_BYTES


def test_quoted_values_are_bounded() -> None:
    assert quoted("abc") == "'abc'"
    assert quoted("x" * 300) == repr("x" * 64) + "…"
