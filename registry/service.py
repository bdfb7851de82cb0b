"""The registry's service functions: each change checked, versioned, audited and queued in one transaction.

The CLI and the REST API call these and nothing else. A refused change raises
:class:`~registry.core.errors.RegistryError` (or ``RegistryErrors`` for a batch) before anything
is written, and the transaction that would have written it is rolled back.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, event, func, insert, select, text
from sqlalchemy.orm import Session

from pipeline.registry import Registry
from pipeline.settings import Settings
from registry.core import access
from registry.core.access import Principal, PrincipalRole
from registry.core.audit import GENESIS, AuditEntry, ChainReport, entry_hash, verify
from registry.core.errors import Code, RegistryError, RegistryErrors
from registry.core.history import Version, as_of, timeline
from registry.core.model import (
    Kind,
    LicenceRecord,
    Record,
    Status,
    parse_many,
    parse_record,
    record_from_data,
)
from registry.core.rules import PARENT_KINDS, Known, check_batch, check_lines
from registry.core.snapshot import pipeline_registry, topic_key, topic_value
from registry.db.engine import make_engine, migrate
from registry.db.tables import AuditRow, DecisionRow, OutboxRow, ProposalRow, VersionRow

VERSION_COLUMNS = (
    VersionRow.seq,
    VersionRow.kind,
    VersionRow.entity_id,
    VersionRow.operator_id,
    VersionRow.valid_from_us,
    VersionRow.valid_to_us,
    VersionRow.recorded_at_us,
    VersionRow.data,
)
CHUNK = 5000  # ids per IN (...) query: well under SQLite's and PostgreSQL's parameter limits
IMPORT_CHUNK = 10_000  # rows an import checks and writes at a time (its memory is about that many)
_PARENT_KIND_NAMES = frozenset(k.value for k in PARENT_KINDS)
# Every kind, named in look-ups by ID or natural key: the indexes lead with the kind, and without it
# the database scans the whole table (an import looks up each chunk: quadratic at national size).
_ALL_KINDS = sorted(k.value for k in Kind)
WRITE_LOCK = (
    0x6473_6F6D  # PostgreSQL advisory lock: one registry writer at a time (the audit chain is linear)
)


def now_us() -> int:
    return time.time_ns() // 1000


def parse_principal(spec: str) -> Principal:
    """``role:name`` or ``operator:name@operator_id``, as the CLI setting and the API header give it."""
    role, _, rest = spec.partition(":")
    name, _, operator_id = rest.partition("@")
    try:
        return Principal(name, PrincipalRole(role), operator_id or None)
    except ValueError:
        raise RegistryError(
            Code.NOT_AUTHORISED,
            f"expected role:name with role one of "
            f"{', '.join(r.value for r in PrincipalRole)}, got {spec[:64]!r}",
            "principal",
        ) from None


def tax_number_key(settings: Settings) -> bytes:
    """The HMAC key for tax numbers: the setting, or a random one kept beside the PKI (mode 0600)."""
    if settings.registry.tax_number_key is not None:
        return settings.registry.tax_number_key.get_secret_value().encode()
    path = Path(settings.pki_dir) / "registry-hmac.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(secrets.token_bytes(32))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_bytes()


@dataclass(frozen=True)
class Proposal:
    proposal_id: int
    operator_id: str
    proposer: str
    kind: str
    entity_id: str
    is_new: bool
    valid_from_us: int
    data: dict[str, Any]
    state: str  # pending, approved, rejected
    decided_by: str | None = None
    reason: str | None = None


class RegistryService:
    """The registry over one database. Thread-safe: each call opens its own session."""

    def __init__(
        self, engine: Engine, tax_key: bytes | None = None, clock: Callable[[], int] = now_us
    ) -> None:
        self.engine = engine
        self._tax_key = tax_key
        self._clock = clock
        self._pg = engine.dialect.name == "postgresql"
        if engine.dialect.name == "sqlite":
            # pysqlite's own BEGIN is deferred: two writers would both read the audit head and one
            # fail on upgrading its lock. BEGIN IMMEDIATE makes the second wait (busy_timeout).
            @event.listens_for(engine, "connect")
            def _no_driver_transactions(dbapi_conn: Any, _: Any) -> None:
                dbapi_conn.isolation_level = None

            @event.listens_for(engine, "begin")
            def _begin_immediate(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

    @classmethod
    def from_settings(cls, settings: Settings, *, run_migrations: bool = True) -> RegistryService:
        engine = make_engine(settings.registry.dsn.get_secret_value())
        if run_migrations:
            migrate(engine)
        return cls(engine, tax_number_key(settings))

    # ---- transactions -------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self.engine) as s, s.begin():
            if self._pg:
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK})
            yield s

    def _read(self) -> Session:
        return Session(self.engine)

    # ---- reads -------------------------------------------------------------------------------

    def _versions_of(
        self, s: Session, ids: Iterable[str], kinds: set[str] | None = None
    ) -> dict[tuple[str, str], list[Version]]:
        out: dict[tuple[str, str], list[Version]] = defaultdict(list)
        id_list = list(dict.fromkeys(ids))
        for i in range(0, len(id_list), CHUNK):
            q = select(*VERSION_COLUMNS).where(VersionRow.kind.in_(_ALL_KINDS),
                                               VersionRow.entity_id.in_(id_list[i : i + CHUNK]))
            for r in s.execute(q):
                if kinds is None or r[1] in kinds:
                    out[(r[1], r[2])].append(_version(r))
        return out

    def history(self, kind: str, entity_id: str, who: Principal | None = None) -> list[Version]:
        with self._read() as s:
            versions = sorted(
                self._versions_of(s, [entity_id], {kind}).get((kind, entity_id), []), key=lambda v: v.seq
            )
        if versions and who is not None and not access.may_read(who, versions[-1].operator_id):
            raise RegistryError(Code.NOT_AUTHORISED, f"{who} may not read another operator's records")
        return versions

    def show(
        self,
        kind: str,
        entity_id: str,
        at_us: int | None = None,
        known_at_us: int | None = None,
        who: Principal | None = None,
    ) -> Version | None:
        """The version of one entity in force at ``at_us`` (default now), as known at ``known_at_us``."""
        t = self._clock() if at_us is None else at_us
        return as_of(self.history(kind, entity_id, who), t, known_at_us)

    def all_histories(
        self, kind: str | None = None, operator_id: str | None = None, known_at_us: int | None = None
    ) -> list[list[Version]]:
        q = select(*VERSION_COLUMNS)
        if kind is not None:
            q = q.where(VersionRow.kind == kind)
        if operator_id is not None:
            q = q.where(VersionRow.operator_id == operator_id)
        if known_at_us is not None:
            q = q.where(VersionRow.recorded_at_us <= known_at_us)
        groups: dict[tuple[str, str], list[Version]] = defaultdict(list)
        with self._read() as s:
            # Plain rows, not ORM objects: a national registry is half a million versions.
            for r in s.execute(q.order_by(VersionRow.seq).execution_options(yield_per=20_000)):
                groups[(r[1], r[2])].append(_version(r))
        return list(groups.values())

    def current(
        self,
        kind: str | None = None,
        operator_id: str | None = None,
        at_us: int | None = None,
        known_at_us: int | None = None,
        who: Principal | None = None,
    ) -> list[Version]:
        """The versions in force at ``at_us`` (default now) of every matching entity, as known then."""
        if who is not None and who.role is PrincipalRole.OPERATOR:
            if operator_id not in (None, who.operator_id):
                raise RegistryError(Code.NOT_AUTHORISED, f"{who} may not read another operator's records")
            operator_id = who.operator_id
        t = self._clock() if at_us is None else at_us
        out = []
        for versions in self.all_histories(kind, operator_id, known_at_us):
            v = as_of(versions, t, known_at_us)
            if v is not None:
                out.append(v)
        return sorted(out, key=lambda v: (v.kind, v.entity_id))

    def snapshot(self, at_us: int | None = None) -> Registry:
        """The validator's ``pipeline.registry.Registry`` as the registry stood at ``at_us`` (default now)."""
        t = self._clock() if at_us is None else at_us
        return pipeline_registry(self.all_histories(known_at_us=t), t)

    def export(self, at_us: int | None = None) -> Iterator[dict[str, Any]]:
        """Every entity in force at ``at_us`` as an import row (its record, and ``since_us``)."""
        t = self._clock() if at_us is None else at_us
        for versions in self.all_histories(known_at_us=t):
            seg = next((x for x in timeline(versions, t) if x.contains(t)), None)
            if seg is not None:
                yield {**seg.version.data, "since_us": seg.start_us}

    def proposals(self, operator_id: str | None = None, pending_only: bool = False) -> list[Proposal]:
        q = select(ProposalRow, DecisionRow).outerjoin(
            DecisionRow, DecisionRow.proposal_id == ProposalRow.proposal_id
        )
        if operator_id is not None:
            q = q.where(ProposalRow.operator_id == operator_id)
        with self._read() as s:
            rows = s.execute(q.order_by(ProposalRow.proposal_id)).all()
        out = [_proposal(p, d) for p, d in rows]
        return [p for p in out if p.state == "pending"] if pending_only else out

    # ---- writes ------------------------------------------------------------------------------

    def _known(
        self, s: Session, records: Sequence[Record]
    ) -> tuple[Known, dict[tuple[str, str], list[Version]]]:
        """The keys the rules need for ``records``: the entities, their references, their keys' holders."""
        ids: set[str] = set()
        naturals: set[str] = set()
        for rec in records:
            ids.update((rec.entity_id, rec.operator_id))
            for ref in ("licence_id", "establishment_id"):
                if hasattr(rec, ref):
                    ids.add(getattr(rec, ref))
            key = rec.natural_key()
            if key is not None:
                naturals.add(key)
        nat_list = list(naturals)
        for i in range(0, len(nat_list), CHUNK):
            ids.update(
                s.scalars(
                    select(VersionRow.entity_id).where(VersionRow.kind.in_(_ALL_KINDS),
                                                       VersionRow.natural_key.in_(nat_list[i : i + CHUNK]))
                )
            )
        histories = self._versions_of(s, ids)
        known = Known()
        for versions in histories.values():
            latest = max(versions, key=lambda v: (v.recorded_at_us, v.seq))
            known.add(record_from_data(latest.kind, latest.data))
        return known, histories

    def _commit_versions(
        self,
        s: Session,
        who: Principal,
        action: str,
        records: Sequence[Record],
        valid_from: Sequence[int],
        histories: dict[tuple[str, str], list[Version]],
        reason: str | None,
    ) -> list[Version]:
        """Insert a version per record, an audit entry per change, an outbox row per entity."""
        at = self._clock()
        first = (s.scalar(select(func.max(VersionRow.seq))) or 0) + 1
        new: list[Version] = []
        rows = []
        for n, (rec, since) in enumerate(zip(records, valid_from, strict=True)):
            data = rec.model_dump(mode="json")
            v = Version(first + n, rec.kind.value, rec.entity_id, rec.operator_id, since, None, at, data)
            new.append(v)
            rows.append(
                {
                    "seq": v.seq,
                    "kind": v.kind,
                    "entity_id": v.entity_id,
                    "operator_id": v.operator_id,
                    "natural_key": rec.natural_key(),
                    "valid_from_us": since,
                    "valid_to_us": None,
                    "recorded_at_us": at,
                    "principal": str(who),
                    "data": _json(data),
                }
            )
        for i in range(0, len(rows), CHUNK):
            s.execute(insert(VersionRow), rows[i : i + CHUNK])
        audits = []
        outbox = []
        for v in new:
            before_versions = histories.get((v.kind, v.entity_id), [])
            before = as_of(before_versions, v.valid_from_us)
            audits.append(
                (action, v.kind, v.entity_id, None if before is None else before.data, v.data, reason)
            )
            histories[(v.kind, v.entity_id)] = [*before_versions, v]
        for v in new:
            outbox.append(
                {
                    "key": topic_key(v.kind, v.entity_id).decode(),
                    "value": topic_value(histories[(v.kind, v.entity_id)]).decode(),
                    "recorded_at_us": at,
                }
            )
        for i in range(0, len(outbox), CHUNK):
            s.execute(insert(OutboxRow), outbox[i : i + CHUNK])
        self._audit(s, who, audits, at)
        return new

    def _audit(
        self,
        s: Session,
        who: Principal,
        entries: Sequence[tuple[str, str, str, Any, Any, str | None]],
        at: int | None = None,
    ) -> None:
        at = self._clock() if at is None else at
        head = s.execute(select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)).first()
        seq, prev = (head[0], head[1]) if head else (0, GENESIS)
        rows = []
        for action, kind, entity_id, before, after, reason in entries:
            seq += 1
            h = entry_hash(prev, seq, at, str(who), action, kind, entity_id, before, after, reason)
            rows.append(
                {
                    "seq": seq,
                    "at_us": at,
                    "principal": str(who),
                    "action": action,
                    "kind": kind,
                    "entity_id": entity_id,
                    "before": _json(before),
                    "after": _json(after),
                    "reason": reason,
                    "prev_hash": prev,
                    "hash": h,
                }
            )
            prev = h
        for i in range(0, len(rows), CHUNK):
            s.execute(insert(AuditRow), rows[i : i + CHUNK])

    def add(self, who: Principal, rows: Sequence[dict[str, Any]], reason: str | None = None) -> list[Version]:
        """Enter new entities directly (the registry officer; bulk imports). All or nothing.

        A row may say from when it holds (``since_us``); by default a licence from its own
        ``valid_from_us``, anything else from now.
        """
        access.may_enter(who)
        rows = list(rows)
        since = [r.get("since_us") for r in rows]
        records = parse_many([{k: v for k, v in r.items() if k != "since_us"} for r in rows], self._tax_key)
        now = self._clock()
        valid_from = [
            int(x) if x is not None else rec.valid_from_us if isinstance(rec, LicenceRecord) else now
            for x, rec in zip(since, records, strict=True)
        ]
        with self._write() as s:
            known, histories = self._known(s, records)
            order = check_batch(known, records, new=True)
            return self._commit_versions(
                s, who, "add", [records[i] for i in order], [valid_from[i] for i in order], histories, reason
            )

    def import_rows(
        self, who: Principal, rows: Callable[[], Iterable[dict[str, Any]]], reason: str | None = None
    ) -> int:
        """Enter new entities from a source read twice (a file), all or nothing, in bounded memory.

        ``rows()`` gives the rows afresh each time. The first pass parses the records others refer
        to (operators, licences, establishments: a few percent of a national registry), which are
        checked and written first; the second parses the rest and checks and writes them
        :data:`IMPORT_CHUNK` at a time, all in one transaction. Any bad row stops the writing, the
        reading goes on (to report every bad row with its line: bad fields if there are any, else
        broken rules), and the transaction is rolled back. Returns the number of records entered.
        ``add`` does the same for rows in hand (the API), in one piece.
        """
        access.may_enter(who)
        now = self._clock()
        parents: list[tuple[int, Record, int]] = []
        bad_fields: list[RegistryError] = []
        broken: list[RegistryError] = []

        def parsed(line: int, row: dict[str, Any]) -> tuple[int, Record, int] | None:
            try:
                return (line, *self._parse_row(row, now))
            except RegistryError as e:
                bad_fields.append(e.at_line(line))
                return None

        for line, row in enumerate(rows(), 1):
            if not isinstance(row, dict) or row.get("kind") in _PARENT_KIND_NAMES:
                parent = parsed(line, row)
                if parent is not None:
                    parents.append(parent)
        written = 0
        unwritten = Known()  # checked but not written (once a row is bad): later rows see them

        def check_and_write(s: Session, batch: list[tuple[int, Record, int]]) -> None:
            nonlocal written
            known, histories = self._known(s, [rec for _, rec, _ in batch])
            known.merge(unwritten)
            passed, errors = check_lines(known, [(line, rec) for line, rec, _ in batch])
            broken.extend(errors)
            if bad_fields or broken:
                unwritten.merge(known)
                return
            self._commit_versions(s, who, "add", [batch[i][1] for i in passed], [batch[i][2] for i in passed],
                                  histories, reason)
            written += len(passed)

        with self._write() as s:
            check_and_write(s, parents)
            parents.clear()
            batch: list[tuple[int, Record, int]] = []
            for line, row in enumerate(rows(), 1):
                if not isinstance(row, dict) or row.get("kind") in _PARENT_KIND_NAMES:
                    continue
                child = parsed(line, row)
                if child is not None:
                    batch.append(child)
                if len(batch) >= IMPORT_CHUNK:
                    check_and_write(s, batch)
                    batch = []
            if batch:
                check_and_write(s, batch)
            if bad_fields or broken:  # rolls back
                raise RegistryErrors(sorted(bad_fields or broken, key=lambda e: e.line or 0))
        return written

    def _parse_row(self, row: dict[str, Any], now: int) -> tuple[Record, int]:
        """One import row's record and from when it holds (``since_us``; see :meth:`add`)."""
        if not isinstance(row, dict):
            raise RegistryError(Code.INVALID_FIELD, "expected a JSON object per row")
        since = row.get("since_us")
        rec = parse_record({k: v for k, v in row.items() if k != "since_us"}, self._tax_key)
        if since is not None:
            if not isinstance(since, int) or since < 0:
                raise RegistryError(Code.INVALID_FIELD, "expected UTC microseconds (an integer, 0 or more)",
                                    "since_us")
            return rec, since
        return rec, rec.valid_from_us if isinstance(rec, LicenceRecord) else now

    def change(
        self, who: Principal, row: dict[str, Any], since_us: int | None = None, reason: str | None = None
    ) -> Version:
        """Enter a new version of an existing entity, true from ``since_us`` (default now)."""
        access.may_enter(who)
        rec = parse_record(row, self._tax_key)
        with self._write() as s:
            known, histories = self._known(s, [rec])
            check_batch(known, [rec], new=False)
            return self._commit_versions(
                s, who, "change", [rec], [since_us or self._clock()], histories, reason
            )[0]

    def sanction(
        self, who: Principal, licence_id: str, status: Status, reason: str, since_us: int | None = None
    ) -> Version:
        """Suspend, revoke or reinstate (status active) a licence from ``since_us`` (default now)."""
        access.may_sanction(who)
        if not reason.strip():
            raise RegistryError(
                Code.INVALID_FIELD, "a decision reference and the reason are required", "reason"
            )
        since = self._clock() if since_us is None else since_us
        with self._write() as s:
            histories = self._versions_of(s, [licence_id], {Kind.LICENCE.value})
            current = as_of(histories.get((Kind.LICENCE.value, licence_id), []), since)
            if current is None:
                raise RegistryError(
                    Code.UNKNOWN_ENTITY, f"no licence {licence_id!r} in force at {since}", "licence_id"
                )
            was = Status(current.data["status"])
            if was is Status.REVOKED or was is status:
                raise RegistryError(
                    Code.INVALID_TRANSITION,
                    f"licence {licence_id} is {was}; it cannot become {status}",
                    "status",
                )
            rec = LicenceRecord.model_validate(
                {
                    **current.data,
                    "status": status,
                    "status_reason": None if status is Status.ACTIVE else reason,
                }
            )
            action = {Status.SUSPENDED: "suspend", Status.REVOKED: "revoke", Status.ACTIVE: "reinstate"}[
                status
            ]
            return self._commit_versions(s, who, action, [rec], [since], histories, reason)[0]

    def propose(self, who: Principal, row: dict[str, Any], since_us: int | None = None) -> Proposal:
        """An operator applies, or proposes a change to its own records; it takes effect once approved."""
        rec = parse_record(row, self._tax_key)
        with self._write() as s:
            known, _ = self._known(s, [rec])
            owner = known.owners.get((rec.kind, rec.entity_id))
            access.may_propose(who, rec.kind, rec.operator_id, owner)
            check_batch(known, [rec], new=owner is None)
            at = self._clock()
            data = rec.model_dump(mode="json")
            since = (
                since_us
                if since_us is not None
                else (rec.valid_from_us if isinstance(rec, LicenceRecord) and owner is None else at)
            )
            pid = s.scalar(
                insert(ProposalRow)
                .values(
                    operator_id=rec.operator_id,
                    proposer=str(who),
                    kind=rec.kind.value,
                    entity_id=rec.entity_id,
                    is_new=owner is None,
                    valid_from_us=since,
                    data=_json(data),
                    recorded_at_us=at,
                )
                .returning(ProposalRow.proposal_id)
            )
            assert pid is not None
            self._audit(
                s,
                who,
                [("propose", rec.kind.value, rec.entity_id, None, {"proposal_id": pid, **data}, None)],
                at,
            )
            return Proposal(
                pid,
                rec.operator_id,
                str(who),
                rec.kind.value,
                rec.entity_id,
                owner is None,
                since,
                data,
                "pending",
            )

    def decide(self, who: Principal, proposal_id: int, approve: bool, reason: str) -> Proposal:
        """Approve (the change takes effect) or reject a proposal, with a reason. Four eyes."""
        if not reason.strip():
            raise RegistryError(Code.INVALID_FIELD, "a decision needs a reason", "reason")
        with self._write() as s:
            p = s.get(ProposalRow, proposal_id)
            if p is None:
                raise RegistryError(Code.UNKNOWN_ENTITY, f"no proposal {proposal_id}", "proposal_id")
            if s.get(DecisionRow, proposal_id) is not None:
                raise RegistryError(Code.ALREADY_DECIDED, f"proposal {proposal_id} is already decided")
            access.may_decide(who, p.proposer)
            at = self._clock()
            if approve:
                rec = record_from_data(p.kind, orjson.loads(p.data))
                known, histories = self._known(s, [rec])
                check_batch(known, [rec], new=p.is_new)
                self._commit_versions(
                    s,
                    who,
                    "approve",
                    [rec],
                    [p.valid_from_us],
                    histories,
                    f"proposal {proposal_id} by {p.proposer}: {reason}",
                )
            else:
                self._audit(
                    s, who, [("reject", p.kind, p.entity_id, None, {"proposal_id": proposal_id}, reason)], at
                )
            s.add(
                DecisionRow(
                    proposal_id=proposal_id,
                    decided_by=str(who),
                    approved=approve,
                    reason=reason,
                    recorded_at_us=at,
                )
            )
            return _proposal(
                p,
                DecisionRow(
                    proposal_id=proposal_id,
                    decided_by=str(who),
                    approved=approve,
                    reason=reason,
                    recorded_at_us=at,
                ),
            )

    def record_event(
        self, who: Principal, action: str, kind: str, entity_id: str, detail: Any, reason: str | None = None
    ) -> None:
        """An audit entry for something that is not a registry change (an export, later logins, look-ups)."""
        with self._write() as s:
            self._audit(s, who, [(action, kind, entity_id, None, detail, reason)])

    # ---- audit -------------------------------------------------------------------------------

    def verify_audit(self) -> ChainReport:
        with self._read() as s:
            rows = s.scalars(select(AuditRow).order_by(AuditRow.seq)).yield_per(20_000)
            return verify(
                AuditEntry(
                    r.seq,
                    r.at_us,
                    r.principal,
                    r.action,
                    r.kind,
                    r.entity_id,
                    orjson.loads(r.before),
                    orjson.loads(r.after),
                    r.reason,
                    r.prev_hash,
                    r.hash,
                )
                for r in rows
            )

    def audit_entries(
        self, entity_id: str | None = None, last: int | None = None, kind: str | None = None
    ) -> list[AuditRow]:
        """Audit entries in order.

        ``last``: only the newest ``last`` (the cabinets' audit page); ``kind``: only the entries
        about that kind (e.g. ``alert``: the inboxes' cases).
        """
        q = select(AuditRow).order_by(AuditRow.seq.desc() if last is not None else AuditRow.seq)
        if entity_id is not None:
            q = q.where(AuditRow.entity_id == entity_id)
        if kind is not None:
            q = q.where(AuditRow.kind == kind)
        if last is not None:
            q = q.limit(last)
        with self._read() as s:
            rows = list(s.scalars(q))
        return rows[::-1] if last is not None else rows


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _version(r: Any) -> Version:
    return Version(r[0], r[1], r[2], r[3], r[4], r[5], r[6], orjson.loads(r[7]))


def _proposal(p: ProposalRow, d: DecisionRow | None) -> Proposal:
    state = "pending" if d is None else "approved" if d.approved else "rejected"
    return Proposal(
        p.proposal_id,
        p.operator_id,
        p.proposer,
        p.kind,
        p.entity_id,
        p.is_new,
        p.valid_from_us,
        orjson.loads(p.data),
        state,
        None if d is None else d.decided_by,
        None if d is None else d.reason,
    )


def service_errors(exc: Exception) -> list[dict[str, Any]]:
    """The refusals in ``exc`` as dicts (for the API and the CLI's JSON output)."""
    if isinstance(exc, RegistryErrors):
        return [e.as_dict() for e in exc.errors]
    if isinstance(exc, RegistryError):
        return [exc.as_dict()]
    raise exc
