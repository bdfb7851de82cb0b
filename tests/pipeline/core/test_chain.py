import hashlib
from dataclasses import replace

import pytest

from pipeline.core.chain import GENESIS, ChainBroken, ChainHead, Link, Provenance, link_hash, verify

PROV = Provenance("op-a", "s1", "dsom.ingest.op-a", 2, 41)


def _links(n: int, provenance: Provenance = PROV) -> list[Link]:
    head, out = ChainHead(), []
    for i in range(n):
        idx, prev, digest = head.append(provenance, i + 1, f"r{i}", f"event-{i}".encode())
        out.append(Link(idx, prev, digest, f"r{i}", f"event-{i}".encode(), i + 1, provenance))
    return out


def _rule1_links(n: int) -> list[Link]:
    """A chain as archives written before link rule 2 hold it."""
    prev, out = GENESIS, []
    for i in range(n):
        digest = link_hash(prev, i + 1, f"r{i}", f"event-{i}".encode())
        out.append(Link(i + 1, prev, digest, f"r{i}", f"event-{i}".encode()))
        prev = digest
    return out


def test_rule_2_is_the_documented_byte_string() -> None:
    """Spelled out apart from Provenance; the Rust engine writes the same (test_native.py)."""
    data = (b"\x02" + b"\x00\x00\x00\x04op-a" + b"\x00\x00\x00\x02s1" + b"\x00\x00\x00\x10dsom.ingest.op-a"
            + (2).to_bytes(4, "big") + (41).to_bytes(8, "big") + GENESIS + (1).to_bytes(8, "big")
            + (7).to_bytes(8, "big") + b"\x00\x00\x00\x02r0" + b"body")
    assert PROV.link_hash(GENESIS, 1, 7, "r0", b"body") == hashlib.sha256(data).digest()


def test_chain_verifies_and_continues_from_a_head() -> None:
    links = _links(10)
    head = verify(links[:4])
    assert verify(links[4:], head).index == 10 and head.rule == 2


def test_archives_of_rule_1_still_verify_and_may_continue_by_rule_2() -> None:
    old = _rule1_links(3)
    head = verify(old)
    assert head.rule == 1
    cont = ChainHead(head.index, head.hash)
    idx, prev, digest = cont.append(PROV, 4, "r3", b"event-3")
    assert verify([Link(idx, prev, digest, "r3", b"event-3", 4, PROV)], head).index == 4


def test_a_chain_never_goes_back_to_rule_1() -> None:
    new = _links(2)
    digest = link_hash(new[-1].hash, 3, "r2", b"event-2")  # correct by rule 1, but a downgrade
    with pytest.raises(ChainBroken, match="link 3: made by link rule 1 after a rule 2 link"):
        verify([*new, Link(3, new[-1].hash, digest, "r2", b"event-2")])


@pytest.mark.parametrize("change", [
    {"operator_id": "op-b"}, {"source_id": "s2"}, {"ingest_topic": "dsom.ingest.op-b"},
    {"ingest_partition": 0}, {"ingest_offset": 40}])
def test_re_attributed_or_re_numbered_records_break_the_chain(change: dict[str, object]) -> None:
    links = _links(4)
    moved = replace(PROV, **change)  # type: ignore[arg-type]
    links[2] = replace(links[2], provenance=moved)
    with pytest.raises(ChainBroken, match="link 3: hash does not match its content .operator, source"):
        verify(links)


def test_another_seq_breaks_the_chain() -> None:
    links = _links(4)
    links[1] = replace(links[1], seq=9)
    with pytest.raises(ChainBroken, match="link 2: hash does not match"):
        verify(links)


@pytest.mark.parametrize("tamper", ["edit", "remove", "reorder"])
@pytest.mark.parametrize("make", [_links, _rule1_links])
def test_tampering_is_detected(tamper: str, make: object) -> None:
    links = make(6)  # type: ignore[operator]
    if tamper == "edit":
        links[3] = replace(links[3], event_body=b"event-X")
    elif tamper == "remove":
        del links[2]
    else:
        links[2], links[3] = links[3], links[2]
    with pytest.raises(ChainBroken):
        verify(links)
