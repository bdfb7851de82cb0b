from __future__ import annotations

import re

from pipeline.core.model import ALLOWED_CHANNELS, Channel, LicenceKind
from pipeline.operator.fleet import LICENCE_FROM_US, PROFILES, demo_registry, venues
from pipeline.settings import TopicSettings

GAMES = {
    LicenceKind.CASINO_ESTABLISHMENT: {"slots", "roulette", "blackjack"},
    LicenceKind.ONLINE_CASINO: {"slots", "roulette", "blackjack"},
    LicenceKind.SLOT_HALL: {"slots"},
    LicenceKind.BOOKMAKING: {"sports", "live", "esports"},
    LicenceKind.ONLINE_POKER: {"poker_cash", "poker_tournament"},
}


def test_demo_registry_covers_every_licence_kind() -> None:
    registry = demo_registry(2)
    assert len(registry.operators) == 10
    kinds = [op.licences[0].kind for op in registry.operators]
    assert {LicenceKind(k) for k in kinds} == set(LicenceKind)
    ids = [op.operator_id for op in registry.operators]
    assert len(set(ids)) == len(ids) and "op-online-casino-1" in ids and "op-slot-hall-2" in ids
    topics = TopicSettings()
    for op in registry.operators:
        assert re.fullmatch(r"op-[a-z0-9-]+-\d+", op.operator_id)
        assert re.fullmatch(r"[a-zA-Z0-9._-]{1,249}", topics.ingest(op.operator_id))
        assert op.name and len(op.licences) == 1
        lic = op.licences[0]
        assert re.fullmatch(r"LIC-[A-Z]{2}-\d{4}", lic.licence_id)
        assert lic.valid_from_us == LICENCE_FROM_US and lic.valid_to_us is None
        assert registry.licence(op.operator_id, lic.licence_id) == lic
    assert demo_registry(1).operator("op-online-casino-1").licences[0].licence_id == "LIC-OC-0001"  # type: ignore[union-attr]


def test_profiles_fit_the_law_and_the_brief() -> None:
    assert set(PROFILES) == set(LicenceKind)
    for kind, p in PROFILES.items():
        assert {c for c, _ in p.channels} <= ALLOWED_CHANNELS[kind]
        assert set(p.game_types) == GAMES[kind]
        assert p.rtp_range[0] <= p.expected_rtp <= p.rtp_range[1]
        assert 0.9 <= p.rtp_range[0] and p.rtp_range[1] <= 0.99
        assert 0.1 < p.win_probability < 0.6
        assert 0.005 <= p.refund_share <= 0.03 and p.deposit_share > 0 and p.withdrawal_share > 0
        assert p.stake_min < p.stake_median < p.stake_max < p.jumbo_max
        assert all(isinstance(a, int) for a in (p.stake_min, p.stake_median, p.stake_max, *p.deposit_amounts))
    assert PROFILES[LicenceKind.BOOKMAKING].refund_share == max(p.refund_share for p in PROFILES.values())
    slots = [g for p in PROFILES.values() for g in p.games if g.name == "slots"]
    assert all(0.94 <= g.rtp <= 0.96 for g in slots)
    assert 0.92 <= PROFILES[LicenceKind.BOOKMAKING].expected_rtp <= 0.94
    assert 0.94 <= PROFILES[LicenceKind.ONLINE_POKER].expected_rtp <= 0.96


def test_venues_follow_the_channels() -> None:
    for op in demo_registry(1).operators:
        p = PROFILES[LicenceKind(op.licences[0].kind)]
        v = venues(op, p)
        channels = {c for c, _ in p.channels}
        assert bool(v.establishments) == (Channel.ESTABLISHMENT in channels)
        assert bool(v.sites) == (Channel.SITE in channels) and bool(v.apps) == (Channel.APP in channels)
        assert all(e.startswith(op.operator_id + "-hall-") for e in v.establishments)
        assert all(s.endswith(".example.ua") for s in v.sites)
        assert all(re.fullmatch(r"ua\.example\.[a-z0-9]+", a) for a in v.apps)
    hall = demo_registry(1).operators[3]
    v = venues(hall, PROFILES[LicenceKind.SLOT_HALL])
    assert v.equipment(v.establishments[1], "slots", 17) == "op-slot-hall-1-hall-02-slot-017"
    assert v.equipment(v.establishments[0], "poker_cash", 1) is None
