"""An operator's simulated players: opaque refs, how active each is, where they play, their wallets."""

from __future__ import annotations

import heapq
import random
import re
from dataclasses import dataclass
from itertools import accumulate

from pipeline.core.model import Channel
from pipeline.operator.fleet import Profile, Venues

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_DIGIT_RUN = re.compile(r"\d{6,}")  # nothing that could pass for a phone or card number


@dataclass
class Player:
    ref: str
    channel: Channel
    venue: str  # the establishment, site or app the player uses
    balance: int = 0  # kopecks in the operator's wallet
    # The session model (honest play, issue 17): a session has an end and a budget of top-ups;
    # after it the player is away for hours.
    session_end_us: int = 0  # 0: not in a session
    away_until_us: int = 0
    deposits_left: int = 0  # top-ups the session's budget still allows


def player_ref(rng: random.Random) -> str:
    """``p_`` + 20 base32 characters: an opaque pseudonym, never personal data."""
    while True:
        ref = "p_" + "".join(rng.choices(BASE32, k=20))
        if not _DIGIT_RUN.search(ref):
            return ref


class Players:
    """A fixed population; a few players are much more active than most (Zipf-like)."""

    def __init__(self, rng: random.Random, profile: Profile, venues: Venues, count: int) -> None:
        self._rng = rng
        channels = [c for c, _ in profile.channels]
        shares = [s for _, s in profile.channels]
        places = {Channel.ESTABLISHMENT: venues.establishments, Channel.SITE: venues.sites,
                  Channel.APP: venues.apps}
        self.by_ref: dict[str, Player] = {}
        while len(self.by_ref) < count:
            ref = player_ref(rng)
            channel = rng.choices(channels, shares)[0]
            self.by_ref.setdefault(ref, Player(ref, channel, rng.choice(places[channel])))
        self.all = list(self.by_ref.values())
        self._cum = list(accumulate(1.0 / (i + 1) ** 0.8 for i in range(count)))
        self._index = {p.ref: i for i, p in enumerate(self.all)}
        self._away: list[tuple[int, int]] = []  # heap of (back at, index) of players on a break

    def pick(self) -> Player:
        return self._rng.choices(self.all, cum_weights=self._cum)[0]

    def pick_present(self, t: int, tries: int = 12) -> Player:
        """A player not on a break at ``t``: by activity, else any (the busiest may all be away).

        Only if ``tries`` picks of each kind find no one present does a break end early: that of
        the player due back first (so no player is brought back again and again).
        """
        for i in range(2 * tries):
            player = self.pick() if i < tries else self._rng.choice(self.all)
            if player.away_until_us <= t:
                return player
        while self._away:
            until, i = heapq.heappop(self._away)
            if self.all[i].away_until_us == until:
                player = self.all[i]
                break
        player.away_until_us = t
        return player

    def rest(self, player: Player, until_us: int) -> None:
        """Send ``player`` on a break until ``until_us``."""
        player.away_until_us = until_us
        heapq.heappush(self._away, (until_us, self._index[player.ref]))
