"""Rows the registry tests load: two operators, licences, a hall with machines, a site and an app."""

from typing import Any

from tests.integration.registry.conftest import T0

OP1 = {"kind": "operator", "operator_id": "op-1", "legal_name": "Op One LLC", "edrpou": "14360570"}
OP2 = {"kind": "operator", "operator_id": "op-2", "legal_name": "Op Two LLC", "edrpou": "00032129"}
LIC1 = {
    "kind": "licence",
    "operator_id": "op-1",
    "licence_id": "LIC-SH-1",
    "licence_kind": "SLOT_HALL",
    "decision_ref": "KRAIL 12/2025",
    "valid_from_us": T0 - 10**12,
}
LIC2 = {
    "kind": "licence",
    "operator_id": "op-2",
    "licence_id": "LIC-OC-2",
    "licence_kind": "ONLINE_CASINO",
    "decision_ref": "KRAIL 13/2025",
    "valid_from_us": T0 - 10**12,
}
HALL = {
    "kind": "establishment",
    "operator_id": "op-1",
    "establishment_id": "hall-1",
    "licence_id": "LIC-SH-1",
    "address": "Kyiv, Khreshchatyk 1",
}


def machine(n: int, serial: str | None = None, **kw: Any) -> dict[str, Any]:
    return {
        "kind": "equipment",
        "operator_id": "op-1",
        "equipment_id": f"m-{n}",
        "establishment_id": "hall-1",
        "equipment_type": "slot_machine",
        "manufacturer": "Acme",
        "model": "A1",
        "serial": serial or f"SN-{n}",
        "certificate": "CERT-1",
        "certified_rtp_bp": 9450,
        **kw,
    }


SITE = {"kind": "site", "operator_id": "op-2", "domain": "casino.example.ua", "licence_id": "LIC-OC-2"}
APP = {
    "kind": "app",
    "operator_id": "op-2",
    "store": "google_play",
    "package_id": "ua.example.casino",
    "licence_id": "LIC-OC-2",
}
REP = {
    "kind": "representative",
    "operator_id": "op-1",
    "representative_id": "rep-1",
    "name": "I. Petrenko",
    "role": "head",
    "tax_number": "1234567890",
    "cert_fingerprint": "ab" * 32,
}
BASE: list[dict[str, Any]] = [OP1, OP2, LIC1, LIC2, HALL, machine(1), machine(2), SITE, APP, REP]
