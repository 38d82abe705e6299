"""How the simulated Linkface decides, from the content of the selfie and the liveness data.

Pure: bytes in, an ``Outcome`` out. Synthetic files carry their ground truth
(``kycmux.synthetic``); the shared basis is mapped onto Linkface's own 0–1 scales, so the
Tencent simulator, with scales of its own, disagrees with this one on hard cases.

``verify_score`` is calibrated: over the synthetic population's impostor pairs,
``verify_score >= t`` passes exactly the share Linkface publishes for ``t`` (0.4 → 1e-1 …
0.9 → 1e-6; its rule is "大于等于", at least). Each pair's ``match_rank`` is read off
``VERIFY_MODEL`` and rounded *down* to the four decimals the simulator sends, so "at least t"
on the sent score is "at least t" on the continuous one. ``hack_score`` has no published
threshold or error rate: it is a plain curve of ``attack_strength`` and claims none.
"""

from __future__ import annotations

import bisect
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import attrs

from kycmux.media import ImageInfo, read_image_info, sniff_image_format
from kycmux.synthetic import (
    HEAD_SIZE,
    ImageQuality,
    ImageTruth,
    LivenessDataTruth,
    ScoreModel,
    TailCurve,
    attack_strength,
    match_rank,
    read_truth,
)
from kycmux_linkface._build import MAX_SIDE, MIN_SIDE_EXCLUSIVE, SELFIE_FORMATS
from kycmux_linkface._spec import VENDOR

__all__ = [
    "HACK_CURVE",
    "LOW_QUALITY_PENALTY",
    "MAX_SELFIE_BYTES",
    "VERIFY_MODEL",
    "Failure",
    "Outcome",
    "Scores",
    "decide",
    "hack_score",
    "verify_score",
]

MAX_SELFIE_BYTES: Final = 5 * 1024 * 1024

VERIFY_MODEL: Final = ScoreModel(
    # Share of impostor pairs scoring at least each verify_score. 0.4 … 0.9 are Linkface's
    # published points; 1.0 continues its decade per 0.1; below 0.4 the bulk of impostors,
    # median 0.25, is the simulator's choice.
    impostor=TailCurve(
        (
            (0.0, 1.0),
            (0.1, 0.9),
            (0.25, 0.5),
            (0.4, 1e-1),
            (0.5, 1e-2),
            (0.6, 1e-3),
            (0.7, 1e-4),
            (0.8, 1e-5),
            (0.9, 1e-6),
            (1.0, 1e-7),
        )
    ),
    # Share of genuine pairs scoring below each verify_score (the simulator's choice; Linkface
    # publishes none): 2 % rejected at the recommended 0.7, 6 % at 0.8, median about 0.94.
    genuine=TailCurve(
        (
            (0.0, 1e-7),
            (0.4, 1e-4),
            (0.6, 5e-3),
            (0.7, 2e-2),
            (0.8, 6e-2),
            (0.9, 0.3),
            (1.0, 1.0),
        )
    ),
)
# (basis strength, hack_score) knots, linearly interpolated; uncalibrated (nothing published).
# Linkface's anti-hack model is wary: a hard live capture (strength 0.29–0.51) may already
# score above the default 0.5 threshold, and every spoof (strength ≥ 0.49) scores above it.
HACK_CURVE: Final = (
    (0.0, 0.01),
    (0.3, 0.30),
    (0.4, 0.46),
    (0.5, 0.58),
    (0.7, 0.80),
    (1.0, 0.99),
)
# A blurred or dark selfie makes the comparison harder for this vendor's matcher.
LOW_QUALITY_PENALTY: Final = 0.3


@attrs.frozen
class Failure:
    """A documented error answer.

    Attributes:
        status: The Linkface ``status``.
        image: The request field at fault, for the statuses that name one.
        reason: The free-text ``reason``, for the statuses that carry one.
    """

    status: str
    image: str | None = None
    reason: str | None = None


@attrs.frozen
class Scores:
    """A completed verification.

    Attributes:
        hack_score: 0–1, higher = more likely an attack.
        verify_score: 0–1, higher = more likely the same person.
    """

    hack_score: float = attrs.field(validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)])
    verify_score: float = attrs.field(
        validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )


Outcome = Failure | Scores


def _curve(points: Sequence[tuple[float, float]], x: float) -> float:
    xs = [p[0] for p in points]
    i = min(max(bisect.bisect_right(xs, x), 1), len(points) - 1)
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    y = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return round(min(1.0, max(0.0, y)), 4)


def verify_score(selfie: str | None, live: str | None, *, difficulty: float) -> float:
    """Linkface's ``verify_score`` for a selfie showing ``selfie`` and SDK data showing ``live``."""
    rank = match_rank(selfie, live, difficulty=difficulty, salt=VENDOR)
    # Rounded down to the sent four decimals: score >= t exactly when the continuous one is.
    return min(1.0, max(0.0, math.floor(VERIFY_MODEL.score(rank) * 10_000) / 10_000))


def hack_score(strength: float) -> float:
    """Linkface's ``hack_score`` for a shared-basis attack strength."""
    return _curve(HACK_CURVE, strength)


def image_info(data: bytes) -> ImageInfo | None:
    """Format and size of an image held in memory (core's reader works on files)."""
    if sniff_image_format(data[:64]) is None:
        return None
    fd, name = tempfile.mkstemp(prefix="kycmux-linkface-")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        return read_image_info(Path(name))
    finally:
        os.unlink(name)


def _selfie(data: bytes, field: str) -> ImageTruth | Failure:
    if len(data) > MAX_SELFIE_BYTES:
        return Failure("IMAGE_FILE_SIZE_TOO_BIG", field)
    info = image_info(data)
    if info is None:
        return Failure("CORRUPT_IMAGE", field)
    if info.format not in SELFIE_FORMATS:
        return Failure("INVALID_IMAGE_FORMAT_OR_SIZE", field)
    if info.width is None or info.height is None:
        return Failure("CORRUPT_IMAGE", field)
    if not all(MIN_SIDE_EXCLUSIVE < side <= MAX_SIDE for side in (info.width, info.height)):
        return Failure("INVALID_IMAGE_FORMAT_OR_SIZE", field)
    truth = read_truth(data[:HEAD_SIZE])
    # A real photo without a synthetic truth shows nobody the simulator can recognise.
    if not isinstance(truth, ImageTruth) or truth.quality is ImageQuality.NO_FACE:
        return Failure("NO_FACE_DETECTED", field)
    if truth.quality is ImageQuality.CORRUPT:
        return Failure("CORRUPT_IMAGE", field)
    return truth


def _liveness(data: bytes, field: str) -> LivenessDataTruth | Failure:
    truth = read_truth(data[:HEAD_SIZE])
    if not isinstance(truth, LivenessDataTruth) or not truth.readable:
        return Failure("WRONG_LIVENESS_DATA")
    if truth.person is None:
        return Failure("NO_FACE_DETECTED", field)
    return truth


def decide(selfie: bytes, selfie_field: str, data: bytes, data_field: str) -> Outcome:
    """The answer to one verification of ``data`` (liveness-SDK file) against ``selfie``.

    The liveness data is read first (the SDK capture is what the selfie is compared with),
    then the selfie. ``*_field`` name where each came from, for the ``image`` of an error.
    """
    live = _liveness(data, data_field)
    if isinstance(live, Failure):
        return live
    photo = _selfie(selfie, selfie_field)
    if isinstance(photo, Failure):
        return photo
    penalty = LOW_QUALITY_PENALTY if photo.quality is ImageQuality.LOW_QUALITY else 0.0
    difficulty = min(1.0, max(photo.difficulty, live.difficulty) + penalty)
    attack = attack_strength(
        live.liveness, difficulty=live.difficulty, salt=VENDOR, person=live.person
    )
    return Scores(
        hack_score=hack_score(attack),
        verify_score=verify_score(photo.person, live.person, difficulty=difficulty),
    )
