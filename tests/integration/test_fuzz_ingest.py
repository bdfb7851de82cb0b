"""Mutated records among valid ones, on the real broker: each gets a receipt, none stalls anything."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from pipeline.archive import verify_archive
from pipeline.core.partitioning import home_partition
from pipeline.settings import Settings
from tests.integration.hostile import A, RawProducer, batch, event, receipts, seed, validator, wait_for

pytestmark = pytest.mark.integration


def mutate(rng: random.Random, value: bytes) -> bytes:
    data = bytearray(value)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(data))
        op = rng.choice(("flip", "insert", "delete", "truncate", "varint"))
        if op == "flip":
            data[i] ^= 1 << rng.randrange(8)
        elif op == "insert":
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == "delete" and len(data) > 12:
            del data[i:i + rng.randint(1, 8)]
        elif op == "truncate":
            del data[max(11, i):]
        else:  # a number made longer than any Avro long may be
            data[i:i] = b"\xff" * rng.randint(1, 12)
    return bytes(data)


def test_mutated_records_are_all_answered_and_valid_ones_count_once(settings: Settings) -> None:
    seed(settings)
    rng = random.Random(20261130)
    producer = RawProducer(settings, A)
    n = settings.topics.ingest_partitions
    # Mutated records come from sources of their own: a mutation may still decode, and then its
    # events are genuinely new (or repeats) of the source named by the record's key.
    good, bad = [f"fz-{i}" for i in range(4)], [f"bad-{i}" for i in range(4)]
    seqs = Counter[str]()
    sent: list[tuple[int, int]] = []  # (partition, offset) of every record
    valid: set[tuple[str, int]] = set()
    for _ in range(300):
        mutated = rng.random() < 0.5
        src = rng.choice(bad if mutated else good)
        events = [event(seqs[src] + i + 1, operator_ref=f"r{rng.randrange(10**6)}")
                  for i in range(rng.randint(1, 20))]
        seqs[src] += len(events)
        value = mutate(rng, batch(events, src)) if mutated else batch(events, src)
        partition = home_partition(src.encode(), n)
        if rng.random() < 0.05:
            partition = (partition + 1) % n  # astray: rejected whole, counted never
        elif not mutated:
            valid.update((src, e["seq"]) for e in events)
        sent.append(producer.send(src, value, partition))
    started = time.monotonic()
    with validator(settings):
        wait_for("a receipt for every record",
                 lambda: {(r.partition, r.offset) for r in receipts(settings)} >= set(sent), timeout=120)
    took = time.monotonic() - started
    got = receipts(settings)
    accepted = Counter((r.source, r.seq) for r in got if r.status == "ACCEPTED")
    assert all(count == 1 for count in accepted.values())
    assert {k for k in accepted if k[0] in good} == valid  # every valid event, once; no other
    report = verify_archive(settings)
    assert not report.findings, report.findings  # the chains verify
    assert report.event_ids == Counter({(A, s, q): 1 for s, q in accepted})
    print(f"{len(sent)} records answered in {took:.1f} s; {len(valid)} valid events accepted once")
