"""Sign-in lockouts with backoff: after too many refused sign-ins, an address, a
principal or everyone is locked out for a while, each lockout twice as long as the
one before, up to a cap.

A console token is random and names no principal, so a wrong token cannot be charged
to the principal it was aimed at. What can be charged is the address it came from,
every address together (a flood that rotates its source address), and the principal
of a known token that was refused (one whose role is not compliance). While any of
those is locked out, every sign-in it covers is refused, a correct token's included:
during a guessing flood a correct token is as likely the guesser's as the officer's.

Failures are forgotten as they age (a key's count drains fully in `max_s`), and a
key's backoff starts over once it has gone `max_s` without a lockout. Time is a
parameter (`now_s`, seconds); only the console reads the clock.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

EVERYONE = "everyone"
MAX_KEYS = 10_000  # addresses and principals kept; EVERYONE is never forgotten


@dataclass(frozen=True)
class LockoutPolicy:
    after: int = 10  # refused sign-ins from one address, or with one principal's token
    everyone_after: int = 100  # refused sign-ins from every address together
    first_s: float = 60.0  # the first lockout; each next one is twice as long
    max_s: float = 3600.0  # the longest lockout; also how long a key takes to be forgiven

    def threshold(self, key: str) -> int:
        return self.everyone_after if key == EVERYONE else self.after


def address_key(address: str) -> str:
    return f"address:{address}"


def principal_key(principal: str) -> str:
    return f"principal:{principal}"


@dataclass(frozen=True)
class Lockout:
    """One key locked out: since when, until when, and which lockout in a row it is."""

    key: str
    since_s: float
    until_s: float
    level: int  # 0 for the first lockout, 1 for the next (twice as long), …

    @property
    def seconds(self) -> float:
        return self.until_s - self.since_s


@dataclass
class _Strikes:
    failures: float
    updated_s: float
    level: int = 0
    lockout: Lockout | None = None


class Lockouts:
    def __init__(self, policy: LockoutPolicy) -> None:
        self.policy = policy
        self._strikes: OrderedDict[str, _Strikes] = OrderedDict()
        self._everyone = _Strikes(0.0, -math.inf)

    def locked(self, keys: Sequence[str], *, now_s: float) -> Lockout | None:
        """The lockout in force on any of `keys` that ends last; None if none is."""
        found = [s.lockout for s in map(self._peek, keys) if s and s.lockout]
        live = [lockout for lockout in found if lockout.until_s > now_s]
        return max(live, key=lambda lockout: lockout.until_s, default=None)

    def fail(self, keys: Sequence[str], *, now_s: float) -> list[Lockout]:
        """Count one refused sign-in against each of `keys`; the lockouts it starts."""
        started = []
        for key in keys:
            strikes = self._aged(key, now_s)
            strikes.failures += 1.0
            if strikes.failures >= self.policy.threshold(key):
                seconds = min(self.policy.first_s * 2.0**strikes.level, self.policy.max_s)
                strikes.lockout = Lockout(key, now_s, now_s + seconds, strikes.level)
                strikes.level += 1
                strikes.failures = 0.0
                started.append(strikes.lockout)
        return started

    def succeed(self, keys: Sequence[str], *, now_s: float) -> None:
        """A sign-in went through: its address's and principal's failures are forgiven
        (their backoff is kept until it ages out); everyone's count is not."""
        for key in keys:
            if key != EVERYONE:
                self._aged(key, now_s).failures = 0.0

    def _peek(self, key: str) -> _Strikes | None:
        return self._everyone if key == EVERYONE else self._strikes.get(key)

    def _aged(self, key: str, now_s: float) -> _Strikes:
        """`key`'s strikes at `now_s`: failures drained, backoff forgiven if it is old."""
        if key == EVERYONE:
            strikes = self._everyone
        else:
            strikes = self._strikes.pop(key) if key in self._strikes else _Strikes(0.0, now_s)
            self._strikes[key] = strikes  # most recent last
            while len(self._strikes) > MAX_KEYS:
                self._strikes.popitem(last=False)
        policy = self.policy
        drained = max(now_s - strikes.updated_s, 0.0) * policy.threshold(key) / policy.max_s
        strikes.failures, strikes.updated_s = max(strikes.failures - drained, 0.0), now_s
        ended = strikes.lockout.until_s if strikes.lockout else -math.inf
        if strikes.lockout and now_s - ended >= policy.max_s:
            strikes.level, strikes.lockout = 0, None
        return strikes
