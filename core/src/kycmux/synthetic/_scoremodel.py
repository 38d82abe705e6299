"""A simulated vendor's face-match score distributions, as tables of tail probabilities.

A simulator states, for each kind of pair, how the vendor's scores are spread: for impostor
pairs the share scoring above each score (the false-accept rate, which must contain the
vendor's published points), for genuine pairs the share scoring at or below it (the
false-reject rate). ``ScoreModel.score`` turns a pair's ``MatchRank`` into the score with that
tail, so over the synthetic population the scores follow the tables exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import attrs

from kycmux.synthetic._rank import MatchRank

__all__ = ["ScoreModel", "TailCurve"]

_Points = tuple[tuple[float, float], ...]


def _as_points(value: Iterable[tuple[float, float]]) -> _Points:
    return tuple((float(score), float(share)) for score, share in value)


def _points(_inst: Any, _attribute: attrs.Attribute[Any], value: _Points) -> None:
    if len(value) < 2:
        raise ValueError("points: a tail curve needs at least two points")
    scores = [s for s, _ in value]
    tails = [t for _, t in value]
    if any(not math.isfinite(s) for s in scores) or scores != sorted(set(scores)):
        raise ValueError("points: scores must be finite and strictly ascending")
    if any(not (math.isfinite(t) and 0.0 < t <= 1.0) for t in tails):
        raise ValueError("points: tail shares must be in (0, 1]")
    if tails not in (sorted(set(tails)), sorted(set(tails), reverse=True)):
        raise ValueError("points: tail shares must be strictly monotone (all up or all down)")


@attrs.frozen
class TailCurve:
    """Score → tail share, interpolated linearly in log10(share) between its points.

    Log-linear is how vendors publish ("one decade per 10 points") and how kycmux reads their
    tables (``LogLinearCalibration``), so a curve through the published points agrees with
    kycmux's FAR reading everywhere in between.

    Attributes:
        points: ``(score, share)`` pairs: scores strictly ascending, shares in (0, 1] and
            strictly monotone. Scores outside the first and last point are clamped to them.
    """

    points: _Points = attrs.field(converter=_as_points, validator=_points)
    _logs: tuple[float, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        # Frozen class: the log shares are derived once, here (a score is read per answer).
        object.__setattr__(self, "_logs", tuple(math.log10(t) for _, t in self.points))

    def share(self, score: float) -> float:
        """The tail share at ``score`` (clamped to the curve's ends)."""
        pts = self.points
        if score <= pts[0][0]:
            return pts[0][1]
        if score >= pts[-1][0]:
            return pts[-1][1]
        i = next(i for i in range(1, len(pts)) if score <= pts[i][0])
        (x0, t0), (x1, t1) = pts[i - 1], pts[i]
        fraction = (score - x0) / (x1 - x0)
        return 10 ** (math.log10(t0) + fraction * (math.log10(t1) - math.log10(t0)))

    def score(self, share: float) -> float:
        """The score at which the tail share is ``share`` (clamped to the curve's ends)."""
        pts, logs = self.points, self._logs
        falling = logs[0] > logs[-1]
        target = math.log10(share) if share > 0.0 else -math.inf
        for i in range(1, len(pts)):
            low, high = sorted((logs[i - 1], logs[i]))
            if low <= target <= high:
                (x0, _), (x1, _) = pts[i - 1], pts[i]
                return x0 + (x1 - x0) * (target - logs[i - 1]) / (logs[i] - logs[i - 1])
        below = target < min(logs)
        return pts[-1][0] if below == falling else pts[0][0]


def _falling(_inst: Any, attribute: attrs.Attribute[Any], value: TailCurve) -> None:
    if value.points[0][1] <= value.points[-1][1]:
        raise ValueError(f"{attribute.name}: the share must fall as the score rises")


def _rising(_inst: Any, attribute: attrs.Attribute[Any], value: TailCurve) -> None:
    if value.points[0][1] >= value.points[-1][1]:
        raise ValueError(f"{attribute.name}: the share must rise with the score")


@attrs.frozen
class ScoreModel:
    """How a simulated vendor's face-match scores are spread, per kind of pair.

    Attributes:
        impostor: Score → share of impostor pairs scoring above it (the false-accept rate);
            it must pass through the vendor's published points.
        genuine: Score → share of genuine pairs scoring at or below it (the false-reject
            rate): the simulator's choice where, as usual, the vendor publishes none.
    """

    impostor: TailCurve = attrs.field(validator=_falling)
    genuine: TailCurve = attrs.field(validator=_rising)

    def score(self, rank: MatchRank) -> float:
        """The score of a pair with this rank: its tail share read off its kind's curve.

        Continuous; the simulator rounds it onto the vendor's scale in the direction of the
        vendor's comparison (up for "greater than", down for "at least"), so the published
        share holds exactly at the published thresholds.
        """
        curve = self.genuine if rank.same_person else self.impostor
        return curve.score(rank.tail)
