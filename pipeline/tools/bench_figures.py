"""Pure arithmetic behind ``make bench``'s figures: latency percentiles and state sizes (no I/O)."""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

K = TypeVar("K")


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of an ascending list; nan when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(sent_us: Mapping[K, int], stored_us: Iterable[tuple[K, int]]) -> dict[str, float]:
    """p50/p99/max of stored - sent in milliseconds, over the keys both sides know.

    ``sent_us`` maps an event's key to when its record was produced; ``stored_us`` gives
    (key, when the row became queryable). ``missing`` counts sent keys never stored (the
    bench expects it to be the number of rejected and duplicate-only keys, so it is reported,
    not judged here); ``unknown`` counts stored keys that were never sent in this phase.
    """
    lat: list[float] = []
    unknown = 0
    for key, at in stored_us:
        sent = sent_us.get(key)
        if sent is None:
            unknown += 1
            continue
        lat.append((at - sent) / 1000)
    lat.sort()
    return {"events": len(lat), "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
            "max_ms": lat[-1] if lat else math.nan, "min_ms": lat[0] if lat else math.nan,
            "unknown": unknown}


def changelog_bytes(entries: Iterable[tuple[bytes, bytes | None]]) -> dict[str, int]:
    """Bytes of the live (latest, non-tombstone) value per key, summed by entry kind.

    Keys are ``<topic>|<partition>|<kind>|...`` (see pipeline.core.state); what a compacted
    changelog holds once compaction has run is the latest value of each key, so that is what
    is counted (key plus value).
    """
    latest: dict[bytes, bytes | None] = {}
    for key, value in entries:
        latest[key] = value
    out: dict[str, int] = {}
    for key, value in latest.items():
        if value is None:
            continue
        parts = key.split(b"|", 3)
        kind = parts[2].decode() if len(parts) > 2 else "?"
        out[kind] = out.get(kind, 0) + len(key) + len(value)
    return out


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of ``obj`` and everything it holds (containers, dataclass fields), each object once.

    Small ints and interned strings shared with the rest of the process are counted too, so
    this is an upper bound of what dropping the object would free.
    """
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset | deque):
        size += sum(deep_size(v, seen) for v in obj)
    elif hasattr(obj, "__dict__"):
        size += deep_size(vars(obj), seen)
    elif hasattr(obj, "__slots__"):
        size += sum(deep_size(getattr(obj, s), seen) for s in obj.__slots__ if hasattr(obj, s))
    return size
