"""The demo's operators (all five licence kinds), their venues, and how each kind's traffic looks."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.model import ALLOWED_CHANNELS, Channel, LicenceKind
from pipeline.registry import Licence, Operator, Registry

LICENCE_FROM_US = 1_577_836_800_000_000  # 2020-01-01 UTC: gambling was legalised again in 2020
UAH = 100  # kopecks

# Operator ID slug and licence ID code of each kind: op-<slug>-<n>, LIC-<code>-<nnnn>.
SLUG: dict[LicenceKind, tuple[str, str]] = {
    LicenceKind.CASINO_ESTABLISHMENT: ("casino-hall", "CE"),
    LicenceKind.ONLINE_CASINO: ("online-casino", "OC"),
    LicenceKind.BOOKMAKING: ("bookmaker", "BK"),
    LicenceKind.SLOT_HALL: ("slot-hall", "SH"),
    LicenceKind.ONLINE_POKER: ("online-poker", "OP"),
}
# Equipment a game is played on in an establishment: slot machine, table, betting terminal.
EQUIPMENT_CODE = {"slots": "slot", "roulette": "rt", "blackjack": "bj", "sports": "term",
                  "live": "term", "esports": "term"}


@dataclass(frozen=True)
class Game:
    """One game type. A bet that is not refunded wins with P = rtp / odds and pays stake x odds.

    ``spread`` > 0 makes the payout vary around stake x odds (exponential, same mean), as slot
    and poker wins do; the expected payout per kopeck staked is ``rtp`` either way.
    ``settle_after`` is how many of the source's later events pass before the outcome is sent.
    """

    name: str
    weight: float  # share of bets
    rtp: float
    odds: tuple[float, ...]
    spread: float = 0.0
    settle_after: tuple[int, int] = (0, 10)

    @property
    def win_probability(self) -> float:
        return sum(self.rtp / o for o in self.odds) / len(self.odds)


@dataclass(frozen=True)
class Profile:
    """Traffic shape of a licence kind. Amounts in kopecks; shares are of a source's operations."""

    kind: LicenceKind
    channels: tuple[tuple[Channel, float], ...]  # channel and share of players using it
    games: tuple[Game, ...]
    stake_median: int
    stake_sigma: float  # lognormal spread of stakes
    stake_min: int
    stake_max: int
    jumbo_share: float  # a rare high roller's stake, log-uniform between stake_max and jumbo_max
    jumbo_max: int
    rtp_range: tuple[float, float]  # realistic return to player of the whole kind
    refund_share: float  # of bets
    deposit_share: float
    withdrawal_share: float
    deposit_amounts: tuple[int, ...]  # typical top-ups
    establishments: int = 0  # halls or betting shops per operator
    equipment_per_game: int = 0  # machines, tables or terminals per game in each establishment
    sites: int = 0
    apps: int = 0

    @property
    def game_types(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.games)

    @property
    def expected_rtp(self) -> float:
        """Payouts per kopeck of net stakes (stakes - refunds); stakes do not depend on the game."""
        return sum(g.weight * g.rtp for g in self.games) / sum(g.weight for g in self.games)

    @property
    def win_probability(self) -> float:
        return sum(g.weight * g.win_probability for g in self.games) / sum(g.weight for g in self.games)


def _casino_games(slots_rtp: float, slots: float, roulette: float, blackjack: float) -> tuple[Game, ...]:
    return (
        Game("slots", slots, slots_rtp, (2.0, 3.0, 5.0), spread=1.0, settle_after=(0, 3)),
        # European roulette: every bet returns 36/37; most are even money, a few straight up.
        Game("roulette", roulette, 36 / 37, (2.0,) * 6 + (3.0, 3.0, 6.0, 12.0, 36.0), settle_after=(0, 10)),
        Game("blackjack", blackjack, 0.995, (2.0, 2.5), settle_after=(0, 10)),
    )


SPORTS_ODDS = (1.3, 1.5, 1.7, 1.9, 2.1, 2.5, 3.2, 4.5, 7.0)
PROFILES: dict[LicenceKind, Profile] = {
    LicenceKind.CASINO_ESTABLISHMENT: Profile(
        LicenceKind.CASINO_ESTABLISHMENT, ((Channel.ESTABLISHMENT, 1.0),),
        _casino_games(0.94, slots=0.5, roulette=0.35, blackjack=0.15),
        stake_median=200 * UAH, stake_sigma=0.9, stake_min=10 * UAH, stake_max=10_000 * UAH,
        jumbo_share=0.0002, jumbo_max=50_000 * UAH, rtp_range=(0.94, 0.98), refund_share=0.005,
        deposit_share=0.04, withdrawal_share=0.03,
        deposit_amounts=tuple(a * UAH for a in (1_000, 2_000, 5_000, 10_000, 20_000)),
        establishments=3, equipment_per_game=40),
    LicenceKind.ONLINE_CASINO: Profile(
        LicenceKind.ONLINE_CASINO, ((Channel.SITE, 0.45), (Channel.APP, 0.55)),
        _casino_games(0.955, slots=0.8, roulette=0.15, blackjack=0.05),
        stake_median=20 * UAH, stake_sigma=0.9, stake_min=5 * UAH, stake_max=500 * UAH,
        jumbo_share=0.0002, jumbo_max=2_500 * UAH, rtp_range=(0.945, 0.975), refund_share=0.01,
        deposit_share=0.04, withdrawal_share=0.02,
        deposit_amounts=tuple(a * UAH for a in (100, 200, 500, 1_000, 2_000)), sites=2, apps=1),
    LicenceKind.BOOKMAKING: Profile(
        LicenceKind.BOOKMAKING,
        ((Channel.SITE, 0.4), (Channel.APP, 0.45), (Channel.ESTABLISHMENT, 0.15)),
        (Game("sports", 0.6, 0.93, SPORTS_ODDS, settle_after=(100, 600)),
         Game("live", 0.3, 0.94, SPORTS_ODDS, settle_after=(10, 200)),
         Game("esports", 0.1, 0.92, SPORTS_ODDS, settle_after=(30, 400))),
        stake_median=200 * UAH, stake_sigma=0.9, stake_min=50 * UAH, stake_max=5_000 * UAH,
        jumbo_share=0.0002, jumbo_max=25_000 * UAH, rtp_range=(0.92, 0.945), refund_share=0.03,
        deposit_share=0.06, withdrawal_share=0.04,
        deposit_amounts=tuple(a * UAH for a in (200, 500, 1_000, 2_000, 5_000)),
        establishments=5, equipment_per_game=4, sites=1, apps=1),
    LicenceKind.SLOT_HALL: Profile(
        LicenceKind.SLOT_HALL, ((Channel.ESTABLISHMENT, 1.0),),
        (Game("slots", 1.0, 0.945, (2.0, 3.0, 5.0), spread=1.0, settle_after=(0, 3)),),
        stake_median=15 * UAH, stake_sigma=0.8, stake_min=5 * UAH, stake_max=500 * UAH,
        jumbo_share=0.0002, jumbo_max=2_500 * UAH, rtp_range=(0.93, 0.96), refund_share=0.005,
        deposit_share=0.03, withdrawal_share=0.02,
        deposit_amounts=tuple(a * UAH for a in (200, 500, 1_000, 2_000)),
        establishments=4, equipment_per_game=60),
    LicenceKind.ONLINE_POKER: Profile(
        LicenceKind.ONLINE_POKER, ((Channel.SITE, 0.5), (Channel.APP, 0.5)),
        # A pot goes to one of several players, less the rake (cash) or the fee (tournaments).
        (Game("poker_cash", 0.75, 0.955, (4.0,), spread=0.5, settle_after=(0, 30)),
         Game("poker_tournament", 0.25, 0.92, (8.0,), spread=0.5, settle_after=(50, 500))),
        stake_median=100 * UAH, stake_sigma=0.9, stake_min=10 * UAH, stake_max=10_000 * UAH,
        jumbo_share=0.0002, jumbo_max=50_000 * UAH, rtp_range=(0.93, 0.96), refund_share=0.02,
        deposit_share=0.06, withdrawal_share=0.04,
        deposit_amounts=tuple(a * UAH for a in (500, 1_000, 2_000, 5_000)), sites=1, apps=1),
}


def _check_profiles() -> None:
    for kind, p in PROFILES.items():
        assert p.kind is kind and {c for c, _ in p.channels} <= ALLOWED_CHANNELS[kind], kind
        assert p.rtp_range[0] <= p.expected_rtp <= p.rtp_range[1], (kind, p.expected_rtp)
        assert all(g.rtp / o < 1 for g in p.games for o in g.odds), kind
        assert (Channel.ESTABLISHMENT in {c for c, _ in p.channels}) == (p.establishments > 0), kind


_check_profiles()


@dataclass(frozen=True)
class Venues:
    """Where an operator takes bets: establishments, equipment in them, sites and apps."""

    establishments: tuple[str, ...]
    sites: tuple[str, ...]
    apps: tuple[str, ...]
    equipment_per_game: int

    def equipment(self, establishment_id: str, game_type: str, number: int) -> str | None:
        code = EQUIPMENT_CODE.get(game_type)
        return f"{establishment_id}-{code}-{number:03d}" if code else None


def venues(operator: Operator, profile: Profile) -> Venues:
    """The operator's venues, named from its ID (e.g. ``op-slot-hall-1-hall-02-slot-017``)."""
    op = operator.operator_id
    bare = op.removeprefix("op-").replace("-", "")
    return Venues(
        establishments=tuple(f"{op}-hall-{n:02d}" for n in range(1, profile.establishments + 1)),
        sites=tuple(f"{op.removeprefix('op-')}{'' if n == 1 else n}.example.ua"
                    for n in range(1, profile.sites + 1)),
        apps=tuple(f"ua.example.{bare}{'' if n == 1 else n}" for n in range(1, profile.apps + 1)),
        equipment_per_game=profile.equipment_per_game,
    )


def demo_registry(operators_per_kind: int = 1) -> Registry:
    """Operators of all five licence kinds, each with one open-ended licence valid since 2020.

    Their venues are registered except for a few the simulator still uses, so the regulatory
    report has activity on unregistered assets to show: see :func:`unregistered`.
    """
    operators = []
    for kind, (slug, code) in SLUG.items():
        for n in range(1, operators_per_kind + 1):
            bare = Operator(operator_id=f"op-{slug}-{n}", name=f"Demo {slug.replace('-', ' ')} {n}",
                            licences=(Licence(licence_id=f"LIC-{code}-{n:04d}", kind=kind,
                                              valid_from_us=LICENCE_FROM_US),))
            v = venues(bare, PROFILES[kind])
            hidden = unregistered(v, PROFILES[kind])
            operators.append(bare.model_copy(update={
                "establishments": v.establishments,
                "equipment": tuple(e for e in all_equipment(v, PROFILES[kind]) if e not in hidden),
                "sites": tuple(s for s in v.sites if s not in hidden),
                "apps": v.apps,
            }))
    return Registry(operators=tuple(operators))


def all_equipment(v: Venues, profile: Profile) -> tuple[str, ...]:
    """Every machine, table and terminal the simulator may put a bet on."""
    found = []
    for hall in v.establishments:
        for game in profile.game_types:
            for number in range(1, v.equipment_per_game + 1):
                equipment = v.equipment(hall, game, number)
                if equipment is not None:
                    found.append(equipment)
    return tuple(dict.fromkeys(found))


def unregistered(v: Venues, profile: Profile) -> frozenset[str]:
    """The demo's unregistered assets.

    The last machine of each game in the last hall, and every site after the first (a mirror).
    """
    hidden: set[str] = set(v.sites[1:])
    if v.establishments:
        for game in profile.game_types:
            equipment = v.equipment(v.establishments[-1], game, v.equipment_per_game)
            if equipment is not None:
                hidden.add(equipment)
    return frozenset(hidden)
