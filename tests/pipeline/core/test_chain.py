import pytest

from pipeline.core.chain import ChainBroken, ChainHead, Link, verify


def _links(n: int) -> list[Link]:
    head, out = ChainHead(), []
    for i in range(n):
        idx, prev, digest = head.append(f"r{i}", f"event-{i}".encode())
        out.append(Link(idx, prev, digest, f"r{i}", f"event-{i}".encode()))
    return out


def test_chain_verifies_and_continues_from_a_head() -> None:
    links = _links(10)
    head = verify(links[:4])
    assert verify(links[4:], head).index == 10


@pytest.mark.parametrize("tamper", ["edit", "remove", "reorder"])
def test_tampering_is_detected(tamper: str) -> None:
    links = _links(6)
    if tamper == "edit":
        l3 = links[3]
        links[3] = Link(l3.index, l3.prev_hash, l3.hash, l3.receipt_id, b"event-X")
    elif tamper == "remove":
        del links[2]
    else:
        links[2], links[3] = links[3], links[2]
    with pytest.raises(ChainBroken):
        verify(links)
