"""The simulated ``sim`` follows Tencent's published table; ``similarity`` claims none.

The statistical check over 200,000 impostor pairs is ``tests/core/test_sim_calibration.py``;
these are the exact properties behind it.
"""

from __future__ import annotations

import pytest

from kycmux.synthetic import match_rank
from kycmux_tencent_legacy._sim._scores import SALT, SIM_MODEL, face_match_sim
from kycmux_tencent_legacy._spec import SIM_SCORE, SIMILARITY_SCORE


def test_the_impostor_table_passes_through_the_published_points() -> None:
    assert SIM_SCORE.calibration is not None
    for threshold, far in SIM_SCORE.calibration.points:
        assert SIM_MODEL.impostor.share(threshold) == pytest.approx(far, rel=1e-12)


@pytest.mark.parametrize("sim", [70.0, 72.5, 75.0, 79.0, 80.0])
def test_between_the_published_points_it_follows_kycmux_reading(sim: float) -> None:
    """One decade per 10 points, as LogLinearCalibration reads the table: a FAR kycmux reports
    for a simulated sim is the share of simulated impostors above it."""
    assert SIM_SCORE.calibration is not None
    far, _ = SIM_SCORE.calibration.far(sim)
    assert SIM_MODEL.impostor.share(sim) == pytest.approx(far, rel=1e-9)


def test_sim_is_the_continuous_score_rounded_up() -> None:
    """Rounded up, so "sim > 70" (the document's 大于) holds exactly when the continuous score
    is above 70, and the published share is what passes at the vendor's own rule."""
    for person in ("P0001", "P0002", "P0003"):
        for other in ("P0004", "P0005"):
            for difficulty in (0.0, 0.5, 0.9, 1.0):
                rank = match_rank(person, other, difficulty=difficulty, salt=SALT)
                continuous = SIM_MODEL.score(rank)
                sim = face_match_sim(person, other, difficulty)
                assert sim - 1 < continuous <= sim


def test_the_genuine_table_is_the_documented_choice() -> None:
    assert SIM_MODEL.genuine.share(70.0) == pytest.approx(0.03)
    assert SIM_MODEL.genuine.share(80.0) == pytest.approx(0.10)


def test_similarity_has_no_published_table_and_none_is_claimed() -> None:
    assert SIMILARITY_SCORE.calibration is None
