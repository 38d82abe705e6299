"""Scores: raw vendor values, their calibrations, and the common FAR scale."""

from __future__ import annotations

import enum
import math

import attrs

from kycmux._model._evidence import Check

_Points = tuple[tuple[float, float], ...]

__all__ = ["LogLinearCalibration", "RawScore", "Score", "ScoreKind", "ScoreSpec"]


class ScoreKind(enum.StrEnum):
    """Which way a score points.

    Attributes:
        SIMILARITY: Higher means more likely the same person; passes at or above a threshold.
        ATTACK: Higher means more likely an attack; passes below a threshold.
    """

    SIMILARITY = "similarity"
    ATTACK = "attack"


@attrs.frozen
class RawScore:
    """A score exactly as the vendor sent it (already converted to a number).

    Attributes:
        name: The vendor's field name (``"sim"``, ``"verify_score"``, ``"hack_score"``).
        value: The number.
    """

    name: str
    value: float = attrs.field(validator=attrs.validators.instance_of(float))


@attrs.frozen
class LogLinearCalibration:
    """A published threshold → false-accept-rate table, interpolated in log10(FAR).

    Between published points log10(FAR) is linear in the raw score (one decade per 10 ``sim``
    points for Tencent, per 0.1 of ``verify_score`` for Linkface). Outside them the same line is
    continued and the result is flagged ``extrapolated``; a FAR is never above 1.

    Attributes:
        points: ``(raw threshold, FAR)`` pairs, raw scores ascending, FAR descending.
    """

    points: tuple[tuple[float, float], ...] = attrs.field()

    @points.validator
    def _check(self, _attribute: attrs.Attribute[object], value: _Points) -> None:
        if len(value) < 2:
            raise ValueError("points: a calibration needs at least two published points")
        raws = [p[0] for p in value]
        fars = [p[1] for p in value]
        if raws != sorted(raws) or len(set(raws)) != len(raws):
            raise ValueError("points: raw thresholds must be strictly ascending")
        if any(not 0 < f <= 1 for f in fars) or fars != sorted(fars, reverse=True):
            raise ValueError("points: FARs must be in (0, 1] and descending")

    def far(self, raw: float) -> tuple[float, bool]:
        """Return ``(FAR, extrapolated)`` for a raw score."""
        pts = self.points
        for point, published in pts:
            if raw == point:  # exact, so "FAR <= 1e-4" holds at the vendor's own 0.7
                return published, False
        extrapolated = raw < pts[0][0] or raw > pts[-1][0]
        if raw <= pts[0][0]:
            (x0, f0), (x1, f1) = pts[0], pts[1]
        elif raw >= pts[-1][0]:
            (x0, f0), (x1, f1) = pts[-2], pts[-1]
        else:
            i = next(i for i in range(1, len(pts)) if raw <= pts[i][0])
            (x0, f0), (x1, f1) = pts[i - 1], pts[i]
        slope = (math.log10(f1) - math.log10(f0)) / (x1 - x0)
        log_far = math.log10(f0) + slope * (raw - x0)
        return min(1.0, 10**log_far), extrapolated

    def describe(self) -> str:
        return ", ".join(f"{raw:g} → FAR {far:g}" for raw, far in self.points)

    @property
    def far_range(self) -> tuple[float, float]:
        """The lowest and highest published FAR: thresholds between them need no extrapolation."""
        return self.points[-1][1], self.points[0][1]


@attrs.frozen
class ScoreSpec:
    """How a vendor's score field is to be read; declared in the vendor spec.

    Attributes:
        name: The vendor's field name.
        check: The check the score decides.
        kind: Which way it points.
        low: Lowest valid value.
        high: Highest valid value.
        calibration: The vendor's published FAR table, or ``None`` when it publishes none.
        recommended_threshold: The raw threshold the vendor recommends, if any.
        note: Where the calibration (or its absence) comes from.
        inclusive: Whether a score exactly at the threshold passes, as the vendor documents
            its comparison: ``True`` for "at least" (``>=``; ``<=`` for an attack score),
            ``False`` for "greater than" (``>``; ``<`` for an attack score).
    """

    name: str
    check: Check
    kind: ScoreKind
    low: float
    high: float
    calibration: LogLinearCalibration | None = None
    recommended_threshold: float | None = None
    note: str = ""
    inclusive: bool = True

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None

    def in_range(self, value: float) -> bool:
        # Compared first: NaN compares false, and an int too large for a float stays exact.
        return self.low <= value <= self.high and math.isfinite(value)

    def normalize(self, raw: RawScore) -> Score:
        """Put a raw score on the common scale: FAR where published, else uncalibrated."""
        far, extrapolated = (
            (None, False) if self.calibration is None else self.calibration.far(raw.value)
        )
        return Score(
            name=raw.name,
            raw=raw.value,
            low=self.low,
            high=self.high,
            kind=self.kind,
            far=far,
            extrapolated=extrapolated,
            inclusive=self.inclusive,
        )


@attrs.frozen
class Score:
    """A score on the common scale.

    Attributes:
        name: The vendor's field name.
        raw: The raw value.
        low: Bottom of the vendor's scale.
        high: Top of the vendor's scale.
        kind: Which way the raw value points.
        far: The false-accept rate at a threshold equal to ``raw``, from the vendor's own
            published calibration; ``None`` when the vendor publishes none.
        extrapolated: ``far`` lies outside the published points.
        inclusive: A score exactly at a threshold passes (the vendor's "at least"); see
            ``ScoreSpec.inclusive``.
    """

    name: str
    raw: float
    low: float
    high: float
    kind: ScoreKind
    far: float | None = None
    extrapolated: bool = False
    inclusive: bool = True

    @property
    def calibrated(self) -> bool:
        """An uncalibrated score never pretends to a FAR."""
        return self.far is not None

    @property
    def neg_log10_far(self) -> float | None:
        """-log10(FAR): 3.0 means 1 in 1,000; higher is stricter."""
        return None if self.far is None else -math.log10(self.far)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "raw": self.raw,
            "scale": [self.low, self.high],
            "kind": self.kind.value,
            "calibrated": self.calibrated,
            "far": self.far,
            "neg_log10_far": self.neg_log10_far,
            "extrapolated": self.extrapolated,
        }
