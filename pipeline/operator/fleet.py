"""The demo's operators (one per licence kind by default) and how each kind's traffic looks."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.model import ALLOWED_CHANNELS, Channel, LicenceKind
from pipeline.registry import Licence, Operator, Registry

LICENCE_FROM_US = 1_577_836_800_000_000  # 2020-01-01, when gambling was legalised again

SLUG = {
    LicenceKind.CASINO_ESTABLISHMENT: ("casino-hall", "CE"),
    LicenceKind.ONLINE_CASINO: ("online-casino", "OC"),
    LicenceKind.BOOKMAKING: ("bookmaker", "BK"),
    LicenceKind.SLOT_HALL: ("slot-hall", "SH"),
    LicenceKind.ONLINE_POKER: ("online-poker", "OP"),
}


@dataclass(frozen=True)
class Profile:
    """Traffic shape of a licence kind. Amounts in kopecks; shares are of all operations."""

    channels: tuple[Channel, ...]
    game_types: tuple[str, ...]
    stake_median: int
    stake_sigma: float  # lognormal spread of stakes
    stake_max: int
    win_probability: float
    rtp: float  # expected payouts / stakes
    refund_share: float  # of bets
    deposit_share: float
    withdrawal_share: float


PROFILES: dict[LicenceKind, Profile] = {
    LicenceKind.CASINO_ESTABLISHMENT: Profile((Channel.ESTABLISHMENT,), ("roulette", "blackjack", "slots"),
                                              20_000, 1.0, 5_000_000, 0.45, 0.95, 0.01, 0.04, 0.03),
    LicenceKind.ONLINE_CASINO: Profile((Channel.SITE, Channel.APP), ("slots", "roulette", "blackjack"),
                                       2_000, 1.1, 5_000_000, 0.30, 0.955, 0.01, 0.05, 0.03),
    LicenceKind.BOOKMAKING: Profile((Channel.SITE, Channel.APP, Channel.ESTABLISHMENT),
                                    ("sports", "live", "esports"), 30_000, 1.2, 50_000_000, 0.42, 0.93,
                                    0.03, 0.06, 0.04),
    LicenceKind.SLOT_HALL: Profile((Channel.ESTABLISHMENT,), ("slots",), 1_500, 0.9, 1_000_000, 0.28,
                                   0.94, 0.005, 0.03, 0.02),
    LicenceKind.ONLINE_POKER: Profile((Channel.SITE, Channel.APP), ("poker_cash", "poker_tournament"),
                                      10_000, 1.0, 10_000_000, 0.40, 0.95, 0.02, 0.06, 0.04),
}

assert all(set(p.channels) <= ALLOWED_CHANNELS[k] for k, p in PROFILES.items())


def demo_registry(operators_per_kind: int = 1) -> Registry:
    """Operators of all five licence kinds, each with one licence valid since 2020."""
    operators = []
    for kind, (slug, code) in SLUG.items():
        for n in range(1, operators_per_kind + 1):
            operators.append(Operator(
                operator_id=f"op-{slug}-{n}",
                name=f"Demo {slug.replace('-', ' ')} {n}",
                licences=(Licence(licence_id=f"LIC-{code}-{n:04d}", kind=kind,
                                  valid_from_us=LICENCE_FROM_US),),
            ))
    return Registry(operators=tuple(operators))
