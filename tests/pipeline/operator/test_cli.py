from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest

from pipeline.operator.cli import TokenBucket, produce_file, run_simulator
from pipeline.operator.simulator import Fleet
from pipeline.settings import Settings
from schemas import default_codec
from tests.pipeline.operator.conftest import REGISTRY, FakeProducer

EVENT = {"seq": 1, "operator_ref": "a", "kind": "BET", "licence_id": "LIC-OC-0001",
         "licence_kind": "ONLINE_CASINO", "channel": "SITE", "site_id": "casino.example.ua",
         "game_type": "slots", "bet_ref": "b1", "player_ref": "p_QWERTY77", "amount": 5_000,
         "currency": "UAH", "occurred_at_us": 1}


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_keeps_the_average_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1_000, burst=200, clock=clock)
    sent = 0
    while clock.t < 10:
        clock.t += bucket.wait_time()
        bucket.take(300)  # batches larger than the burst still pace correctly
        sent += 300
    assert 9_800 <= sent - 200 <= 10_300
    with pytest.raises(ValueError):
        TokenBucket(0, 1)


def test_token_bucket_lets_a_burst_through_then_waits() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=50, clock=clock)
    assert bucket.wait_time() == 0
    bucket.take(50)
    assert bucket.wait_time() == 0
    bucket.take(10)
    assert bucket.wait_time() == pytest.approx(0.1)
    clock.t = 1000  # idle time refills only up to the burst
    bucket.wait_time()
    bucket.take(60)
    assert bucket.wait_time() == pytest.approx(0.1)


def test_produce_file_sends_in_batches(tmp_path: Path, fake_kafka: type[FakeProducer],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.jsonl"
    lines = [orjson.dumps(EVENT | {"seq": n, "bet_ref": f"b{n}"}) for n in range(1, 8)]
    path.write_bytes(b"\n".join(lines[:3]) + b"\n\n" + b"\n".join(lines[3:]) + b"\n")
    assert produce_file(Settings(), "op-online-casino-1", "till-7", path, batch_size=3) == 7
    msgs = fake_kafka.instances[-1].delivered
    batches = [default_codec().decode(m.value())[1] for m in msgs]
    assert [len(b["events"]) for b in batches] == [3, 3, 1]
    assert all(m.key() == b"till-7" for m in msgs)
    first = batches[0]["events"][0]
    assert first["establishment_id"] is None and first["tax_withheld_pit"] is None and first["seq"] == 1
    assert "dsom.receipts.op-online-casino-1" in capsys.readouterr().out


@pytest.mark.parametrize(("line", "message"), [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "one Event object"),
    (orjson.dumps(EVENT | {"colour": "red"}), "not in the Event schema: colour"),
    (orjson.dumps({k: v for k, v in EVENT.items() if k != "amount"}), "missing fields: amount"),
    (orjson.dumps(EVENT | {"amount": 50.5}), "amount"),
    (orjson.dumps(EVENT | {"kind": "LOAN"}), "kind"),
])
def test_produce_file_sends_nothing_from_a_bad_file(tmp_path: Path, fake_kafka: type[FakeProducer],
                                                    line: bytes, message: str) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(orjson.dumps(EVENT) + b"\n" + line + b"\n")
    with pytest.raises(SystemExit, match=f"events.jsonl:2: .*{message}"):
        produce_file(Settings(), "op-online-casino-1", "till-7", path)
    assert not any(p.delivered for p in fake_kafka.instances)


def test_run_simulator_paces_every_operator(fake_kafka: type[FakeProducer]) -> None:
    fleet = Fleet(REGISTRY, 3, batch_size=50, bad_share=0.01, duplicate_share=0.01)
    started = time.monotonic()
    sent = run_simulator(Settings(), REGISTRY, rate=5_000, seconds=1.0, bad_share=0.01,
                         duplicate_share=0.01, stop_event=threading.Event(), batch_size=50, fleet=fleet)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3
    assert 4_000 <= sent <= 6_000  # the initial burst is rate / 10
    topics = {p.delivered[0].topic() for p in fake_kafka.instances if p.delivered}
    assert topics == {f"dsom.ingest.{op.operator_id}" for op in REGISTRY.operators}
    assert fleet.total().batches == sum(len(p.delivered) for p in fake_kafka.instances)


def test_run_simulator_stops_on_the_event(fake_kafka: type[FakeProducer]) -> None:
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    sent = run_simulator(Settings(), REGISTRY, rate=1_000, seconds=None, bad_share=0.0,
                         duplicate_share=0.0, stop_event=stop, batch_size=20)
    assert time.monotonic() - started < 2 and 0 < sent < 1_000
