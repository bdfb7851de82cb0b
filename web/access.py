"""Who may call which route: the cabinets' roles, the route table, and the per-object checks (pure).

Every route of the application has one entry in :data:`POLICY`, keyed by its method and path
template; a route without one is refused to everybody (and fails ``tests/web/test_access.py``).
The registry's own rules (``registry.core.access``) still decide within a route, e.g. that an
operator proposes only for itself and an officer never decides their own proposal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from registry.core.access import Principal, PrincipalRole


class Role(StrEnum):
    OPERATOR = "operator"  # an operator's head or authorised person: that operator's data only
    OFFICER = "officer"  # the regulator's registry officer: approves or rejects proposals
    REGULATOR = "regulator"  # the regulator's decision maker: suspends, revokes, reinstates licences
    ANALYST = "analyst"  # the regulator's analyst: the reports, with export
    TAX = "tax"  # a State Tax Service officer: the financial reports, tax records, exports
    INSPECTOR = "inspector"  # the regulator's inspector: single events, each look-up with a reason
    ADMIN = "admin"  # the regulator's administrator: staff accounts and roles
    LAW = "law"  # law enforcement: read-only look-ups within a case the regulator granted


@dataclass(frozen=True)
class Account:
    """A logged-in person, as the session keeps them."""

    name: str  # the representative's ID, or the staff member's name
    role: Role
    operator_id: str | None = None
    display_name: str = ""

    @property
    def principal(self) -> Principal:
        """The registry's principal for this person: what the audit log names."""
        return Principal(self.name, PrincipalRole(self.role.value), self.operator_id)

    def as_session(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "role": self.role.value,
            "operator_id": self.operator_id,
            "display_name": self.display_name,
        }

    @classmethod
    def from_session(cls, data: dict[str, str | None]) -> Account:
        return cls(
            str(data["name"]),
            Role(str(data["role"])),
            data.get("operator_id"),
            str(data.get("display_name") or ""),
        )


PUBLIC: Final = "public"  # no login needed
EVERYONE = frozenset(Role)
REGULATOR_STAFF = frozenset({Role.OFFICER, Role.REGULATOR})
READERS = frozenset({Role.OPERATOR, Role.OFFICER, Role.REGULATOR, Role.ANALYST})
REPORT_READERS = frozenset({Role.ANALYST, Role.TAX})

# (method, path template) -> the roles that may call it. PUBLIC routes need no login.
POLICY: dict[tuple[str, str], frozenset[Role] | Literal["public"]] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/"): EVERYONE,
    ("GET", "/contract/asyncapi.json"): EVERYONE,
    # the operator's cabinet
    ("GET", "/operator"): frozenset({Role.OPERATOR}),
    ("POST", "/operator/proposals"): frozenset({Role.OPERATOR}),
    ("GET", "/operator/alerts"): frozenset({Role.OPERATOR}),  # its own operator's (web.inbox)
    ("POST", "/operator/alerts/{alert_id}"): frozenset({Role.OPERATOR}),
    ("GET", "/operator/keys"): frozenset({Role.OPERATOR}),
    ("POST", "/operator/keys"): frozenset({Role.OPERATOR}),
    ("POST", "/operator/keys/{key_id}/bundle"): frozenset({Role.OPERATOR}),
    ("POST", "/operator/keys/{key_id}/rotate"): frozenset({Role.OPERATOR}),
    ("POST", "/operator/keys/{key_id}/revoke"): frozenset({Role.OPERATOR}),
    ("GET", "/operator/receipts"): frozenset({Role.OPERATOR}),
    ("GET", "/api/operator/receipts"): frozenset({Role.OPERATOR}),
    ("GET", "/operator/quality"): frozenset({Role.OPERATOR}),
    ("GET", "/operator/taxes"): frozenset({Role.OPERATOR}),
    # the regulator's cabinet
    ("GET", "/regulator"): REGULATOR_STAFF,
    ("POST", "/regulator/proposals/{proposal_id}"): frozenset({Role.OFFICER}),
    ("POST", "/regulator/licences/{licence_id}"): frozenset({Role.REGULATOR}),
    ("GET", "/regulator/alerts"): REGULATOR_STAFF,  # the inbox (web.inbox: all but per-player rules)
    ("POST", "/regulator/alerts/{alert_id}"): REGULATOR_STAFF,
    ("GET", "/audit"): REGULATOR_STAFF | {Role.ADMIN},
    # the reports (the former dashboard): analysts all, tax officers the financial group
    ("GET", "/operational"): REPORT_READERS,
    ("GET", "/regulatory"): REPORT_READERS,
    ("GET", "/analytical"): REPORT_READERS,
    ("GET", "/financial"): REPORT_READERS,
    ("GET", "/api/catalog"): REPORT_READERS,
    ("GET", "/api/report/{name}"): REPORT_READERS,
    ("GET", "/api/live"): frozenset({Role.ANALYST}),
    # the registry's REST API, as the logged-in person
    ("GET", "/registry/records"): READERS,
    ("GET", "/registry/records/{kind}/{entity_id}"): READERS,
    ("POST", "/registry/records"): frozenset({Role.OFFICER}),
    ("POST", "/registry/records/change"): frozenset({Role.OFFICER}),
    ("POST", "/registry/licences/{licence_id}/{action}"): frozenset({Role.REGULATOR}),
    ("GET", "/registry/proposals"): frozenset({Role.OPERATOR, Role.OFFICER, Role.REGULATOR}),
    ("POST", "/registry/proposals"): frozenset({Role.OPERATOR, Role.OFFICER}),
    ("POST", "/registry/proposals/{proposal_id}/{verdict}"): frozenset({Role.OFFICER}),
    ("GET", "/registry/export"): READERS,
    ("POST", "/registry/operators/{operator_id}/writer-schemas"): frozenset({Role.OPERATOR, Role.OFFICER}),
    ("GET", "/registry/audit/verify"): REGULATOR_STAFF,
    # the archive's proofs (web/proofs.py): an operator its own receipts, regulator staff any;
    # the key and the checkpoints, public facts a witness keeps, to anyone logged in
    ("GET", "/api/proofs/key"): EVERYONE,
    ("GET", "/api/proofs/checkpoints"): EVERYONE,
    ("GET", "/api/proofs/inclusion/{receipt_id}"): frozenset({Role.OPERATOR, Role.OFFICER, Role.REGULATOR}),
    ("GET", "/api/proofs/consistency/{partition}"): EVERYONE,
    # single events: the inspector (any operator, a stated reason) and law enforcement (its cases)
    ("GET", "/inspect"): frozenset({Role.INSPECTOR, Role.LAW}),
    ("POST", "/inspect"): frozenset({Role.INSPECTOR, Role.LAW}),
    ("POST", "/api/lookup"): frozenset({Role.INSPECTOR, Role.LAW}),
    # law-enforcement cases: granted and withdrawn by the regulator
    ("GET", "/cases"): frozenset({Role.REGULATOR}),
    ("POST", "/cases"): frozenset({Role.REGULATOR}),
    ("POST", "/cases/withdraw"): frozenset({Role.REGULATOR}),
    # staff accounts and roles: the regulator's administrator
    ("GET", "/admin/staff"): frozenset({Role.ADMIN}),
    ("POST", "/admin/staff"): frozenset({Role.ADMIN}),
    ("POST", "/admin/staff/{name}"): frozenset({Role.ADMIN}),
    # the tax service's records: GGR statements, payouts, discrepancies, with export
    ("GET", "/tax"): frozenset({Role.TAX}),
    ("GET", "/api/tax/{table}"): frozenset({Role.TAX}),
}

# The report groups each role sees (within the report routes above).
REPORT_GROUPS: dict[Role, frozenset[str]] = {
    Role.ANALYST: frozenset({"operational", "regulatory", "analytical", "financial"}),
    Role.TAX: frozenset({"financial"}),
}

HOME: dict[Role, str] = {
    Role.OPERATOR: "/operator",
    Role.OFFICER: "/regulator",
    Role.REGULATOR: "/regulator",
    Role.ANALYST: "/operational",
    Role.TAX: "/tax",
    Role.INSPECTOR: "/inspect",
    Role.ADMIN: "/admin/staff",
    Role.LAW: "/inspect",
}


class Verdict(StrEnum):
    ALLOWED = "allowed"
    LOGIN = "login"  # not logged in: go and log in
    REFUSED = "refused"  # logged in, but not this role
    NO_RULE = "no_rule"  # a route nobody declared a rule for: refused to all


def decide(method: str, path: str, account: Account | None) -> Verdict:
    """Whether ``account`` (None: not logged in) may call the route ``method path``."""
    allowed = POLICY.get(("GET" if method == "HEAD" else method, path))
    if allowed is None:
        return Verdict.NO_RULE
    if allowed == PUBLIC:
        return Verdict.ALLOWED
    if account is None:
        return Verdict.LOGIN
    return Verdict.ALLOWED if account.role in allowed else Verdict.REFUSED


def may_see_group(account: Account, group: str) -> bool:
    return group in REPORT_GROUPS.get(account.role, frozenset())
