"""normalize_score: verify_score on the published FAR table, hack_score uncalibrated."""

from __future__ import annotations

import math

import pytest

from kycmux import Check, RawScore, Score, ScoreKind, VendorHooks, VendorSpec


def normalize(hooks: VendorHooks, spec: VendorSpec, check: Check, name: str, value: float) -> Score:
    score: Score = hooks.normalize_score(vendor=spec, check=check, raw=RawScore(name, value))
    return score


@pytest.mark.parametrize(
    ("raw", "far"),
    [(0.4, 1e-1), (0.5, 1e-2), (0.6, 1e-3), (0.7, 1e-4), (0.8, 1e-5), (0.9, 1e-6)],
)
def test_published_points(hooks: VendorHooks, spec: VendorSpec, raw: float, far: float) -> None:
    score = normalize(hooks, spec, Check.FACE_MATCH, "verify_score", raw)
    assert score.far == pytest.approx(far, rel=1e-9)
    assert score.extrapolated is False
    assert (score.kind, score.low, score.high, score.raw) == (ScoreKind.SIMILARITY, 0.0, 1.0, raw)


@pytest.mark.parametrize(
    ("raw", "neg_log10_far"), [(0.45, 1.5), (0.73, 4.3), (0.75, 4.5), (0.875, 5.75)]
)
def test_one_decade_per_tenth_between_points(
    hooks: VendorHooks, spec: VendorSpec, raw: float, neg_log10_far: float
) -> None:
    score = normalize(hooks, spec, Check.FACE_MATCH, "verify_score", raw)
    assert score.neg_log10_far == pytest.approx(neg_log10_far, abs=1e-9)
    assert score.extrapolated is False


@pytest.mark.parametrize(
    ("raw", "far"), [(0.95, 10**-6.5), (1.0, 1e-7), (0.35, 10**-0.5), (0.3, 1.0), (0.0, 1.0)]
)
def test_outside_the_table_is_extrapolated_and_capped_at_one(
    hooks: VendorHooks, spec: VendorSpec, raw: float, far: float
) -> None:
    score = normalize(hooks, spec, Check.FACE_MATCH, "verify_score", raw)
    assert score.far == pytest.approx(far, rel=1e-9)
    assert score.extrapolated is True


def test_recommended_threshold_is_far_1e_4(hooks: VendorHooks, spec: VendorSpec) -> None:
    verify = spec.score_spec("verify_score")
    assert verify is not None
    assert verify.recommended_threshold is not None
    score = normalize(hooks, spec, Check.FACE_MATCH, "verify_score", verify.recommended_threshold)
    assert score.far is not None
    assert math.isclose(score.far, 1e-4)


@pytest.mark.parametrize("raw", [0.0, 0.3, 0.5, 0.99])
def test_hack_score_is_uncalibrated(hooks: VendorHooks, spec: VendorSpec, raw: float) -> None:
    score = normalize(hooks, spec, Check.LIVENESS, "hack_score", raw)
    assert (score.far, score.calibrated, score.extrapolated) == (None, False, False)
    assert (score.kind, score.raw) == (ScoreKind.ATTACK, raw)
