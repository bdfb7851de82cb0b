"""Bitemporal history: versions are only ever added; what was true when, as known when, is computed.

Every version says when its content is true in the world (``valid_from_us`` to ``valid_to_us``,
open-ended when None) and when the registry recorded it (``recorded_at_us``, then ``seq``, the
order of recording). A later version overrides earlier ones over its own validity interval only,
so a suspension from T leaves the licence's record before T as it was, and a correction recorded
today can fix last month without losing what the registry said last month.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

END = 2**63 - 1  # an open end, as a number, so intervals compare without None checks


@dataclass(frozen=True, slots=True)
class Version:
    """One recorded version of an entity. ``data`` is its record as a JSON-ready dict."""

    seq: int
    kind: str
    entity_id: str
    operator_id: str
    valid_from_us: int
    valid_to_us: int | None
    recorded_at_us: int
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "entity_id": self.entity_id,
                "operator_id": self.operator_id, "valid_from_us": self.valid_from_us,
                "valid_to_us": self.valid_to_us, "recorded_at_us": self.recorded_at_us, "data": self.data}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Version:
        return cls(int(d["seq"]), str(d["kind"]), str(d["entity_id"]), str(d["operator_id"]),
                   int(d["valid_from_us"]), None if d["valid_to_us"] is None else int(d["valid_to_us"]),
                   int(d["recorded_at_us"]), dict(d["data"]))


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of world time during which one version is the entity's truth."""

    start_us: int
    end_us: int | None
    version: Version

    def contains(self, t_us: int) -> bool:
        return self.start_us <= t_us < (END if self.end_us is None else self.end_us)


def timeline(versions: Iterable[Version], known_at_us: int | None = None) -> list[Segment]:
    """The entity's truth over world time as the registry knew it at ``known_at_us`` (default: now).

    Versions are painted in recording order, each over its own interval; the result is sorted,
    without overlaps; gaps are times the entity was not registered.
    """
    segs: list[tuple[int, int, Version]] = []
    for v in sorted(versions, key=lambda v: (v.recorded_at_us, v.seq)):
        if known_at_us is not None and v.recorded_at_us > known_at_us:
            break
        lo, hi = v.valid_from_us, END if v.valid_to_us is None else v.valid_to_us
        kept: list[tuple[int, int, Version]] = []
        for s, e, old in segs:
            if e <= lo or s >= hi:
                kept.append((s, e, old))
                continue
            if s < lo:
                kept.append((s, lo, old))
            if e > hi:
                kept.append((hi, e, old))
        kept.append((lo, hi, v))
        segs = sorted(kept, key=lambda x: x[0])
    return [Segment(s, None if e == END else e, v) for s, e, v in segs]


def as_of(versions: Iterable[Version], world_us: int, known_at_us: int | None = None) -> Version | None:
    """The version in force at world time ``world_us`` as known at ``known_at_us``; None if none."""
    for seg in timeline(versions, known_at_us):
        if seg.contains(world_us):
            return seg.version
    return None


def overlaps(a_from: int, a_to: int | None, b_from: int, b_to: int | None) -> bool:
    return a_from < (END if b_to is None else b_to) and b_from < (END if a_to is None else a_to)
