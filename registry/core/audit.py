"""The audit log's hash chain: each entry commits to its content and to the entry before it.

An edited entry no longer matches its hash; a deleted one breaks the next entry's link (and leaves
a gap in the sequence). Deleting the newest entries is caught only against a head recorded
elsewhere: ``verify`` returns the head so it can be compared with one published or written down.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at_us: int
    principal: str
    action: str
    kind: str
    entity_id: str
    before: Any
    after: Any
    reason: str | None
    prev_hash: str
    hash: str


def entry_hash(prev_hash: str, seq: int, at_us: int, principal: str, action: str, kind: str,
               entity_id: str, before: Any, after: Any, reason: str | None) -> str:
    body = orjson.dumps([seq, at_us, principal, action, kind, entity_id, before, after, reason],
                        option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(entries: Iterable[AuditEntry], limit: int = 20) -> ChainReport:
    """Check every link and hash in sequence order; name the first ``limit`` problems found."""
    problems: list[str] = []
    prev, expected_seq, n = GENESIS, None, 0
    for e in entries:
        n += 1
        if expected_seq is not None and e.seq != expected_seq:
            problems.append(f"entry {expected_seq}" + (f" to {e.seq - 1}" if e.seq - 1 > expected_seq else "")
                            + " missing (deleted?)")
        if e.prev_hash != prev:
            problems.append(f"entry {e.seq} does not follow the entry before it (prev_hash mismatch)")
        if entry_hash(e.prev_hash, e.seq, e.at_us, e.principal, e.action, e.kind, e.entity_id, e.before,
                      e.after, e.reason) != e.hash:
            problems.append(f"entry {e.seq} was altered (its content does not match its hash)")
        prev, expected_seq = e.hash, e.seq + 1
        if len(problems) >= limit:
            break
    return ChainReport(n, prev, problems)
