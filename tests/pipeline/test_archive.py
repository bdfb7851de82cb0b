"""verify_archive's check of each record as read back: both link rules, and what each catches."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from fastavro import schemaless_writer

from pipeline.archive import ArchiveReport, _check_record
from pipeline.core.chain import GENESIS, link_hash
from pipeline.core.processor import make_processor
from pipeline.settings import Settings, ValidationSettings
from schemas import ARCHIVE_BATCH, default_codec
from schemas.codec import MAGIC, encode_event_body, schema_versions
from schemas.raw import encode_archive_batch
from tests.pipeline.core.test_processor import record
from tests.pipeline.core.test_validation import NOW, REGISTRY, event

CODEC = default_codec()
TOPIC = "dsom.ingest.op-a"


@dataclass
class Msg:
    """What _check_record reads of a Kafka message."""

    _value: bytes
    _offset: int
    _partition: int = 0

    def value(self) -> bytes:
        return self._value

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return self._partition

    def key(self) -> bytes:
        return f"{TOPIC}/0".encode()


def _check(values: list[bytes]) -> ArchiveReport:
    report = ArchiveReport()
    broken: set[str] = set()
    for offset, value in enumerate(values):
        _check_record(Msg(value, offset), CODEC, report, None, broken)  # type: ignore[arg-type]
    return report


def _archived(records: int, first_offset: int = 0, state: Any = None) -> tuple[list[bytes], Any]:
    """``records`` archive batches of 3 events each, as the validator writes them now (link rule 2)."""
    proc = make_processor(REGISTRY, ValidationSettings(engine="python"), Settings().topics, CODEC)
    state = state or proc.new_state(TOPIC, 0)
    out = []
    for i in range(first_offset, first_offset + records):
        evs = [event(seq=i * 3 + j + 1, bet_ref=f"b{i}-{j}") for j in range(3)]
        o = proc.process(state, i, b"s1", record(evs), NOW)
        assert o.archive_value is not None
        out.append(o.archive_value)
    return out, state


def _as_rule_1(values: list[bytes]) -> list[bytes]:
    """The same events as an archive written before link rule 2 holds them: ArchiveBatch version 1."""
    v1 = schema_versions(ARCHIVE_BATCH)[0]
    assert v1.version == 1
    prev, index, out = GENESIS, 0, []
    for value in values:
        _, batch = CODEC.decode(value, expect=ARCHIVE_BATCH)
        for e in batch["events"]:
            index += 1
            e.update(chain_index=index, prev_hash=prev,
                     hash=link_hash(prev, index, e["receipt_id"], encode_event_body(e["event"])))
            prev = e["hash"]
        del batch["link_rule"]
        buf = io.BytesIO()
        schemaless_writer(buf, v1.schema, batch)
        out.append(MAGIC + v1.fingerprint + buf.getvalue())
    return out


def _reencoded(value: bytes, **changes: Any) -> bytes:
    _, batch = CODEC.decode(value, expect=ARCHIVE_BATCH)
    bodies = [encode_event_body(e["event"]) for e in batch["events"]]
    return encode_archive_batch({**batch, **changes}, bodies)


def test_archives_written_by_rule_1_still_verify() -> None:
    old = _as_rule_1(_archived(3)[0])
    report = _check(old)
    assert report.findings == [] and report.events == 9
    assert report.chains[f"{TOPIC}/0"].rule == 1


def test_rule_1_records_say_nothing_of_their_operator_rule_2_records_do() -> None:
    new = _archived(3)[0]
    assert _check(new).findings == []
    old = _as_rule_1(new)
    old[1] = _reencoded(old[1], operator_id="op-b", link_rule=1)  # still rule 1: the chain cannot tell
    assert _check(old).findings == []
    for change in ({"operator_id": "op-b"}, {"source_id": "s9"}, {"ingest_offset": 7}):
        tampered = [new[0], _reencoded(new[1], **change), new[2]]
        assert _check(tampered).findings == [
            f"chain {TOPIC}/0 at archive 0:1: link 4: hash does not match its content "
            "(operator, source, ingest position, seq, receipt ID or event)"], change


def test_a_chain_continued_by_rule_2_verifies_but_never_goes_back() -> None:
    first, state = _archived(2)
    old = _as_rule_1(first)
    head = CODEC.decode(old[-1], expect=ARCHIVE_BATCH)[1]["events"][-1]
    state.chain.hash = head["hash"]  # the validator upgraded: it continues the old chain by rule 2
    later, _ = _archived(2, first_offset=2, state=state)
    report = _check([*old, *later])
    assert report.findings == [] and report.chains[f"{TOPIC}/0"].rule == 2
    # A record written by rule 1 after rule-2 links, correctly chained: a downgrade, refused.
    _, last = CODEC.decode(later[-1], expect=ARCHIVE_BATCH)
    e = {**last["events"][0], "chain_index": 13, "prev_hash": last["events"][-1]["hash"]}
    body = encode_event_body(e["event"])
    e["hash"] = link_hash(e["prev_hash"], 13, e["receipt_id"], body)
    downgrade = encode_archive_batch({**last, "link_rule": 1, "events": [e]}, [body])
    assert _check([*old, *later, downgrade]).findings == [
        f"chain {TOPIC}/0 at archive 0:4: link 13: made by link rule 1 after a rule 2 link"]


def test_an_unknown_link_rule_is_a_finding() -> None:
    value = _reencoded(_archived(1)[0][0], link_rule=3)
    assert _check([value]).findings == ["archive 0:0: not a readable archive batch (ValueError: link rule 3 "
                                        "is not one this verifier knows (1 or 2))"]
