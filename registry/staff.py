"""The cabinets' staff accounts and law-enforcement cases, in the registry's database, with history and audit.

Both are versioned like the registry's records (rows are only inserted; the newest version per
name or case ID is in force) and every change writes an audit entry in the same transaction, so
the hash-chained log says who added, changed or disabled an account, and who granted or withdrew a
case. The staff file (``DSOM_WEB__STAFF_PATH``) is imported once per person: a name already in the
database is never taken from the file again (so an account disabled here stays disabled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select

from registry.core.access import Principal
from registry.db.tables import CaseRow, StaffRow
from registry.service import RegistryService, _json

STAFF_ROLES = frozenset({"officer", "regulator", "analyst", "tax", "inspector", "admin", "law"})


@dataclass(frozen=True)
class StaffVersion:
    name: str
    display_name: str
    role: str
    tax_number_hmac: str
    cert_fingerprint: str
    active: bool
    recorded_at_us: int
    principal: str  # who made this version

    def as_detail(self) -> dict[str, Any]:
        """The audit entry's content: the hash and the fingerprint, never a tax number."""
        return {
            "display_name": self.display_name,
            "role": self.role,
            "tax_number_hmac": self.tax_number_hmac,
            "cert_fingerprint": self.cert_fingerprint,
            "active": self.active,
        }


@dataclass(frozen=True)
class CaseVersion:
    case_id: str
    granted_to: str
    operators: tuple[str, ...]
    subjects: tuple[str, ...]
    basis: str
    expires_at_us: int
    active: bool
    recorded_at_us: int
    principal: str


def _staff(r: StaffRow) -> StaffVersion:
    return StaffVersion(
        r.name,
        r.display_name,
        r.role,
        r.tax_number_hmac,
        r.cert_fingerprint,
        r.active,
        r.recorded_at_us,
        r.principal,
    )


def _case(r: CaseRow) -> CaseVersion:
    return CaseVersion(
        r.case_id,
        r.granted_to,
        tuple(orjson.loads(r.operators)),
        tuple(orjson.loads(r.subjects)),
        r.basis,
        r.expires_at_us,
        r.active,
        r.recorded_at_us,
        r.principal,
    )


class StaffStore:
    """Staff accounts over a :class:`RegistryService`'s database (its transactions and audit chain)."""

    def __init__(self, svc: RegistryService) -> None:
        self._svc = svc

    def current(self) -> list[StaffVersion]:
        """The version in force of every account (disabled ones included), by name."""
        newest = select(func.max(StaffRow.seq)).group_by(StaffRow.name)
        with self._svc._read() as s:
            rows = s.scalars(select(StaffRow).where(StaffRow.seq.in_(newest)).order_by(StaffRow.name))
            return [_staff(r) for r in rows]

    def history(self, name: str) -> list[StaffVersion]:
        with self._svc._read() as s:
            rows = s.scalars(select(StaffRow).where(StaffRow.name == name).order_by(StaffRow.seq))
            return [_staff(r) for r in rows]

    def put(
        self,
        who: Principal,
        version: StaffVersion,
        action: str,
        reason: str | None,
        *,
        must_be_new: bool = False,
    ) -> StaffVersion:
        """Write a new version of an account and its audit entry (``action``: staff_add, staff_change...)."""
        if version.role not in STAFF_ROLES:
            raise ValueError(f"role {version.role!r} is not a staff role ({', '.join(sorted(STAFF_ROLES))})")
        at = self._svc._clock()
        with self._svc._write() as s:
            before_row = s.scalars(
                select(StaffRow).where(StaffRow.name == version.name).order_by(StaffRow.seq.desc()).limit(1)
            ).first()
            if must_be_new and before_row is not None:
                raise ValueError(f"there is already an account named {version.name!r}")
            if not must_be_new and before_row is None:
                raise ValueError(f"no account named {version.name!r}")
            before = None if before_row is None else _staff(before_row).as_detail()
            s.add(
                StaffRow(
                    name=version.name,
                    display_name=version.display_name,
                    role=version.role,
                    tax_number_hmac=version.tax_number_hmac,
                    cert_fingerprint=version.cert_fingerprint,
                    active=version.active,
                    recorded_at_us=at,
                    principal=str(who),
                )
            )
            self._svc._audit(
                s, who, [(action, "staff", version.name, before, version.as_detail(), reason)], at
            )
        return StaffVersion(**{**version.__dict__, "recorded_at_us": at, "principal": str(who)})

    def import_missing(self, who: Principal, entries: list[dict[str, Any]]) -> list[str]:
        """Add the staff-file entries whose names the database does not know yet; the names added."""
        known = {v.name for v in self.current()}
        added = []
        for d in entries:
            if d["name"] in known or d["role"] not in STAFF_ROLES:
                continue
            try:
                self.put(
                    who,
                    StaffVersion(
                        str(d["name"]),
                        str(d.get("display_name") or d["name"]),
                        str(d["role"]),
                        str(d["tax_number_hmac"]),
                        str(d["cert_fingerprint"]).replace(":", "").lower(),
                        True,
                        0,
                        "",
                    ),
                    "staff_import",
                    "imported from the staff file",
                    must_be_new=True,
                )
            except ValueError:  # another process (the worker, `dsom dashboard`) imported it meanwhile
                continue
            known.add(d["name"])
            added.append(str(d["name"]))
        return added


class CaseStore:
    """Law-enforcement cases over a :class:`RegistryService`'s database."""

    def __init__(self, svc: RegistryService) -> None:
        self._svc = svc

    def current(self, granted_to: str | None = None) -> list[CaseVersion]:
        newest = select(func.max(CaseRow.seq)).group_by(CaseRow.case_id)
        q = select(CaseRow).where(CaseRow.seq.in_(newest))
        if granted_to is not None:
            q = q.where(CaseRow.granted_to == granted_to)
        with self._svc._read() as s:
            return [_case(r) for r in s.scalars(q.order_by(CaseRow.case_id))]

    def get(self, case_id: str) -> CaseVersion | None:
        with self._svc._read() as s:
            row = s.scalars(
                select(CaseRow).where(CaseRow.case_id == case_id).order_by(CaseRow.seq.desc()).limit(1)
            ).first()
            return None if row is None else _case(row)

    def put(
        self, who: Principal, case: CaseVersion, action: str, reason: str | None, *, must_be_new: bool = False
    ) -> CaseVersion:
        at = self._svc._clock()
        detail = {
            "granted_to": case.granted_to,
            "operators": list(case.operators),
            "subjects": list(case.subjects),
            "basis": case.basis,
            "expires_at_us": case.expires_at_us,
            "active": case.active,
        }
        with self._svc._write() as s:
            exists = s.scalar(select(func.count()).where(CaseRow.case_id == case.case_id))
            if must_be_new and exists:
                raise ValueError(f"there is already a case {case.case_id!r}; choose another ID")
            s.add(
                CaseRow(
                    case_id=case.case_id,
                    granted_to=case.granted_to,
                    operators=_json(list(case.operators)),
                    subjects=_json(list(case.subjects)),
                    basis=case.basis,
                    expires_at_us=case.expires_at_us,
                    active=case.active,
                    recorded_at_us=at,
                    principal=str(who),
                )
            )
            self._svc._audit(s, who, [(action, "case", case.case_id, None, detail, reason)], at)
        return CaseVersion(**{**case.__dict__, "recorded_at_us": at, "principal": str(who)})
