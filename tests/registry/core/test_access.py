import pytest

from registry.core.access import Principal, PrincipalRole, may_decide, may_enter, may_propose, may_sanction
from registry.core.errors import Code, RegistryError
from registry.core.model import Kind

OFFICER = Principal("olena", PrincipalRole.OFFICER)
OTHER_OFFICER = Principal("taras", PrincipalRole.OFFICER)
OPERATOR = Principal("rep-1", PrincipalRole.OPERATOR, "op-1")


def code(call: object, *args: object) -> Code:
    with pytest.raises(RegistryError) as e:
        call(*args)  # type: ignore[operator]
    return e.value.code


def test_operators_propose_only_for_themselves() -> None:
    may_propose(OPERATOR, Kind.EQUIPMENT, "op-1", None)
    may_propose(OPERATOR, Kind.SITE, "op-1", "op-1")
    assert code(may_propose, OPERATOR, Kind.EQUIPMENT, "op-2", None) is Code.FOREIGN_ASSET
    assert code(may_propose, OPERATOR, Kind.SITE, "op-1", "op-2") is Code.FOREIGN_ASSET
    assert code(may_enter, OPERATOR) is Code.NOT_AUTHORISED


def test_four_eyes() -> None:
    may_decide(OTHER_OFFICER, str(OFFICER))
    assert code(may_decide, OFFICER, str(OFFICER)) is Code.FOUR_EYES
    assert code(may_decide, OPERATOR, str(OFFICER)) is Code.NOT_AUTHORISED


def test_only_the_regulator_sanctions() -> None:
    may_sanction(Principal("board", PrincipalRole.REGULATOR))
    assert code(may_sanction, OFFICER) is Code.NOT_AUTHORISED


def test_an_operator_principal_names_its_operator() -> None:
    assert code(Principal, "x", PrincipalRole.OPERATOR) is Code.NOT_AUTHORISED
    assert code(Principal, "x", PrincipalRole.OFFICER, "op-1") is Code.NOT_AUTHORISED
