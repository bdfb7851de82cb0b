"""Who may do what in the registry: pure decisions over a principal, an action and its target."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from registry.core.errors import Code, RegistryError
from registry.core.model import ASSET_KINDS, Kind


class PrincipalRole(StrEnum):
    OPERATOR = "operator"  # a representative acting for one operator (operator_id)
    OFFICER = "officer"  # the regulator's registry officer: enters, approves, rejects
    REGULATOR = "regulator"  # the regulator's decision makers: suspend, revoke, reinstate
    SYSTEM = "system"  # seeding and bulk loads run by an administrator on the host
    # The cabinets' readers (issue 14, web/access.py): no registry powers, named in the audit log.
    ANALYST = "analyst"  # the regulator's analyst
    TAX = "tax"  # a State Tax Service officer
    INSPECTOR = "inspector"  # the regulator's inspector (single-event look-ups)
    ADMIN = "admin"  # the regulator's administrator (staff accounts)
    LAW = "law"  # law enforcement, within a granted case


@dataclass(frozen=True)
class Principal:
    """Who is calling. Today from a header or a setting; the cabinets' login (issue 14) will supply it."""

    name: str
    role: PrincipalRole
    operator_id: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise RegistryError(Code.NOT_AUTHORISED, "a principal needs a name", "principal")
        if (self.role is PrincipalRole.OPERATOR) != (self.operator_id is not None):
            raise RegistryError(Code.NOT_AUTHORISED,
                                "an operator principal (and only one) names its operator",
                                "principal")

    def __str__(self) -> str:
        return f"{self.role}:{self.name}" + (f"@{self.operator_id}" if self.operator_id else "")


def _refuse(who: Principal, what: str) -> RegistryError:
    return RegistryError(Code.NOT_AUTHORISED, f"{who} may not {what}")


def may_enter(who: Principal) -> None:
    """Enter a change directly (no proposal): the registry officer, or the system when seeding."""
    if who.role not in (PrincipalRole.OFFICER, PrincipalRole.SYSTEM):
        raise _refuse(who, "enter changes directly; propose them instead")


def may_propose(who: Principal, kind: Kind, operator_id: str, current_owner: str | None) -> None:
    """An operator proposes changes to its own records (applying for a licence included).

    ``current_owner`` is the operator the entity belongs to today (None: a new entity).
    """
    if who.role is PrincipalRole.OPERATOR:
        if operator_id != who.operator_id or (current_owner is not None and current_owner != who.operator_id):
            other = current_owner if operator_id == who.operator_id else operator_id
            raise RegistryError(Code.FOREIGN_ASSET, f"{who} may only propose changes to its own records, "
                                f"not to {other}'s")
        if kind not in ASSET_KINDS and kind not in (Kind.OPERATOR, Kind.LICENCE):
            raise _refuse(who, f"propose a {kind}")
        return
    if who.role is not PrincipalRole.OFFICER:
        raise _refuse(who, "propose changes")


def may_decide(who: Principal, proposer: str) -> None:
    """Four eyes: an officer approves or rejects, and never a proposal of their own."""
    if who.role is not PrincipalRole.OFFICER:
        raise _refuse(who, "approve or reject proposals")
    if str(who) == proposer or who.name == proposer.split(":", 1)[-1].split("@", 1)[0]:
        raise RegistryError(Code.FOUR_EYES, f"{who} proposed this change and may not decide it")


def may_sanction(who: Principal) -> None:
    """Suspend, revoke or reinstate a licence: the regulator (the system too, for bulk history)."""
    if who.role not in (PrincipalRole.REGULATOR, PrincipalRole.SYSTEM):
        raise _refuse(who, "suspend, revoke or reinstate licences")


def may_read(who: Principal, operator_id: str) -> bool:
    """Operators see their own records; the regulator's people see all."""
    return who.role is not PrincipalRole.OPERATOR or who.operator_id == operator_id
