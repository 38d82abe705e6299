"""Scores: raw vendor values, their calibrations, and the common FAR scale."""

from __future__ import annotations

import enum
import itertools
import math
import re
from collections.abc import Mapping
from typing import Final

import attrs

from kycmux._model._evidence import Check
from kycmux.exceptions import ProtocolError

_Points = tuple[tuple[float, float], ...]

__all__ = [
    "CalibrationSource",
    "CalibrationUsed",
    "LogLinearCalibration",
    "RawScore",
    "Score",
    "ScoreKind",
    "ScoreSpec",
]

# [0-9], not \d (any Unicode digit, which float() reads); fullmatch, as "$" would also match
# before a trailing newline.
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_SOURCE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}", re.ASCII)


class ScoreKind(enum.StrEnum):
    """Which way a score points.

    Attributes:
        SIMILARITY: Higher means more likely the same person; passes at or above a threshold.
        ATTACK: Higher means more likely an attack; passes below a threshold.
    """

    SIMILARITY = "similarity"
    ATTACK = "attack"


@attrs.frozen
class LogLinearCalibration:
    """A published threshold → false-accept-rate table, interpolated in log10(FAR).

    Between published points log10(FAR) is linear in the raw score (one decade per 10 ``sim``
    points for Tencent, per 0.1 of ``verify_score`` for Linkface). Outside them the same line is
    continued and the result is flagged ``extrapolated``; a FAR is never above 1.

    The same rules hold for a table declared in a ``ScoreSpec`` and for one a vendor publishes
    in an answer (``from_answer``): at least two points, each a pair of finite real numbers,
    raw thresholds strictly ascending, FARs in (0, 1] and strictly descending.

    Attributes:
        points: ``(raw threshold, FAR)`` pairs, raw scores ascending, FAR descending. The
            table is read for a similarity score (FAR falls as the score rises).
    """

    points: tuple[tuple[float, float], ...] = attrs.field()

    @points.validator
    def _check(self, _attribute: attrs.Attribute[object], value: _Points) -> None:
        problem = _points_problem(value)
        if problem is not None:
            raise ValueError(f"points: {problem}")

    @classmethod
    def from_answer(
        cls, vendor: str, points: object, *, field: str = "thresholds"
    ) -> LogLinearCalibration:
        """The calibration a vendor published in one answer, or ``ProtocolError``.

        For a plugin's ``parse``. ``points`` is what the answer holds: a mapping of FAR to raw
        threshold (a JSON ``thresholds`` object such as ``{"1e-3": 0.6, "1e-4": 0.7}``, put in
        FAR order here, as JSON objects have none), or a list of ``(raw threshold, FAR)`` pairs
        in table order. Every number must be a real number or a string in ASCII decimal
        notation. Anything else, a non-finite number or a table breaking the rules above is a
        malformed answer (never a pass), reported under ``field``.
        """
        if isinstance(points, Mapping):
            pairs = [
                (_number(vendor, field, r), _number(vendor, field, f)) for f, r in points.items()
            ]
            pairs.sort(key=lambda pair: -pair[1])
        elif isinstance(points, list | tuple):
            pairs = [_pair(vendor, field, pair) for pair in points]
        else:
            raise ProtocolError(vendor, f"{field}: must be an object of FAR to raw threshold")
        problem = _points_problem(tuple(pairs))
        if problem is not None:
            raise ProtocolError(vendor, f"{field}: {problem}")
        return cls(tuple(pairs))

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


def _points_problem(value: object) -> str | None:
    """What breaks the calibration rules in ``value``, or None."""
    if not isinstance(value, tuple) or not all(
        isinstance(p, tuple) and len(p) == 2 and all(_real(n) for n in p) for p in value
    ):
        return "must be a tuple of (raw threshold, FAR) pairs of real numbers"
    if len(value) < 2:
        return "a calibration needs at least two published points"
    try:
        finite = all(math.isfinite(n) for p in value for n in p)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        return "every raw threshold and FAR must be finite"
    raws = [p[0] for p in value]
    fars = [p[1] for p in value]
    if any(a >= b for a, b in itertools.pairwise(raws)):
        return "raw thresholds must be strictly ascending"
    if any(not 0 < f <= 1 for f in fars) or any(a <= b for a, b in itertools.pairwise(fars)):
        return "FARs must be in (0, 1] and strictly descending"
    return None


def _real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pair(vendor: str, field: str, pair: object) -> tuple[float, float]:
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise ProtocolError(vendor, f"{field}: every point must be a (raw, FAR) pair")
    return _number(vendor, field, pair[0]), _number(vendor, field, pair[1])


def _number(vendor: str, field: str, value: object) -> float:
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return float(value)
    if _real(value):
        try:
            return float(value)  # type: ignore[arg-type]
        except OverflowError:  # an int too large for a float
            pass
    raise ProtocolError(vendor, f"{field}: every value must be a number in ASCII decimal notation")


@attrs.frozen
class CalibrationUsed:
    """The calibration that gave a score its FAR, and where it came from.

    Attributes:
        table: The calibration (its ``points`` are shared with where it came from: a declared
            table is one object for every score it normalizes).
        source: ``"declared"`` (the ``ScoreSpec``), ``"answer"`` (published in the answer the
            score came in) or ``"plugin"`` (the plugin's own ``normalize_score``; a plugin may
            name its own source: lower-case letters, digits and ``_``, at most 32).
    """

    table: LogLinearCalibration = attrs.field(
        validator=attrs.validators.instance_of(LogLinearCalibration)
    )
    source: str = attrs.field()

    @source.validator
    def _check_source(self, _attribute: attrs.Attribute[object], value: str) -> None:
        if not isinstance(value, str) or not _SOURCE.fullmatch(value):
            raise ValueError("source: must be 1-32 lower-case letters, digits or _")

    @property
    def points(self) -> tuple[tuple[float, float], ...]:
        return self.table.points

    def far(self, raw: float) -> tuple[float, bool]:
        """``(FAR, extrapolated)`` for a raw score, as ``LogLinearCalibration.far``."""
        return self.table.far(raw)

    def as_dict(self) -> dict[str, object]:
        # The points tuple itself, not a copy: it is serialised where the record is.
        return {"source": str(self.source), "points": self.table.points}


class CalibrationSource(enum.StrEnum):
    """Where the calibration a score was read on came from (``CalibrationUsed.source``).

    Attributes:
        DECLARED: The calibration declared in the vendor's ``ScoreSpec``.
        ANSWER: The calibration the vendor published in the answer itself.
        PLUGIN: The plugin's own ``normalize_score`` (when it names no other source).
    """

    DECLARED = "declared"
    ANSWER = "answer"
    PLUGIN = "plugin"


@attrs.frozen
class RawScore:
    """A score exactly as the vendor sent it (already converted to a number).

    Attributes:
        name: The vendor's field name (``"sim"``, ``"verify_score"``, ``"hack_score"``).
        value: The number.
        calibration: The calibration the vendor published in this very answer (a ``thresholds``
            object), built with ``LogLinearCalibration.from_answer``; ``None`` when the answer
            carries none and the declared one applies.
    """

    name: str
    value: float = attrs.field(validator=attrs.validators.instance_of(float))
    calibration: LogLinearCalibration | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(LogLinearCalibration)),
        kw_only=True,
    )


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
        """Put a raw score on the common scale: FAR on the calibration the answer carries,
        else on the declared one, else uncalibrated."""
        if raw.calibration is not None:
            used: CalibrationUsed | None = CalibrationUsed(
                raw.calibration, CalibrationSource.ANSWER
            )
        elif self.calibration is not None:
            used = CalibrationUsed(self.calibration, CalibrationSource.DECLARED)
        else:
            used = None
        far, extrapolated = (None, False) if used is None else used.far(raw.value)
        return Score(
            name=raw.name,
            raw=raw.value,
            low=self.low,
            high=self.high,
            kind=self.kind,
            far=far,
            extrapolated=extrapolated,
            inclusive=self.inclusive,
            calibration=used,
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
        calibration: The calibration ``far`` was read on and its source (``declared``,
            ``answer``, ``plugin``...); ``None`` for an uncalibrated score, or a plugin that
            gave a FAR without saying on what (recorded as source ``plugin``, no points).
    """

    name: str
    raw: float
    low: float
    high: float
    kind: ScoreKind
    far: float | None = None
    extrapolated: bool = False
    inclusive: bool = True
    calibration: CalibrationUsed | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(CalibrationUsed)),
    )

    @property
    def calibrated(self) -> bool:
        """An uncalibrated score never pretends to a FAR."""
        return self.far is not None

    @property
    def calibration_source(self) -> str | None:
        """Where ``far`` came from: the stated source, ``plugin`` when a plugin gave a FAR
        without stating its calibration, ``None`` for an uncalibrated score."""
        if self.calibration is not None:
            return str(self.calibration.source)
        return None if self.far is None else CalibrationSource.PLUGIN.value

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
            "calibration": self._calibration_dict(),
        }

    def _calibration_dict(self) -> dict[str, object] | None:
        if self.calibration is not None:
            return self.calibration.as_dict()
        if self.far is None:
            return None
        return {"source": CalibrationSource.PLUGIN.value, "points": None}
