from registry.core.history import Version
from registry.core.snapshot import decode_value, registry_from_records, topic_key, topic_value

LIC = {"kind": "licence", "operator_id": "op-1", "licence_id": "L1", "licence_kind": "SLOT_HALL",
       "decision_ref": "d", "valid_from_us": 100, "valid_to_us": None, "status": "active"}


def ver(seq: int, kind: str, eid: str, data: dict[str, object], frm: int = 0, rec: int = 1) -> Version:
    return Version(seq, kind, eid, "op-1", frm, None, rec, data)


def records(*histories: list[Version]) -> list[tuple[bytes | None, bytes | None]]:
    return [(topic_key(h[0].kind, h[0].entity_id), topic_value(h)) for h in histories]


def test_the_topic_rebuilds_the_validators_registry() -> None:
    op = [ver(1, "operator", "op-1", {"legal_name": "Op", "status": "active"})]
    lic = [ver(2, "licence", "L1", LIC)]
    site = [ver(3, "site", "a.example.ua", {"status": "active"})]
    gone = [ver(4, "site", "b.example.ua", {"status": "active"}),
            ver(5, "site", "b.example.ua", {"status": "inactive"}, frm=50, rec=2)]
    reg = registry_from_records(records(op, lic, site, gone), at_us=60)
    o = reg.operator("op-1")
    assert o is not None and o.name == "Op" and o.sites == ("a.example.ua",)
    lic_ = reg.licence("op-1", "L1")
    assert lic_ is not None and (lic_.valid_from_us, lic_.valid_to_us) == (100, None)


def test_the_newest_record_of_a_key_wins_and_a_suspension_ends_the_active_span() -> None:
    op = [ver(1, "operator", "op-1", {"legal_name": "Op", "status": "active"})]
    old = [ver(2, "licence", "L1", LIC)]
    suspended = {**LIC, "status": "suspended", "status_reason": "r"}
    new = [*old, ver(3, "licence", "L1", suspended, frm=500, rec=5)]
    reg = registry_from_records(records(op, old, new), at_us=600)
    lic = reg.licence("op-1", "L1")
    assert lic is not None and (lic.valid_from_us, lic.valid_to_us) == (100, 500)
    assert not lic.active_at(550) and lic.active_at(499)
    # As known before the suspension was recorded, the licence is open-ended.
    lic = registry_from_records(records(op, new), at_us=4).licence("op-1", "L1")
    assert lic is not None and lic.valid_to_us is None


def test_a_tombstone_removes_an_entity() -> None:
    op = [ver(1, "operator", "op-1", {"legal_name": "Op", "status": "active"})]
    recs = records(op) + [(topic_key("operator", "op-1"), None)]
    assert registry_from_records(recs, at_us=5).operators == ()
    assert decode_value(topic_value(op)) == op
