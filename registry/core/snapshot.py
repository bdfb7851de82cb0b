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
from pipeline.registry import Licence, Operator, Registry, Stop
from registry.core.history import END, Segment, Version, timeline

ACTIVE = "active"


def topic_key(kind: str, entity_id: str) -> bytes:
    return f"{kind}/{entity_id}".encode()


def topic_value(versions: Iterable[Version]) -> bytes:
    return orjson.dumps({"versions": [v.as_dict() for v in sorted(versions, key=lambda v: v.seq)]})


def decode_value(value: bytes) -> list[Version]:
    return [Version.from_dict(d) for d in orjson.loads(value)["versions"]]


def licence_of(segs: list[Segment]) -> Licence | None:
    """The licence over its whole timeline: its validity, and the stretches it was suspended or revoked.

    Each segment is clipped to its version's own validity dates; the licence is valid from the
    first such start to the last end (a gap between two validity periods is not kept: the
    registry does not issue one licence number twice, ``overlapping_licence``). Segments whose
    status is not active become stops.
    """
    spans: list[tuple[int, int, str]] = []
    for seg in segs:
        d = seg.version.data
        lo = max(seg.start_us, int(d.get("valid_from_us", 0)))
        hi = min(END if seg.end_us is None else seg.end_us,
                 END if d.get("valid_to_us") is None else int(d["valid_to_us"]))
        if lo < hi:
            spans.append((lo, hi, str(d.get("status", ACTIVE))))
    if not spans:
        return None
    stops: list[Stop] = []
    for lo, hi, status in spans:
        if status == ACTIVE:
            continue
        last = stops[-1] if stops else None
        if last is not None and last.status == status and last.to_us == lo:
            stops[-1] = Stop(status=last.status, from_us=last.from_us, to_us=None if hi == END else hi)
        else:
            stops.append(Stop(status=status, from_us=lo, to_us=None if hi == END else hi))  # type: ignore[arg-type]
    latest = segs[-1].version
    end = spans[-1][1]
    return Licence(licence_id=latest.entity_id, kind=LicenceKind(latest.data["licence_kind"]),
                   valid_from_us=spans[0][0], valid_to_us=None if end == END else end, stops=tuple(stops))


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
            lic = licence_of(segs)
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


def records_of(registry: Registry, recorded_at_us: int = 0) -> list[tuple[bytes, bytes]]:
    """A pipeline ``Registry`` as topic records: one version per entity, valid from its licence's start.

    For tests and benchmarks that need the topic's (or ClickHouse's) form of a registry they hold
    as a ``Registry``; the registry service publishes the real ones. A licence's stops become
    versions of their own, recorded later, as a suspension is.
    """
    out: list[tuple[bytes, bytes]] = []
    seq = 0

    def version(kind: str, entity_id: str, op: str, valid_from: int, data: dict[str, object],
                valid_to: int | None = None) -> Version:
        nonlocal seq
        seq += 1
        return Version(seq, kind, entity_id, op, valid_from, valid_to, recorded_at_us + seq,
                       {"kind": kind, "operator_id": op, **data})

    for op in registry.operators:
        since = min((lic.valid_from_us for lic in op.licences), default=0)
        first = op.licences[0].licence_id if op.licences else ""
        out.append((topic_key("operator", op.operator_id), topic_value(
            [version("operator", op.operator_id, op.operator_id, since, {"legal_name": op.name})])))
        for lic in op.licences:
            data = {"licence_id": lic.licence_id, "licence_kind": str(lic.kind),
                    "valid_from_us": lic.valid_from_us, "valid_to_us": lic.valid_to_us}
            versions = [version("licence", lic.licence_id, op.operator_id, lic.valid_from_us, data)]
            versions += [version("licence", lic.licence_id, op.operator_id, stop.from_us,
                                 {**data, "status": stop.status, "status_reason": "stopped"}, stop.to_us)
                         for stop in lic.stops]
            out.append((topic_key("licence", lic.licence_id), topic_value(versions)))
        halls = op.establishments
        for kind, ids in (("establishment", halls), ("equipment", op.equipment), ("site", op.sites),
                          ("app", op.apps)):
            for entity_id in ids:
                extra: dict[str, object] = {"licence_id": first}
                if kind == "equipment":
                    extra = {"establishment_id": halls[0] if halls else "", "certified_rtp_bp": 9450}
                out.append((topic_key(kind, entity_id),
                            topic_value([version(kind, entity_id, op.operator_id, since, extra)])))
    return out


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


_ASSET_KINDS = (b"establishment", b"equipment", b"site", b"app")


class LicenceView:
    """Operators and their licences, from the topic's records applied one at a time.

    What the validator needs, and nothing else: the assets are joined by the reports, not
    looked up per event, so their records (nearly all of a national registry) are skipped by
    their key alone, without being decoded. A change re-reads only the entity it is about;
    :meth:`registry` builds the validator's ``Registry`` from the few thousand operators and
    licences, once per batch of changes. With ``assets`` (the alerts agent and the simulator,
    which do look assets up) the establishments, equipment, sites and apps registered when a
    record arrives are kept too.
    """

    def __init__(self, assets: bool = False) -> None:
        self._operators: dict[str, str] = {}  # active operators: ID -> legal name
        self._licences: dict[str, dict[str, Licence]] = {}  # operator -> licence ID -> licence
        self._owner: dict[str, str] = {}  # licence ID -> operator
        self._kinds = (b"operator", b"licence", *(_ASSET_KINDS if assets else ()))
        self._assets: dict[tuple[str, str], str] = {}  # (kind, ID) -> operator, while registered
        self._registry: Registry | None = None
        self.changes = 0  # how many changes were applied; the validator compares it

    def apply(self, key: bytes, value: bytes | None, now_us: int) -> bool:
        """Apply one record (``value`` None: a tombstone); True if the view changed."""
        kind, _, raw_id = key.partition(b"/")
        if kind not in self._kinds:
            return False
        entity_id = raw_id.decode()
        segs = [] if value is None else timeline(decode_value(value))
        if kind in _ASSET_KINDS:
            now = next((s.version for s in segs if s.contains(now_us)), None)
            if now is None or now.data.get("status", ACTIVE) != ACTIVE:
                self._assets.pop((kind.decode(), entity_id), None)
            else:
                self._assets[(kind.decode(), entity_id)] = now.operator_id
        elif kind == b"operator":
            now = next((s.version for s in segs if s.contains(now_us)), None)
            if now is None or now.data.get("status", ACTIVE) != ACTIVE:
                self._operators.pop(entity_id, None)
            else:
                self._operators[entity_id] = str(now.data["legal_name"])
        else:
            old = self._owner.pop(entity_id, None)
            if old is not None:
                self._licences[old].pop(entity_id, None)
            lic = licence_of(segs) if segs else None
            if lic is not None:
                op = segs[-1].version.operator_id
                self._owner[entity_id] = op
                self._licences.setdefault(op, {})[entity_id] = lic
        self._registry = None
        self.changes += 1
        return True

    def registry(self) -> Registry:
        """Active operators with their licences (and their assets, when the view keeps them)."""
        if self._registry is None:
            assets: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
            for (kind, entity_id), op in self._assets.items():
                assets[op][kind].append(entity_id)
            self._registry = Registry(operators=tuple(
                Operator(operator_id=op, name=name, licences=tuple(
                    lic for _, lic in sorted(self._licences.get(op, {}).items())),
                    establishments=tuple(sorted(assets[op]["establishment"])),
                    equipment=tuple(sorted(assets[op]["equipment"])),
                    sites=tuple(sorted(assets[op]["site"])), apps=tuple(sorted(assets[op]["app"])))
                for op, name in sorted(self._operators.items())))
        return self._registry

    @property
    def empty(self) -> bool:
        return not self._operators
