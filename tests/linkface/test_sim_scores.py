"""The simulated ``verify_score`` follows Linkface's published table; ``hack_score`` claims none.

The statistical check over 200,000 impostor pairs is ``tests/core/test_sim_calibration.py``;
these are the exact properties behind it.
"""

from __future__ import annotations

import math

import pytest

from kycmux.synthetic import match_rank
from kycmux_linkface._sim import VERIFY_MODEL, verify_score
from kycmux_linkface._spec import HACK_SCORE, VENDOR, VERIFY_SCORE


def test_the_impostor_table_passes_through_every_published_point() -> None:
    assert VERIFY_SCORE.calibration is not None
    for threshold, far in VERIFY_SCORE.calibration.points:
        assert VERIFY_MODEL.impostor.share(threshold) == pytest.approx(far, rel=1e-12)


@pytest.mark.parametrize("score", [0.45, 0.55, 0.65, 0.75, 0.85])
def test_between_the_published_points_it_follows_kycmux_reading(score: float) -> None:
    assert VERIFY_SCORE.calibration is not None
    far, _ = VERIFY_SCORE.calibration.far(score)
    assert VERIFY_MODEL.impostor.share(score) == pytest.approx(far, rel=1e-9)


def test_verify_score_is_the_continuous_score_rounded_down() -> None:
    """Rounded down to the four decimals sent, so "verify_score >= 0.7" (the document's
    大于等于) holds exactly when the continuous score is at least 0.7."""
    for person in ("P0001", "P0002", "P0003"):
        for other in ("P0001", "P0004", "P0005"):
            for difficulty in (0.0, 0.5, 0.9, 1.0):
                rank = match_rank(person, other, difficulty=difficulty, salt=VENDOR)
                continuous = VERIFY_MODEL.score(rank)
                sent = verify_score(person, other, difficulty=difficulty)
                assert sent <= continuous < sent + 1e-4
                assert sent == math.floor(sent * 10_000 + 0.5) / 10_000


def test_the_genuine_table_is_the_documented_choice() -> None:
    assert VERIFY_MODEL.genuine.share(0.7) == pytest.approx(0.02)
    assert VERIFY_MODEL.genuine.share(0.8) == pytest.approx(0.06)


def test_hack_score_has_no_published_table_and_none_is_claimed() -> None:
    assert HACK_SCORE.calibration is None
    assert HACK_SCORE.recommended_threshold is None
