from typing import Any

import pytest

from registry.core.errors import Code, RegistryError, RegistryErrors
from registry.core.model import LicenceRecord, RepresentativeRecord, parse_many, parse_record

OP = {"kind": "operator", "operator_id": "op-1", "legal_name": "Op One LLC", "edrpou": "14360570"}
LIC = {"kind": "licence", "operator_id": "op-1", "licence_id": "LIC-1", "licence_kind": "BOOKMAKING",
       "decision_ref": "decision 12/2024", "valid_from_us": 100, "valid_to_us": 200}


def refused(data: dict[str, Any], key: bytes | None = None) -> RegistryError:
    with pytest.raises(RegistryError) as e:
        parse_record(data, key)
    return e.value


def test_a_valid_licence_parses() -> None:
    rec = parse_record(LIC)
    assert isinstance(rec, LicenceRecord) and rec.entity_id == "LIC-1" and rec.status == "active"


def test_errors_name_the_field_and_what_was_expected() -> None:
    e = refused({**OP, "edrpou": "14360571"})
    assert (e.code, e.field) == (Code.INVALID_EDRPOU, "edrpou") and "should be 0" in e.message
    e = refused({"kind": "site", "operator_id": "op-1", "licence_id": "LIC-1", "domain": "casino"})
    assert (e.code, e.field) == (Code.INVALID_DOMAIN, "domain")
    e = refused({**LIC, "licence_kind": "LOTTERY"})
    assert (e.code, e.field) == (Code.INVALID_FIELD, "licence_kind") and "BOOKMAKING" in e.message
    e = refused({k: v for k, v in LIC.items() if k != "decision_ref"})
    assert (e.field, e.message) == ("decision_ref", "required, missing")
    e = refused({**LIC, "colour": "red"})
    assert e.field == "colour"
    e = refused({"kind": "casino"})
    assert e.field == "kind" and "operator" in e.message


def test_licence_rules() -> None:
    assert "must be after" in refused({**LIC, "valid_to_us": 100}).message
    assert "status_reason" in refused({**LIC, "status": "revoked"}).message
    assert "for licences" in refused({**OP, "status": "suspended"}).message


def test_equipment_rtp_is_basis_points_and_serial_is_its_natural_key() -> None:
    eq = {"kind": "equipment", "operator_id": "op-1", "equipment_id": "m-1", "establishment_id": "h-1",
          "equipment_type": "slot_machine", "manufacturer": "Novomatic", "model": "X", "serial": "SN 1",
          "certificate": "C-1", "certified_rtp_bp": 9450}
    assert parse_record(eq).natural_key() == parse_record({**eq, "equipment_id": "m-2",
                                                           "manufacturer": " novomatic"}).natural_key()
    assert refused({**eq, "certified_rtp_bp": 10_001}).field == "certified_rtp_bp"


def test_a_representatives_tax_number_becomes_a_keyed_hash_at_the_boundary() -> None:
    rep = {"kind": "representative", "operator_id": "op-1", "representative_id": "r-1", "name": "I. Petrenko",
           "role": "head", "tax_number": "1234567890", "cert_fingerprint": "ab" * 32}
    rec = parse_record(rep, b"secret")
    assert isinstance(rec, RepresentativeRecord)
    assert "1234567890" not in rec.model_dump_json() and len(rec.tax_number_hmac) == 64
    assert refused(rep).field == "tax_number"  # no key: refused rather than stored in clear
    assert refused({**rep, "tax_number": "12"}, b"secret").field == "tax_number"


def test_parse_many_reports_every_bad_line() -> None:
    with pytest.raises(RegistryErrors) as e:
        parse_many([OP, {**OP, "edrpou": "1"}, LIC, {**LIC, "valid_from_us": -1}])
    assert [(x.line, x.field) for x in e.value.errors] == [(2, "edrpou"), (4, "valid_from_us")]
