import pytest

from pipeline.security.acls import LITERAL, PREFIXED, Grant, key_issuer_grants, operator_grants
from pipeline.settings import TopicSettings

T = TopicSettings()


def allows_group(grants: list[Grant], group: str) -> bool:
    return any(g.resource == "GROUP" and (g.name == group if g.pattern == LITERAL else
                                          g.pattern == PREFIXED and group.startswith(g.name))
               for g in grants)


def test_group_grants_do_not_reach_operators_whose_id_starts_with_this_one() -> None:
    grants = operator_grants(T, "op-x-1")
    assert allows_group(grants, "dsom.operator.op-x-1")
    assert allows_group(grants, "dsom.operator.op-x-1.receipts-reader")
    for other in ("dsom.operator.op-x-10", "dsom.operator.op-x-10.reader", "dsom.operator.op-x-1-b",
                  "dsom.operator.op-x-1_", "dsom.operator.op-x-"):
        assert not allows_group(grants, other), other


@pytest.mark.parametrize("bad", ["", "op.x", "op x", "op/x", "x" * 65, "op-ü"])
def test_operator_ids_that_would_make_group_names_ambiguous_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="operator ID"):
        operator_grants(T, bad)


def test_the_key_issuer_may_manage_acls_and_nothing_else() -> None:
    grants = {(g.resource, g.operation) for g in key_issuer_grants()}
    assert grants == {("BROKER", "ALTER"), ("BROKER", "DESCRIBE")}


def test_acl_principals_follow_the_brokers_naming_of_certificates() -> None:
    from pipeline.settings import KafkaSettings  # noqa: PLC0415

    assert KafkaSettings().principal("op-a") == "User:op-a"  # dsom's brokers map CN=op-a to op-a
    assert KafkaSettings(principal_format="CN={name}").principal("op-a") == "User:CN=op-a"  # Strimzi
