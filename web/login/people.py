"""Who a certificate belongs to: an operator's representative in the registry, or a member of staff (pure).

A representative is matched on both the keyed hash of the tax number in the certificate and the
certificate's fingerprint, as the registry keeps them (a renewed certificate is entered in the
registry before it is used); a certificate that also names an organisation must name the
representative's operator. Staff (the regulator's and the tax service's people) are listed in the
staff file (``web.staff_path``) the same way, with their role.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from web.access import Account, Role
from web.login.core import LoginRefused, Refusal, Subject


@dataclass(frozen=True)
class StaffMember:
    name: str
    role: Role
    tax_number_hmac: str
    cert_fingerprint: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StaffMember:
        role = Role(d["role"])
        if role is Role.OPERATOR:
            raise ValueError(f"staff member {d['name']!r}: operators' people are registry representatives")
        return cls(
            str(d["name"]),
            role,
            str(d["tax_number_hmac"]),
            str(d["cert_fingerprint"]).replace(":", "").lower(),
        )


@dataclass(frozen=True)
class Representative:
    operator_id: str
    representative_id: str
    name: str
    tax_number_hmac: str
    cert_fingerprint: str


def find_account(
    subject: Subject,
    tax_hmac: str,
    representatives: Iterable[Representative],
    edrpou_of: Mapping[str, str],
    staff: Iterable[StaffMember],
) -> Account:
    """The account ``subject`` logs in to; refuses a person nobody registered with this certificate."""
    for m in staff:
        if m.tax_number_hmac == tax_hmac and m.cert_fingerprint == subject.fingerprint:
            return Account(m.name, m.role, None, subject.common_name or m.name)
    for r in representatives:
        if r.tax_number_hmac == tax_hmac and r.cert_fingerprint == subject.fingerprint:
            if subject.edrpou is not None and edrpou_of.get(r.operator_id) != subject.edrpou:
                raise LoginRefused(
                    Refusal.UNKNOWN_PERSON,
                    f"certificate names EDRPOU {subject.edrpou}, not {r.operator_id}'s",
                )
            return Account(r.representative_id, Role.OPERATOR, r.operator_id, r.name)
    raise LoginRefused(Refusal.UNKNOWN_PERSON, "no representative or staff member with this certificate")
