"""The validator's registry (``pipeline.registry.Registry``) from versions, and from the topic's records.

Each record of ``<prefix>.registry`` carries one entity's whole history as the registry knows it
(every version), keyed by kind and ID: compaction keeps the newest record per entity, which is all
a reader needs, and late events (days old) are still judged by the version in force when they
happened.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import orjson

from pipeline.core.model import LicenceKind
from pipeline.registry import Licence, Operator, Registry
from registry.core.history import END, Segment, Version, timeline

ACTIVE = "active"


def topic_key(kind: str, entity_id: str) -> bytes:
    return f"{kind}/{entity_id}".encode()


def topic_value(versions: Iterable[Version]) -> bytes:
    return orjson.dumps({"versions": [v.as_dict() for v in sorted(versions, key=lambda v: v.seq)]})


def decode_value(value: bytes) -> list[Version]:
    return [Version.from_dict(d) for d in orjson.loads(value)["versions"]]


def _active_spans(segs: list[Segment]) -> list[tuple[int, int, Segment]]:
    """Adjacent active segments merged, each clipped to its licence's own validity dates."""
    spans: list[tuple[int, int, Segment]] = []
    for seg in segs:
        d = seg.version.data
        if d.get("status", ACTIVE) != ACTIVE:
            continue
        lo = max(seg.start_us, int(d.get("valid_from_us", 0)))
        hi = min(END if seg.end_us is None else seg.end_us,
                 END if d.get("valid_to_us") is None else int(d["valid_to_us"]))
        if lo >= hi:
            continue
        if spans and spans[-1][1] == lo:
            spans[-1] = (spans[-1][0], hi, spans[-1][2])
        else:
            spans.append((lo, hi, seg))
    return spans


def _licence(segs: list[Segment], at_us: int) -> Licence | None:
    """The licence's active span that contains ``at_us``, or else the latest before it, or the first after.

    ``pipeline.registry.Licence`` has one validity interval, so a licence suspended and reinstated
    is active, for the validator, over the span that matters now; events in a suspension are
    ``licence_inactive`` (docs/registry.md).
    """
    spans = _active_spans(segs)
    if not spans:
        return None
    before = [s for s in spans if s[0] <= at_us]
    lo, hi, seg = next((s for s in spans if s[0] <= at_us < s[1]), before[-1] if before else spans[0])
    return Licence(licence_id=seg.version.entity_id, kind=LicenceKind(seg.version.data["licence_kind"]),
                   valid_from_us=lo, valid_to_us=None if hi == END else hi)


def pipeline_registry(histories: Iterable[list[Version]], at_us: int) -> Registry:
    """The registry as the validator needs it at ``at_us`` (world time and knowledge both)."""
    names: dict[str, str] = {}
    licences: dict[str, list[Licence]] = defaultdict(list)
    assets: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for versions in histories:
        segs = timeline(versions, at_us)
        if not segs:
            continue
        kind = segs[0].version.kind
        if kind == "licence":
            lic = _licence(segs, at_us)
            if lic is not None:
                licences[segs[-1].version.operator_id].append(lic)
            continue
        now = next((s.version for s in segs if s.contains(at_us)), None)
        if now is None or now.data.get("status", ACTIVE) != ACTIVE:
            continue
        if kind == "operator":
            names[now.operator_id] = str(now.data["legal_name"])
        elif kind in ("establishment", "equipment", "site", "app"):
            assets[now.operator_id][kind].append(now.entity_id)
    return Registry(operators=tuple(
        Operator(operator_id=op, name=name,
                 licences=tuple(sorted(licences.get(op, []), key=lambda lic: lic.licence_id)),
                 establishments=tuple(sorted(assets[op]["establishment"])),
                 equipment=tuple(sorted(assets[op]["equipment"])),
                 sites=tuple(sorted(assets[op]["site"])), apps=tuple(sorted(assets[op]["app"])))
        for op, name in sorted(names.items())))


def registry_from_records(records: Iterable[tuple[bytes | None, bytes | None]], at_us: int) -> Registry:
    """The validator's registry from the topic's records in offset order (the newest per key wins)."""
    latest: dict[bytes, bytes] = {}
    for key, value in records:
        if key is None:
            continue
        if value is None:
            latest.pop(key, None)
        else:
            latest[key] = value
    return pipeline_registry((decode_value(v) for v in latest.values()), at_us)
