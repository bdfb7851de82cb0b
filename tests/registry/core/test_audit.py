from dataclasses import replace

from registry.core.audit import GENESIS, AuditEntry, entry_hash, verify


def chain(n: int) -> list[AuditEntry]:
    out, prev = [], GENESIS
    for seq in range(1, n + 1):
        args = (seq, 1000 + seq, "officer:a", "add", "operator", f"op-{seq}", None, {"x": seq}, None)
        h = entry_hash(prev, *args)
        out.append(AuditEntry(*args, prev_hash=prev, hash=h))
        prev = h
    return out


def test_an_intact_chain_verifies_and_names_its_head() -> None:
    entries = chain(5)
    report = verify(entries)
    assert report.ok and report.entries == 5 and report.head == entries[-1].hash


def test_an_edited_entry_is_caught() -> None:
    entries = chain(5)
    entries[2] = replace(entries[2], after={"x": 999})
    report = verify(entries)
    assert report.problems == ["entry 3 was altered (its content does not match its hash)"]


def test_a_deleted_entry_is_caught() -> None:
    entries = chain(5)
    del entries[1]
    problems = verify(entries).problems
    assert "entry 2 missing (deleted?)" in problems and any("does not follow" in p for p in problems)


def test_a_rehashed_edit_still_breaks_the_next_link() -> None:
    entries = chain(3)
    e = replace(entries[1], reason="forged")
    entries[1] = replace(e, hash=entry_hash(e.prev_hash, e.seq, e.at_us, e.principal, e.action, e.kind,
                                            e.entity_id, e.before, e.after, e.reason))
    assert verify(entries).problems == ["entry 3 does not follow the entry before it (prev_hash mismatch)"]
