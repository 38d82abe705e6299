"""The digits livegetfour issued: remembered for a bounded time, in bounded memory, once each.

livedetectfour redeems the ``validate_data`` it is sent: digits this simulator never issued (or
has forgotten), or that expired, fail lip reading (-5002: the video cannot be matched to a
challenge); digits already redeemed are a replay (-5016, "re-capture / replay attack").
"""

from __future__ import annotations

import enum
import secrets
from collections import OrderedDict
from collections.abc import Callable

import attrs

__all__ = ["DIGITS_LENGTH", "Ledger", "Redeemed"]

# The documents' example is four digits ("9532").
DIGITS_LENGTH = 4
_DRAWS = 16


class Redeemed(enum.Enum):
    """What redeeming digits found."""

    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REUSED = "reused"


@attrs.define
class _Issued:
    expires_at: float
    used: bool = False


@attrs.define
class Ledger:
    """Issued digits per AppID, oldest first; at most ``capacity`` remembered in all (the
    oldest are forgotten first, and then count as unknown).

    Attributes:
        clock: Wall clock (UNIX seconds).
        ttl: Seconds issued digits stay redeemable.
        capacity: Most digits remembered at once, used ones included.
    """

    clock: Callable[[], float]
    ttl: float
    capacity: int = 4096
    _issued: OrderedDict[tuple[str, str], _Issued] = attrs.field(factory=OrderedDict)

    def issue(self, appid: str) -> str:
        """Fresh random digits for ``appid``, not among those it holds unexpired."""
        now = self.clock()
        self._forget_expired(now)
        while len(self._issued) >= self.capacity:
            self._issued.popitem(last=False)
        digits = _draw()
        for _ in range(_DRAWS):  # 10,000 values: avoid handing out digits still live
            if (appid, digits) not in self._issued:
                break
            digits = _draw()
        self._issued.pop((appid, digits), None)
        self._issued[appid, digits] = _Issued(now + self.ttl)
        return digits

    def redeem(self, appid: str, digits: str) -> Redeemed:
        """Use ``digits`` once; what was found."""
        entry = self._issued.get((appid, digits))
        if entry is None:
            return Redeemed.UNKNOWN
        if self.clock() >= entry.expires_at:
            del self._issued[appid, digits]
            return Redeemed.EXPIRED
        if entry.used:
            return Redeemed.REUSED
        entry.used = True  # kept until it expires, so a second use is told apart
        return Redeemed.OK

    def __len__(self) -> int:
        return len(self._issued)

    def _forget_expired(self, now: float) -> None:
        # Issued in order with one ttl: the oldest expire first.
        while self._issued:
            key, entry = next(iter(self._issued.items()))
            if entry.expires_at > now:
                return
            del self._issued[key]


def _draw() -> str:
    return f"{secrets.randbelow(10**DIGITS_LENGTH):0{DIGITS_LENGTH}d}"
