from pipeline.registry import Stop
from registry.core.history import Version
from registry.core.snapshot import LicenceView, decode_value, registry_from_records, topic_key, topic_value

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


def test_the_newest_record_of_a_key_wins_and_a_suspension_is_a_stop_within_the_validity() -> None:
    op = [ver(1, "operator", "op-1", {"legal_name": "Op", "status": "active"})]
    old = [ver(2, "licence", "L1", LIC)]
    suspended = {**LIC, "status": "suspended", "status_reason": "r"}
    reinstated = {**LIC, "status": "active"}
    new = [*old, ver(3, "licence", "L1", suspended, frm=500, rec=5),
           ver(4, "licence", "L1", reinstated, frm=700, rec=6)]
    reg = registry_from_records(records(op, old, new), at_us=800)
    lic = reg.licence("op-1", "L1")
    assert lic is not None and (lic.valid_from_us, lic.valid_to_us) == (100, None)
    assert lic.stops == (Stop(status="suspended", from_us=500, to_us=700),)
    assert lic.stop_at(550) is not None and lic.stop_at(499) is None and lic.stop_at(700) is None
    # As known before the suspension was recorded, the licence has no stop.
    lic = registry_from_records(records(op, new), at_us=4).licence("op-1", "L1")
    assert lic is not None and lic.stops == ()


def test_the_licence_view_applies_one_record_at_a_time_and_skips_assets() -> None:
    op = [ver(1, "operator", "op-1", {"legal_name": "Op", "status": "active"})]
    lic = [ver(2, "licence", "L1", LIC)]
    view = LicenceView()
    recs = records(op, lic)
    assert all(view.apply(k, v, now_us=10) for k, v in recs if k is not None)
    # An asset's record is not even decoded: the view neither needs nor reads it.
    assert not view.apply(topic_key("equipment", "m-1"), b"not json", now_us=10)
    assert view.registry() == registry_from_records(recs, at_us=10).model_copy(update={"operators": tuple(
        o.model_copy(update={"sites": (), "establishments": (), "equipment": (), "apps": ()})
        for o in registry_from_records(recs, at_us=10).operators)})
    changes = view.changes
    suspended = [*lic, ver(3, "licence", "L1", {**LIC, "status": "revoked"}, frm=500, rec=5)]
    ((key, value),) = records(suspended)
    assert key is not None and view.apply(key, value, now_us=10) and view.changes == changes + 1
    got = view.registry().licence("op-1", "L1")
    assert got is not None and got.stops == (Stop(status="revoked", from_us=500),)
    view.apply(key, None, now_us=10)  # a tombstone
    assert view.registry().licence("op-1", "L1") is None
    closed = ver(5, "operator", "op-1", {"legal_name": "Op", "status": "inactive"}, frm=5, rec=6)
    view.apply(topic_key("operator", "op-1"), topic_value([*op, closed]), now_us=10)
    assert view.empty and view.registry().operators == ()


def test_a_tombstone_removes_an_entity() -> None:
    op = [ver(1, "operator", "op-1", {"legal_name": "Op", "status": "active"})]
    recs = records(op) + [(topic_key("operator", "op-1"), None)]
    assert registry_from_records(recs, at_us=5).operators == ()
    assert decode_value(topic_value(op)) == op
