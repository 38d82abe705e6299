"""Difficulty mixes, match ranks and score models: the pieces simulators calibrate with."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kycmux.synthetic import (
    ATTACK_DIFFICULTY,
    GENUINE_DIFFICULTY,
    DifficultyMix,
    MatchRank,
    ScoreModel,
    TailCurve,
    match_rank,
    match_strength,
)
from kycmux.synthetic._strength import (
    GENUINE_BOTTOM,
    GENUINE_SPAN,
    IMPOSTOR_BOTTOM,
    IMPOSTOR_SPAN,
    shift,
)

PERSON = st.from_regex(r"P[0-9]{1,6}", fullmatch=True)
DIFFICULTY = st.floats(min_value=0.0, max_value=1.0)
FAR_CURVE = TailCurve(((0.0, 1.0), (0.4, 0.1), (0.7, 1e-4), (1.0, 1e-7)))
FRR_CURVE = TailCurve(((0.0, 1e-6), (0.7, 0.02), (1.0, 1.0)))


def _brute_tail(strength: float, *, genuine: bool) -> float:
    """The rank by definition: the mixture of uniform bands, summed over every difficulty."""
    if genuine:
        return math.fsum(
            p * min(1.0, max(0.0, (strength - (GENUINE_BOTTOM - shift(d))) / GENUINE_SPAN))
            for d, p in GENUINE_DIFFICULTY.support()
        )
    return math.fsum(
        p
        * min(
            1.0, max(0.0, (IMPOSTOR_BOTTOM + IMPOSTOR_SPAN + shift(d) - strength) / IMPOSTOR_SPAN)
        )
        for d, p in ATTACK_DIFFICULTY.support()
    )


@pytest.mark.parametrize("mix", [GENUINE_DIFFICULTY, ATTACK_DIFFICULTY])
def test_a_mix_draws_only_what_its_support_lists(mix: DifficultyMix) -> None:
    support = dict(mix.support())
    assert math.isclose(math.fsum(support.values()), 1.0, rel_tol=1e-12)
    assert list(support) == sorted(support)
    rng = random.Random(7)
    draws = [mix.draw(rng) for _ in range(5_000)]
    assert set(draws) <= set(support)
    # The hardest tier is drawn about as often as its share says.
    hardest_share, (hardest_low, _) = mix.tiers[-1]
    seen = sum(d >= hardest_low for d in draws) / len(draws)
    assert abs(seen - hardest_share) < 0.03


def test_a_mix_rounds_like_the_truths_it_feeds() -> None:
    mix = DifficultyMix(((1.0, (0.2, 0.3)),), decimals=1)
    assert [d for d, _ in mix.support()] == [0.2, 0.3]
    assert [p for _, p in mix.support()] == pytest.approx([0.5, 0.5])
    assert DifficultyMix(((1.0, (0.5, 0.5)),)).support() == ((0.5, 1.0),)


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ((), "at least one tier"),
        (((0.5, (0.0, 0.3)),), "add up to 1"),
        (((1.0, (0.3, 0.2)),), "low <= high"),
        (((1.0, (0.0, 1.2)),), "low <= high <= 1"),
        (((0.0, (0.0, 0.2)), (1.0, (0.2, 0.3))), "share in (0, 1]"),
    ],
)
def test_a_mix_refuses_tiers_that_are_not_a_distribution(
    tiers: tuple[tuple[float, tuple[float, float]], ...], message: str
) -> None:
    with pytest.raises(ValueError, match="tiers") as info:
        DifficultyMix(tiers)
    assert message in str(info.value)


@given(a=PERSON, b=PERSON, difficulty=DIFFICULTY, salt=st.sampled_from(["linkface", "x"]))
def test_a_rank_is_the_population_share_by_definition(
    a: str, b: str, difficulty: float, salt: str
) -> None:
    rank = match_rank(a, b, difficulty=difficulty, salt=salt)
    strength = match_strength(a, b, difficulty=difficulty, salt=salt)
    expected = _brute_tail(strength, genuine=a == b)
    assert rank.same_person is (a == b)
    assert rank.tail == pytest.approx(expected, rel=1e-9, abs=1e-15)


@given(a=PERSON, b=PERSON, low=DIFFICULTY, high=DIFFICULTY)
def test_harder_pairs_rank_towards_the_other_kind(a: str, b: str, low: float, high: float) -> None:
    """Difficulty makes an impostor pair look more alike (smaller FAR tail) and a genuine pair
    less alike (smaller FRR tail): either way, its tail shrinks."""
    low, high = sorted((low, high))
    easy = match_rank(a, b, difficulty=low, salt="x").tail
    hard = match_rank(a, b, difficulty=high, salt="x").tail
    assert hard <= easy


def test_nobody_ranks_as_the_least_alike_impostor() -> None:
    assert match_rank(None, "P0001", difficulty=0.9, salt="x") == MatchRank(False, 1.0)
    assert match_rank("P0001", None, difficulty=0.0, salt="x") == MatchRank(False, 1.0)


def test_the_population_tails_reach_their_ends() -> None:
    assert _brute_tail(IMPOSTOR_BOTTOM, genuine=False) == pytest.approx(1.0)
    top = IMPOSTOR_BOTTOM + IMPOSTOR_SPAN + shift(1.0)
    assert match_rank("P1", "P2", difficulty=0.0, salt="x").tail > 0.4
    assert _brute_tail(top, genuine=False) == 0.0
    assert _brute_tail(GENUINE_BOTTOM + GENUINE_SPAN, genuine=True) == pytest.approx(1.0)


@given(score=st.floats(min_value=0.0, max_value=1.0))
def test_a_tail_curve_inverts_itself(score: float) -> None:
    for curve in (FAR_CURVE, FRR_CURVE):
        assert curve.score(curve.share(score)) == pytest.approx(score, abs=1e-9)


def test_a_tail_curve_is_log_linear_between_points_and_clamped_outside() -> None:
    assert FAR_CURVE.share(0.55) == pytest.approx(10**-2.5)
    assert FAR_CURVE.share(0.7) == pytest.approx(1e-4)
    assert FAR_CURVE.score(1e-9) == 1.0  # rarer than the table: the top of the scale
    assert FAR_CURVE.score(0.0) == 1.0
    assert FRR_CURVE.score(1e-9) == 0.0  # fewer rejects than the table: the bottom
    assert FAR_CURVE.share(-1.0) == 1.0
    assert FRR_CURVE.share(2.0) == 1.0


@pytest.mark.parametrize(
    "points",
    [
        ((0.0, 1.0),),
        ((0.0, 1.0), (0.0, 0.5)),
        ((0.5, 1.0), (0.4, 0.5)),
        ((0.0, 1.0), (0.5, 0.0)),
        ((0.0, 1.0), (0.5, 1.5)),
        ((0.0, 1.0), (0.5, 0.1), (1.0, 0.2)),
        ((0.0, 1.0), (math.inf, 0.1)),
    ],
)
def test_a_tail_curve_refuses_tables_that_are_not_tails(
    points: tuple[tuple[float, float], ...],
) -> None:
    with pytest.raises(ValueError, match="points"):
        TailCurve(points)


def test_a_score_model_reads_each_kind_off_its_own_curve() -> None:
    model = ScoreModel(impostor=FAR_CURVE, genuine=FRR_CURVE)
    assert model.score(MatchRank(False, 1e-4)) == pytest.approx(0.7)
    assert model.score(MatchRank(True, 0.02)) == pytest.approx(0.7)
    assert model.score(MatchRank(False, 1.0)) == 0.0
    assert model.score(MatchRank(True, 1.0)) == 1.0
    with pytest.raises(ValueError, match="impostor"):
        ScoreModel(impostor=FRR_CURVE, genuine=FRR_CURVE)
    with pytest.raises(ValueError, match="genuine"):
        ScoreModel(impostor=FAR_CURVE, genuine=FAR_CURVE)
