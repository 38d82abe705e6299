"""Where a pair ranks among the synthetic population's pairs of its kind.

A vendor publishes its face-match calibration as "threshold t lets this share of impostors
through". A simulator reproduces such a table by giving each pair the score at which exactly
its *rank* among the population's impostor pairs would pass: if a pair looks more alike than
all but a share ``p`` of impostor pairs, it scores where the vendor's table says ``p``. That
needs the exact distribution of ``match_strength`` over the population, which this module
integrates from the same constants ``match_strength`` uses and the difficulty mixes the
synthetic manifest draws from (``GENUINE_DIFFICULTY``, ``ATTACK_DIFFICULTY``).
"""

from __future__ import annotations

import bisect
import functools
import math
import random
from typing import Any

import attrs

from kycmux.synthetic._strength import (
    GENUINE_BOTTOM,
    GENUINE_SPAN,
    IMPOSTOR_BOTTOM,
    IMPOSTOR_SPAN,
    match_strength,
    shift,
)

__all__ = ["ATTACK_DIFFICULTY", "GENUINE_DIFFICULTY", "DifficultyMix", "MatchRank", "match_rank"]

_Tiers = tuple[tuple[float, tuple[float, float]], ...]


def _tiers(_inst: Any, _attribute: attrs.Attribute[Any], value: _Tiers) -> None:
    if not value:
        raise ValueError("tiers: at least one tier is needed")
    for share, (low, high) in value:
        if not (0.0 < share <= 1.0 and 0.0 <= low <= high <= 1.0):
            raise ValueError(
                "tiers: each is (share in (0, 1], (low, high)) with 0 <= low <= high <= 1"
            )
    if not math.isclose(sum(share for share, _ in value), 1.0, abs_tol=1e-9):
        raise ValueError("tiers: the shares must add up to 1")


@attrs.frozen
class DifficultyMix:
    """How hard one kind of synthetic capture is: tiers of uniformly drawn, rounded difficulty.

    Attributes:
        tiers: ``(share, (low, high))`` per tier, shares adding up to 1, ranges within [0, 1].
        decimals: Drawn difficulties are rounded to this many decimals, as truths record them.
    """

    tiers: _Tiers = attrs.field(validator=_tiers)
    decimals: int = attrs.field(
        default=3, validator=[attrs.validators.ge(0), attrs.validators.le(6)]
    )

    def draw(self, rng: random.Random) -> float:
        """One difficulty: a tier by its share, then uniformly within it, rounded."""
        draw, chosen = rng.random(), self.tiers[-1]
        for tier in self.tiers:
            if draw < tier[0]:
                chosen = tier
                break
            draw -= tier[0]
        low, high = chosen[1]
        return round(rng.uniform(low, high), self.decimals)

    def support(self) -> tuple[tuple[float, float], ...]:
        """Every difficulty ``draw`` can give, ascending, with its probability."""
        scale = 10**self.decimals
        mass: dict[int, float] = {}
        for share, (low, high) in self.tiers:
            for k in range(round(low * scale), round(high * scale) + 1):
                if high == low:
                    part = 1.0
                else:
                    # The draws that round to k / scale: within half a step of it, in the tier.
                    seen = min(high, (k + 0.5) / scale) - max(low, (k - 0.5) / scale)
                    part = max(0.0, seen) / (high - low)
                mass[k] = mass.get(k, 0.0) + share * part
        ordered = sorted(mass.items())
        return tuple((round(k / scale, self.decimals), p) for k, p in ordered if p > 0.0)


# Most rows are clear-cut, so both vendors get them right, as on a real, mostly clean set. The
# middle tier reaches into the band where the vendors' score curves and thresholds differ, so
# they start to disagree; in the hardest tier (difficulty ≥ 0.8, where the shared scoring basis
# lets the bands overlap) genuine and attack captures overlap, so both vendors err and DET
# curves have something to show. Attack rows (impostors and spoofs) get a larger hardest tier
# than genuine ones: evaluation sets collect sophisticated attacks on purpose, while most
# genuine users capture well.
GENUINE_DIFFICULTY = DifficultyMix(((0.62, (0.0, 0.3)), (0.24, (0.4, 0.7)), (0.14, (0.8, 1.0))))
ATTACK_DIFFICULTY = DifficultyMix(((0.55, (0.0, 0.3)), (0.20, (0.4, 0.7)), (0.25, (0.85, 1.0))))


class _UniformMixture:
    """A mixture of uniform distributions of one width: exact CDF and survival function.

    Both are piecewise linear between the parts' ends, so they are tabulated at those ends and
    interpolated; the survival function is summed from the top, so the far tail (1e-7 and
    below) keeps its relative precision.
    """

    def __init__(self, parts: list[tuple[float, float]], width: float) -> None:
        ends = sorted({x for start, _ in parts for x in (start, start + width)})
        steps = [0.0] * (len(ends) + 1)
        for start, probability in parts:
            steps[bisect.bisect_left(ends, start)] += probability / width
            steps[bisect.bisect_left(ends, start + width)] -= probability / width
        density, running = [], 0.0
        for step in steps[:-1]:
            running += step
            density.append(max(0.0, running))  # density[i]: between ends[i] and ends[i + 1]
        self._ends = ends
        self._density = density
        self._cdf = [0.0]
        for i in range(1, len(ends)):
            self._cdf.append(self._cdf[-1] + density[i - 1] * (ends[i] - ends[i - 1]))
        self._sf = [0.0] * len(ends)
        for i in range(len(ends) - 2, -1, -1):
            self._sf[i] = self._sf[i + 1] + density[i] * (ends[i + 1] - ends[i])

    def cdf(self, x: float) -> float:
        """The share of the mixture at or below ``x``."""
        i = bisect.bisect_right(self._ends, x)
        if i == 0:
            return 0.0
        if i == len(self._ends):
            return 1.0
        return min(1.0, self._cdf[i - 1] + self._density[i - 1] * (x - self._ends[i - 1]))

    def sf(self, x: float) -> float:
        """The share of the mixture at or above ``x``."""
        i = bisect.bisect_right(self._ends, x)
        if i == 0:
            return 1.0
        if i == len(self._ends):
            return 0.0
        return min(1.0, self._sf[i] + self._density[i - 1] * (self._ends[i] - x))


@functools.cache
def _genuine() -> _UniformMixture:
    parts = [(GENUINE_BOTTOM - shift(d), p) for d, p in GENUINE_DIFFICULTY.support()]
    return _UniformMixture(parts, GENUINE_SPAN)


@functools.cache
def _impostor() -> _UniformMixture:
    parts = [(IMPOSTOR_BOTTOM + shift(d), p) for d, p in ATTACK_DIFFICULTY.support()]
    return _UniformMixture(parts, IMPOSTOR_SPAN)


@attrs.frozen
class MatchRank:
    """Where one pair's ``match_strength`` falls among the population's pairs of its kind.

    Attributes:
        same_person: Whether the two captures show one person (a genuine pair).
        tail: For an impostor pair, the share of the population's impostor pairs that look at
            least as alike (the false-accept rate of a threshold placed at this pair); for a
            genuine pair, the share of genuine pairs that look at most as alike (the
            false-reject rate there). Spread uniformly over [0, 1] across the population.
    """

    same_person: bool
    tail: float = attrs.field(validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)])


def match_rank(a: str | None, b: str | None, *, difficulty: float, salt: str) -> MatchRank:
    """Rank the pair ``(a, b)`` (see ``match_strength``) within its kind.

    Genuine pairs rank among the synthetic population's genuine pairs (``GENUINE_DIFFICULTY``),
    other pairs among its impostor pairs (``ATTACK_DIFFICULTY``); a side showing nobody
    (``None``) ranks as the least alike impostor pair (tail 1).
    """
    strength = match_strength(a, b, difficulty=difficulty, salt=salt)
    if a is None or b is None:
        return MatchRank(same_person=False, tail=1.0)
    if a == b:
        return MatchRank(same_person=True, tail=_genuine().cdf(strength))
    return MatchRank(same_person=False, tail=_impostor().sf(strength))
