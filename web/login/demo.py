"""Demo and test people: a test provider's CA, each person's certificate and key, the CRL, the staff file.

``make_people`` writes into one folder (``<pki_dir>/qes`` for the demo): ``ca.crt`` (trust it),
``ca.key`` (the provider's, 0600), ``ca.crl``, ``staff.json``, and ``<name>.crt`` / ``<name>.key``
per person (the files a person picks on the login page). It returns the registry rows of the
operators' representatives, with their tax numbers (the registry keeps only their keyed hash).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pipeline.settings import Settings
from registry.core.identifiers import tax_number_hash
from web.login.core import fingerprint
from web.login.testpki import KeyType, Provider, cert_pem, crl_pem, key_pem, new_key, write_pem


@dataclass(frozen=True)
class Person:
    name: str  # the representative's ID or the staff member's name; also the files' name
    display_name: str
    role: str  # web.access.Role
    tax_number: str
    operator_id: str | None = None
    edrpou: str | None = None
    key_type: KeyType = "ec"


DEMO_STAFF = [
    Person("officer", "Demo Registry Officer", "officer", "3000000001"),
    Person("regulator", "Demo Regulator", "regulator", "3000000002"),
    Person("analyst", "Demo Analyst", "analyst", "3000000003"),
    Person("tax", "Demo Tax Officer", "tax", "3000000004"),
    Person("inspector", "Demo Inspector", "inspector", "3000000005"),
    Person("admin", "Demo Administrator", "admin", "3000000006"),
    Person("law", "Demo Investigator", "law", "3000000007"),
]


def make_people(folder: Path, people: list[Person], tax_key: bytes) -> list[dict[str, Any]]:
    """Issue everyone's certificate under a new provider (or the one already in ``folder``)."""
    provider = load_provider(folder) if (folder / "ca.key").exists() else Provider.create("dsom demo QTSP")
    write_pem(folder / "ca.crt", cert_pem(provider.cert))
    write_pem(folder / "ca.key", key_pem(provider.key), private=True)
    if not (folder / "ca.crl").exists():
        write_pem(folder / "ca.crl", crl_pem(provider.crl(hours=24 * 30)))
    staff, reps = [], []
    for p in people:
        cert, key = provider.issue(p.display_name, p.tax_number, p.edrpou, key=new_key(p.key_type))
        write_pem(folder / f"{p.name}.crt", cert_pem(cert))
        write_pem(folder / f"{p.name}.key", key_pem(key), private=True)
        if p.operator_id is None:
            staff.append(
                {
                    "name": p.name,
                    "display_name": p.display_name,
                    "role": p.role,
                    "tax_number_hmac": tax_number_hash(tax_key, p.tax_number),
                    "cert_fingerprint": fingerprint(cert),
                }
            )
        else:
            reps.append(
                {
                    "kind": "representative",
                    "operator_id": p.operator_id,
                    "representative_id": p.name,
                    "name": p.display_name,
                    "role": "head",
                    "tax_number": p.tax_number,
                    "cert_fingerprint": fingerprint(cert),
                }
            )
    path = folder / "staff.json"
    old = [
        s
        for s in (json.loads(path.read_text()) if path.exists() else [])
        if s["name"] not in {x["name"] for x in staff}
    ]
    path.write_text(json.dumps(old + staff, indent=1))
    return reps


def load_provider(folder: Path) -> Provider:
    key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    return Provider("dsom demo QTSP", key, cert)  # type: ignore[arg-type]


def revoke(folder: Path, names: list[str]) -> None:
    """Write the provider's CRL (``ca.crl``) listing exactly these people's certificates."""
    provider = load_provider(folder)
    certs = [x509.load_pem_x509_certificate((folder / f"{n}.crt").read_bytes()) for n in names]
    write_pem(folder / "ca.crl", crl_pem(provider.crl(certs, hours=24 * 30)))


def demo_heads(edrpou_of: dict[str, str]) -> list[Person]:
    """One head per operator (``head-<operator>``), named in the certificate with the operator's EDRPOU."""
    return [
        Person(f"head-{op}", f"Demo head of {op}", "operator", f"{2_000_000_000 + n}", op, edrpou)
        for n, (op, edrpou) in enumerate(sorted(edrpou_of.items()), 1)
    ]


def ensure_demo_heads(settings: Settings, registry: Any) -> list[Person]:
    """The demo operators' heads: a certificate and key file each, registered as representatives.

    For every operator in ``registry`` (a ``registry.service.RegistryService``) that has no
    ``head-<operator>`` yet: its certificate and key file in ``<pki_dir>/qes`` (beside the staff's,
    from the same demo provider) and its representative record, added as the system. Returns
    every demo head (those made before too), for printing.
    """
    from registry.core.access import Principal, PrincipalRole  # noqa: PLC0415
    from registry.core.model import Kind  # noqa: PLC0415
    from registry.service import tax_number_key  # noqa: PLC0415
    from web.app import qes_dir  # noqa: PLC0415

    edrpou_of = {v.entity_id: str(v.data["edrpou"]) for v in registry.current(Kind.OPERATOR.value)}
    heads = demo_heads(edrpou_of)
    have = {v.entity_id for v in registry.current(Kind.REPRESENTATIVE.value)}
    folder = qes_dir(settings)
    new = [p for p in heads if p.name not in have or not (folder / f"{p.name}.key").exists()]
    if new:
        rows = make_people(folder, new, tax_number_key(settings))
        fresh = [r for r in rows if r["representative_id"] not in have]
        if fresh:
            registry.add(Principal("demo-seed", PrincipalRole.SYSTEM), fresh, "demo operator heads")
        renewed = [r for r in rows if r["representative_id"] in have]
        for r in renewed:  # a key file lost: a new certificate, entered in the registry first
            registry.change(Principal("demo-seed", PrincipalRole.SYSTEM), r, reason="new demo certificate")
    return heads


def ensure_demo_staff(settings: Settings) -> Path:
    """The demo provider and staff in ``<pki_dir>/qes`` (made once); the folder.

    ``dsom security init`` and ``make demo`` call it, so the demo's cabinets can be logged into. The web
    application imports the staff file into the registry's database at start-up (``registry.staff``).
    """
    from registry.service import tax_number_key  # noqa: PLC0415 - the database layer, only here
    from web.app import qes_dir  # noqa: PLC0415 - the app imports this module

    folder = qes_dir(settings)
    missing = [p for p in DEMO_STAFF if not (folder / f"{p.name}.crt").exists()]
    if missing:  # a folder made before a role existed gets that role's person too
        make_people(folder, missing, tax_number_key(settings))
    return folder
