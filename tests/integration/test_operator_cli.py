"""An operator sends events from a JSON Lines file and reads its receipts back."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.agents.validator import ValidatorAgent
from pipeline.archive import verify_archive
from pipeline.operator.cli import produce_file
from pipeline.operator.producer import OperatorProducer
from pipeline.settings import Settings
from schemas import RECEIPT_BATCH, default_codec
from tests.integration.conftest import as_operator, read_all
from tests.integration.test_ingest_path import seed_registry

pytestmark = pytest.mark.integration


def test_events_from_a_file_get_receipts_and_a_resend_gets_duplicates(settings: Settings,
                                                                       tmp_path: Path) -> None:
    seed_registry(settings)
    now = time.time_ns() // 1000
    base = {"licence_id": "LIC-OC-0001", "licence_kind": "ONLINE_CASINO", "channel": "SITE",
            "site_id": "casino.example.ua", "game_type": "slots", "currency": "UAH",
            "occurred_at_us": now, "amount": 5_000}
    events = [
        {**base, "seq": 1, "operator_ref": "a", "kind": "BET", "bet_ref": "b1", "player_ref": "p_QWERTY77"},
        {**base, "seq": 2, "operator_ref": "b", "kind": "BET", "bet_ref": "b2",
         "player_ref": "+380671112233"},
        {**base, "seq": 3, "operator_ref": "c", "kind": "WIN", "bet_ref": "b1", "player_ref": "p_QWERTY77",
         "amount": 12_000, "tax_withheld_pit": 2_160, "tax_withheld_military": 600},
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    operator = as_operator(settings, "op-online-casino-1")
    assert produce_file(operator, "op-online-casino-1", "till-7", path) == 3

    def receipts(count: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while len(got) < count and time.monotonic() < deadline:
            got = []
            for msg in read_all(settings, settings.topics.receipts("op-online-casino-1")):
                _, batch = default_codec().decode(msg.value() or b"", expect=RECEIPT_BATCH)
                got += batch["receipts"]
            time.sleep(0.5)
        return got

    stop = threading.Event()
    agent = threading.Thread(target=ValidatorAgent(settings).run, args=(stop,))
    agent.start()
    try:
        first = receipts(3)
        archived = verify_archive(settings)
        assert not archived.findings, archived.findings  # the chains verify
        # The operator's retry of the whole file (it never saw the receipts, say)
        assert produce_file(operator, "op-online-casino-1", "till-7", path) == 3
        both = receipts(6)
    finally:
        stop.set()
        agent.join(30)
    assert [(r["seq"], r["status"], r["reason"]) for r in first] == [
        (1, "ACCEPTED", None), (2, "REJECTED", "personal_data"), (3, "ACCEPTED", None)]
    # Every resent event is answered, DUPLICATE, naming the receipt that stands (accepted or not)
    again = both[3:]
    assert [(r["seq"], r["status"], r["reason"]) for r in again] == [
        (q, "DUPLICATE", None) for q in (1, 2, 3)]
    assert [r["first_receipt_id"] for r in again] == [r["receipt_id"] for r in first]
    assert not {r["receipt_id"] for r in again} & {r["receipt_id"] for r in first}
    # ... and counted nowhere: the archive (GGR, tax, ClickHouse's events) is what it was
    after = verify_archive(settings)
    assert not after.findings, after.findings  # the chains verify
    assert after.event_ids == archived.event_ids == Counter(
        {("op-online-casino-1", "till-7", 1): 1, ("op-online-casino-1", "till-7", 3): 1})


def test_sandbox_events_are_receipted_but_never_archived(settings: Settings) -> None:
    seed_registry(settings)
    now = time.time_ns() // 1000
    event = {"seq": 1, "operator_ref": "s1", "kind": "BET", "licence_id": "LIC-OC-0001",
             "licence_kind": "ONLINE_CASINO", "channel": "SITE", "establishment_id": None,
             "equipment_id": None, "site_id": "casino.example.ua", "app_id": None, "game_type": "slots",
             "round_ref": None, "bet_ref": "sb1", "player_ref": "p_SANDBOX01", "amount": 50_000,
             "currency": "UAH", "occurred_at_us": now, "tax_withheld_pit": None,
             "tax_withheld_military": None}
    producer = OperatorProducer(as_operator(settings, "op-online-casino-1", sandbox=True),
                                "op-online-casino-1", sandbox=True)
    producer.send("test-rig", [event])
    producer.flush(30)
    stop = threading.Event()
    agent = threading.Thread(target=ValidatorAgent(settings).run, args=(stop,))
    agent.start()
    try:

        got: list[tuple[str, str | None]] = []
        deadline = time.monotonic() + 60
        while not got and time.monotonic() < deadline:
            for msg in read_all(settings, settings.topics.sandbox_receipts("op-online-casino-1")):
                _, batch = default_codec().decode(msg.value() or b"", expect=RECEIPT_BATCH)
                got += [(r["status"], r["reason"]) for r in batch["receipts"]]
            time.sleep(0.5)
    finally:
        stop.set()
        agent.join(30)
    assert got == [("ACCEPTED", None)]
    assert verify_archive(settings).events == 0  # never archived, so never in GGR, tax or ClickHouse
    assert read_all(settings, settings.topics.receipts("op-online-casino-1")) == []
