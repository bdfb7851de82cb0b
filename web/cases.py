"""Law-enforcement cases (pure): what the regulator grants, and whether a look-up may run under one.

A case names the law-enforcement officer it is granted to, the operators in scope (at least one),
optionally the subjects (player references) it is limited to, the request it answers (the basis:
a court ruling, an investigator's letter) and its expiry. After the expiry, once withdrawn, or for
somebody else, the case opens nothing; within it, a look-up reads only its operators and subjects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from web.i18n import _, format_time
from web.lookup import LookupRefused, Scope

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
MAX_DAYS = 366


@dataclass(frozen=True)
class Case:
    case_id: str
    granted_to: str  # the law-enforcement officer's staff name
    operators: tuple[str, ...]
    subjects: tuple[str, ...]
    basis: str
    expires_at_us: int
    active: bool = True
    granted_by: str = ""
    recorded_at_us: int = 0

    def expired(self, now_us: int) -> bool:
        return now_us >= self.expires_at_us

    def state(self, now_us: int) -> str:
        return "withdrawn" if not self.active else "expired" if self.expired(now_us) else "open"

    def as_detail(self) -> dict[str, Any]:
        return {
            "granted_to": self.granted_to,
            "operators": list(self.operators),
            "subjects": list(self.subjects),
            "basis": self.basis,
            "expires_at_us": self.expires_at_us,
            "active": self.active,
        }


def _items(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(x.strip() for x in re.split(r"[,\s]+", text) if x.strip()))


def parse_grant(form: dict[str, str], law_staff: set[str], known_operators: set[str], now_us: int) -> Case:
    """A new case from the regulator's form, or :class:`LookupRefused` saying what to fix."""
    case_id = form.get("case_id", "").strip()
    if not CASE_ID.match(case_id):
        raise LookupRefused(_("The case ID must be 1 to 64 letters, digits, dots, slashes or dashes."))
    to = form.get("granted_to", "").strip()
    if to not in law_staff:
        raise LookupRefused(
            _("{who} is not an active law-enforcement account; the administrator adds such accounts.").format(
                who=to or _("(nobody)")
            )
        )
    operators = _items(form.get("operators", ""))
    if not operators:
        raise LookupRefused(_("Name at least one operator in the case's scope."))
    unknown = [o for o in operators if o not in known_operators]
    if unknown:
        raise LookupRefused(_("Unknown operator(s): {ops}.").format(ops=", ".join(unknown)))
    subjects = _items(form.get("subjects", ""))
    if any(len(s) > 200 for s in subjects) or len(subjects) > 1000:
        raise LookupRefused(_("At most 1000 subjects of at most 200 characters each."))
    basis = form.get("basis", "").strip()
    if len(basis) < 5 or len(basis) > 1000:
        raise LookupRefused(
            _(
                "Give the request this case answers (a court ruling or letter reference, "
                "5 to 1000 characters)."
            )
        )
    try:
        expires = datetime.strptime(form.get("expires", "").strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise LookupRefused(_("The expiry must be a date as YYYY-MM-DD.")) from None
    expires_us = int(expires.timestamp()) * 1_000_000 + 86_400_000_000  # to the end of that day
    if expires_us <= now_us:
        raise LookupRefused(_("The expiry must be in the future."))
    if expires_us - now_us > MAX_DAYS * 86_400_000_000:
        raise LookupRefused(
            _("A case may run at most {n} days; grant a new one to extend it.").format(n=MAX_DAYS)
        )
    return Case(case_id, to, operators, subjects, basis, expires_us)


def case_scope(case: Case | None, case_id: str, who: str, now_us: int) -> Scope:
    """The scope ``who`` may look into under ``case`` (the newest version of ``case_id``), or a refusal."""
    if not case_id:
        raise LookupRefused(_("Choose the case this look-up belongs to."))
    if case is None or case.granted_to != who:
        raise LookupRefused(
            _("Case {case} is not granted to you; the regulator grants cases.").format(case=case_id)
        )
    if not case.active:
        raise LookupRefused(
            _("Case {case} was withdrawn by the regulator; no look-ups are allowed under it.").format(
                case=case_id
            )
        )
    if case.expired(now_us):
        raise LookupRefused(
            _("Case {case} expired on {when}; ask the regulator to grant a new one.").format(
                case=case_id, when=format_time(case.expires_at_us)
            )
        )
    return Scope(case.operators, case.subjects, case.case_id)
