from typing import Any

import pytest

from registry.core.errors import Code, RegistryErrors
from registry.core.model import parse_many
from registry.core.rules import Known, check_batch

OP = {"kind": "operator", "operator_id": "op-1", "legal_name": "Op One", "edrpou": "14360570"}
OP2 = {**OP, "operator_id": "op-2", "edrpou": "00032129"}
LIC = {"kind": "licence", "operator_id": "op-1", "licence_id": "LIC-1", "licence_kind": "SLOT_HALL",
       "decision_ref": "d-1", "valid_from_us": 100, "valid_to_us": 200}
HALL = {"kind": "establishment", "operator_id": "op-1", "establishment_id": "h-1", "licence_id": "LIC-1",
        "address": "Kyiv, Khreshchatyk 1"}
EQ = {"kind": "equipment", "operator_id": "op-1", "equipment_id": "m-1", "establishment_id": "h-1",
      "equipment_type": "slot_machine", "manufacturer": "Acme", "model": "A", "serial": "S1",
      "certificate": "C", "certified_rtp_bp": 9400}


def errors(rows: list[dict[str, Any]], known: Known | None = None) -> list[tuple[int | None, Code]]:
    with pytest.raises(RegistryErrors) as e:
        check_batch(known or Known(), parse_many(rows))
    return [(x.line, x.code) for x in e.value.errors]


def test_a_batch_in_any_order_is_applied_parents_first() -> None:
    rows: list[dict[str, Any]] = [EQ, HALL, LIC, OP]
    assert check_batch(Known(), parse_many(rows)) == [3, 2, 1, 0]


def test_the_issues_bad_inputs_get_their_own_codes() -> None:
    assert errors([OP, LIC, {**LIC, "valid_from_us": 150, "valid_to_us": 300}]) == [
        (3, Code.OVERLAPPING_LICENCE)]
    assert errors([OP, LIC, HALL, EQ, {**EQ, "equipment_id": "m-2"}]) == [(5, Code.DUPLICATE_SERIAL)]
    assert errors([LIC]) == [(1, Code.UNKNOWN_OPERATOR)]
    assert errors([OP, OP2, LIC, {**HALL, "operator_id": "op-2"}]) == [(4, Code.FOREIGN_ASSET)]
    assert errors([OP, LIC, {**EQ, "establishment_id": "h-9"}]) == [(3, Code.UNKNOWN_ENTITY)]
    assert errors([OP, {**OP2, "edrpou": OP["edrpou"]}]) == [(2, Code.ALREADY_REGISTERED)]


def test_a_new_version_must_keep_its_owner() -> None:
    known = Known()
    check_batch(known, parse_many([OP, OP2, LIC]))
    with pytest.raises(RegistryErrors) as e:
        check_batch(known, parse_many([{**LIC, "operator_id": "op-2"}]), new=False)
    assert e.value.errors[0].code is Code.FOREIGN_ASSET
    check_batch(known, parse_many([{**LIC, "status": "suspended", "status_reason": "r"}]), new=False)
