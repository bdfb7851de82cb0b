"""The demo's registry (``pipeline.operator.fleet``) as import rows, with the attributes a regulator keeps."""

from __future__ import annotations

from typing import Any

from pipeline.registry import Registry
from registry.core.identifiers import edrpou_checksum

RTP_BP = 9450  # the demo's machines are certified at 94.5 %
TYPE_OF = {"slot": "slot_machine", "rt": "gaming_table", "bj": "gaming_table", "term": "betting_terminal"}


def demo_edrpou(n: int) -> str:
    """A valid EDRPOU code for the n-th demo operator (40,000,000 + n, with its check digit)."""
    first7 = f"{4_000_000 + n:07d}"
    return first7 + str(edrpou_checksum(first7))


def rows_of(registry: Registry) -> list[dict[str, Any]]:
    """One import row per operator, licence, establishment, machine, site and app of ``registry``.

    Venues are registered from the licence's start, so the demo's history has no gap.
    """
    rows: list[dict[str, Any]] = []
    for n, op in enumerate(registry.operators, 1):
        oid = op.operator_id
        since = min((lic.valid_from_us for lic in op.licences), default=0)
        rows.append(
            {
                "kind": "operator",
                "operator_id": oid,
                "legal_name": op.name,
                "edrpou": demo_edrpou(n),
                "since_us": since,
            }
        )
        for lic in op.licences:
            rows.append(
                {
                    "kind": "licence",
                    "operator_id": oid,
                    "licence_id": lic.licence_id,
                    "licence_kind": str(lic.kind),
                    "decision_ref": f"demo decision {lic.licence_id}",
                    "valid_from_us": lic.valid_from_us,
                    "valid_to_us": lic.valid_to_us,
                }
            )
        first = op.licences[0].licence_id if op.licences else ""
        for hall in op.establishments:
            rows.append(
                {
                    "kind": "establishment",
                    "operator_id": oid,
                    "establishment_id": hall,
                    "licence_id": first,
                    "address": f"Kyiv, demo street, {hall}",
                    "since_us": since,
                }
            )
        halls = sorted(op.establishments, key=len, reverse=True)
        for eq in op.equipment:
            hall = next(h for h in halls if eq.startswith(h + "-"))
            code = eq[len(hall) + 1 :].split("-")[0]
            rows.append(
                {
                    "kind": "equipment",
                    "operator_id": oid,
                    "equipment_id": eq,
                    "establishment_id": hall,
                    "equipment_type": TYPE_OF.get(code, "slot_machine"),
                    "manufacturer": "Demo Gaming",
                    "model": code.upper(),
                    "serial": eq,
                    "certificate": f"CERT-{code.upper()}-1",
                    "certified_rtp_bp": RTP_BP,
                    "since_us": since,
                }
            )
        for site in op.sites:
            rows.append(
                {"kind": "site", "operator_id": oid, "domain": site, "licence_id": first, "since_us": since}
            )
        for app in op.apps:
            rows.append(
                {
                    "kind": "app",
                    "operator_id": oid,
                    "store": "google_play",
                    "package_id": app,
                    "licence_id": first,
                    "since_us": since,
                }
            )
    return rows


def post_rows(base_url: str, rows: list[dict[str, Any]], principal: str, reason: str) -> int:
    """Enter ``rows`` through the registry's REST API (``POST /registry/records``, all or nothing).

    Returns the number of versions the registry recorded; a refusal raises with the API's errors.
    """
    import httpx  # noqa: PLC0415 - FastAPI's own HTTP client, only when seeding

    response = httpx.post(f"{base_url}/registry/records", json=rows, params={"reason": reason},
                          headers={"X-DSOM-Principal": principal}, timeout=600)
    if response.status_code != 201:
        raise RuntimeError(f"the registry API refused the seed ({response.status_code}): "
                           f"{response.text[:2000]}")
    return len(response.json())
