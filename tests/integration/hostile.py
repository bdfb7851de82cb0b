"""Helpers for the hostile-input tests: events of the demo registry, raw producers, receipts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Producer

from pipeline.agents.validator import ValidatorAgent
from pipeline.kafka.config import producer_config
from pipeline.settings import Settings
from schemas import EVENT_BATCH, RECEIPT_BATCH, default_codec
from tests.integration.conftest import as_operator, read_all
from tests.integration.test_ingest_path import seed_registry as seed  # noqa: F401 - for the tests

A, B = "op-online-casino-1", "op-bookmaker-1"
CODEC = default_codec()


def event(seq: int, kind: str = "DEPOSIT", operator: str = A, **changes: Any) -> dict[str, Any]:
    licence = {A: ("LIC-OC-0001", "ONLINE_CASINO"), B: ("LIC-BK-0001", "BOOKMAKING")}[operator]
    ev: dict[str, Any] = {
        "seq": seq, "operator_ref": f"t{seq}", "kind": kind, "licence_id": licence[0],
        "licence_kind": licence[1], "channel": "SITE", "establishment_id": None, "equipment_id": None,
        "site_id": "site.example.ua", "app_id": None, "game_type": None, "round_ref": None,
        "bet_ref": None, "player_ref": "p_HOSTILEPLAYER", "amount": 10_000, "currency": "UAH",
        "occurred_at_us": time.time_ns() // 1000 - 1_000_000, "tax_withheld_pit": None,
        "tax_withheld_military": None}
    if kind in ("BET", "WIN", "REFUND"):
        ev.update(game_type="slots", bet_ref=f"b{seq}")
    if kind == "WIN":
        ev.update(tax_withheld_pit=1_800, tax_withheld_military=500)
    ev.update(changes)
    return ev


def batch(events: list[dict[str, Any]], source: str, operator: str = A) -> bytes:
    return CODEC.encode(EVENT_BATCH, {"operator_id": operator, "source_id": source,
                                      "sent_at_us": time.time_ns() // 1000, "events": events})


class RawProducer:
    """An operator's client with its own partitioner, or explicit partitions."""

    def __init__(self, settings: Settings, operator: str, **conf: Any) -> None:
        self.topic = settings.topics.ingest(operator)
        self._p = Producer(producer_config(as_operator(settings, operator).kafka, **conf))

    def send(self, source: str, value: bytes, partition: int | None = None) -> tuple[int, int]:
        """Send and wait: (partition, offset) as the delivery report gives them."""
        got: list[tuple[int, int]] = []

        def delivered(err: Any, msg: Any) -> None:
            assert err is None, err
            got.append((msg.partition(), msg.offset()))

        kwargs: dict[str, Any] = {"key": source.encode(), "value": value, "on_delivery": delivered}
        if partition is not None:
            kwargs["partition"] = partition
        self._p.produce(self.topic, **kwargs)
        self._p.flush(30)
        assert got, "not delivered"
        return got[0]


@dataclass(frozen=True)
class Receipt:
    partition: int
    offset: int
    source: str | None
    seq: int | None
    status: str
    reason: str | None
    detail: str | None
    receipt_id: str
    first_receipt_id: str | None


def receipts(settings: Settings) -> list[Receipt]:
    out = []
    for msg in read_all(settings, settings.topics.receipts_pattern):
        _, rb = CODEC.decode(msg.value() or b"", expect=RECEIPT_BATCH)
        out += [Receipt(rb["ingest_partition"], rb["ingest_offset"], rb["source_id"], r["seq"], r["status"],
                        r["reason"], r["detail"], r["receipt_id"], r["first_receipt_id"])
                for r in rb["receipts"]]
    return out


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def validator(settings: Settings, agent: ValidatorAgent | None = None) -> Iterator[ValidatorAgent]:
    """A validator agent running in a thread of this process."""
    agent = agent or ValidatorAgent(settings)
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            agent.run(stop)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failure.append(exc)

    thread = threading.Thread(target=run, name="validator")
    thread.start()
    try:
        yield agent
    finally:
        stop.set()
        thread.join(60)
    assert not failure, failure
