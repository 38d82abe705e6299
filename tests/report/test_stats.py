"""The pure statistics: percentiles, kappa, DET/EER and the bootstrap, against hand computations."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from kycmux.report import (
    bootstrap_ci,
    cohen_kappa,
    det_curve,
    eer_ci,
    equal_error_rate,
    hter_ci,
    kappa_ci,
    observed_agreement,
    percentile,
    percentile_ci,
    percentile_interval,
    proportion_ci,
)
from kycmux.report._stats import count_resamples, derive_rng, kappas, percentiles_from_counts

# -- percentiles --------------------------------------------------------------------------------


def test_percentile_linear_method_on_a_known_list() -> None:
    values = [7, 1, 10, 4, 2, 9, 3, 8, 6, 5]  # 1..10, unsorted on purpose
    # linear: h = (n - 1) q / 100 on the sorted list, interpolating between neighbours.
    assert percentile(values, 50) == pytest.approx(5.5)  # h = 4.5: 5 + 0.5 * (6 - 5)
    assert percentile(values, 95) == pytest.approx(9.55)  # h = 8.55: 9 + 0.55 * (10 - 9)
    assert percentile(values, 99) == pytest.approx(9.91)  # h = 8.91
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 10


def test_percentile_of_one_value_and_of_none() -> None:
    assert percentile([42.0], 95) == 42.0
    assert percentile([], 50) is None


def test_percentiles_from_counts_equal_numpy_on_the_materialised_resamples() -> None:
    rng = np.random.default_rng(3)
    values = np.round(rng.lognormal(6, 0.5, size=37), 0)  # repeats included
    order = np.argsort(values, kind="stable")
    indices = rng.integers(0, values.size, size=(50, values.size))
    counts = np.stack([np.bincount(row, minlength=values.size) for row in indices])
    for q in (0, 12.5, 50, 95, 99, 100):
        expected = np.percentile(values[indices], q, axis=1, method="linear")
        got = percentiles_from_counts(values[order], counts[:, order], q)
        np.testing.assert_allclose(got, expected)


# -- Cohen's kappa ------------------------------------------------------------------------------


def test_kappa_on_the_classic_two_by_two_example() -> None:
    # 50 proposals, readers A (rows) and B (columns): yes/yes 20, yes/no 5, no/yes 10, no/no 15.
    matrix = [[20, 5], [10, 15]]
    po = Fraction(20 + 15, 50)
    pe = Fraction(25, 50) * Fraction(30, 50) + Fraction(25, 50) * Fraction(20, 50)
    expected = (po - pe) / (1 - pe)
    assert expected == Fraction(2, 5)
    assert cohen_kappa(matrix) == pytest.approx(float(expected))
    assert observed_agreement(matrix) == pytest.approx(0.7)


def test_kappa_on_a_three_by_three_example() -> None:
    matrix = [[25, 2, 3], [4, 20, 6], [1, 5, 34]]
    n = 100
    rows = [sum(r) for r in matrix]  # 30, 30, 40
    cols = [sum(c) for c in zip(*matrix, strict=True)]  # 30, 27, 43
    po = Fraction(25 + 20 + 34, n)
    pe = sum(Fraction(r * c, n * n) for r, c in zip(rows, cols, strict=True))
    assert pe == Fraction(3430, 10000)
    expected = (po - pe) / (1 - pe)
    assert cohen_kappa(matrix) == pytest.approx(float(expected))
    assert float(expected) == pytest.approx(0.680365, abs=1e-6)


def test_kappa_of_perfect_agreement_is_one_and_of_chance_agreement_zero() -> None:
    assert cohen_kappa([[30, 0, 0], [0, 12, 0], [0, 0, 8]]) == pytest.approx(1.0)
    assert cohen_kappa([[25, 25], [25, 25]]) == pytest.approx(0.0)
    assert cohen_kappa([[0, 10], [10, 0]]) == pytest.approx(-1.0)


def test_kappa_is_undefined_when_chance_agreement_is_certain() -> None:
    # Both systems answered every item the same single way: pe = 1, kappa = 0/0.
    assert cohen_kappa([[10, 0], [0, 0]]) is None
    assert cohen_kappa([[0, 0], [0, 0]]) is None
    assert np.isnan(kappas(np.array([[10, 0], [0, 0]])))


def test_kappa_needs_a_square_matrix() -> None:
    with pytest.raises(ValueError, match="square"):
        cohen_kappa([[1, 2, 3], [4, 5, 6]])


def test_vectorised_kappas_equal_one_by_one() -> None:
    stack = np.array([[[20, 5], [10, 15]], [[25, 25], [25, 25]], [[9, 1], [2, 8]]])
    expected = [cohen_kappa(m) for m in stack]
    np.testing.assert_allclose(kappas(stack), expected)


# -- DET curves and the EER ---------------------------------------------------------------------


def test_det_points_on_separable_scores_cross_exactly() -> None:
    genuine = [0.9, 0.8, 0.7, 0.4]
    attack = [0.6, 0.5, 0.3, 0.2]
    far, frr, thresholds = det_curve(genuine, attack)
    # Accept when score >= t. At t = 0.6: attacks 0.6 accepted (1/4); genuine 0.4 rejected (1/4).
    np.testing.assert_allclose(thresholds, [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, np.inf])
    np.testing.assert_allclose(far, [1, 0.75, 0.5, 0.5, 0.25, 0, 0, 0, 0])
    np.testing.assert_allclose(frr, [0, 0, 0, 0.25, 0.25, 0.25, 0.5, 0.75, 1])
    assert equal_error_rate(genuine, attack) == pytest.approx(0.25)


def test_eer_interpolates_between_the_points_around_the_crossing() -> None:
    # Thresholds 1, 2, 3, 4, 5, 6: FAR 1, 1/2, 1/2, 0 ...; FRR 0, 0, 1/4, 1/4 ...
    # FAR - FRR goes from 1/4 (t = 3) to -1/4 (t = 4): halfway, FAR = 1/2 - 1/4 = 1/4.
    assert equal_error_rate([2, 4, 5, 6], [1, 3]) == pytest.approx(0.25)
    # A tie at 2: from (FAR 1/2, FRR 0) at t = 2 to (FAR 0, FRR 1/2) at t = 3: both move; 1/4.
    far, frr, _ = det_curve([2, 3], [2, 1])
    np.testing.assert_allclose(far, [1, 0.5, 0, 0])
    np.testing.assert_allclose(frr, [0, 0, 0.5, 1])
    assert equal_error_rate([2, 3], [2, 1]) == pytest.approx(0.25)


def test_perfectly_separated_scores_have_zero_eer_and_identical_ones_a_half() -> None:
    assert equal_error_rate([0.9, 0.95], [0.1, 0.2]) == pytest.approx(0.0)
    assert equal_error_rate([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.5)


def test_attack_scores_are_read_with_higher_meaning_attack() -> None:
    genuine_hack = [0.1, 0.2, 0.45, 0.3]
    attack_hack = [0.9, 0.4, 0.8, 0.7]
    eer = equal_error_rate(genuine_hack, attack_hack, kind="attack")
    assert eer == equal_error_rate([-x for x in genuine_hack], [-x for x in attack_hack])
    assert eer == pytest.approx(0.25)
    far, frr, thresholds = det_curve(genuine_hack, attack_hack, kind="attack")
    assert thresholds[0] == 0.9
    assert thresholds[-1] == -np.inf
    assert far[0] == 1
    assert frr[-1] == 1


def test_det_needs_both_kinds_of_score() -> None:
    assert equal_error_rate([0.5], []) is None
    with pytest.raises(ValueError, match="genuine and one attack"):
        det_curve([], [0.4])
    with pytest.raises(ValueError, match="kind"):
        equal_error_rate([1], [0], kind="distance")


# -- bootstrap ----------------------------------------------------------------------------------


def _mean(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=-1)


def test_bootstrap_is_deterministic_for_a_seed_and_varies_with_it() -> None:
    data = np.random.default_rng(1).normal(10, 2, size=60)
    first = bootstrap_ci([data], _mean, resamples=300, seed=5)
    assert first == bootstrap_ci([data], _mean, resamples=300, seed=5)
    assert first != bootstrap_ci([data], _mean, resamples=300, seed=6)
    ci = proportion_ci(7, 40, confidence=0.95, resamples=300, rng=derive_rng(0, "x"))
    assert ci == proportion_ci(7, 40, confidence=0.95, resamples=300, rng=derive_rng(0, "x"))
    assert ci != proportion_ci(7, 40, confidence=0.95, resamples=300, rng=derive_rng(1, "x"))
    assert derive_rng(0, "a").random() != derive_rng(0, "b").random()


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_more_data() -> None:
    rng = np.random.default_rng(2)
    small, large = rng.normal(0, 1, size=30), rng.normal(0, 1, size=600)
    ci_small = bootstrap_ci([small], _mean, resamples=400, seed=0)
    ci_large = bootstrap_ci([large], _mean, resamples=400, seed=0)
    assert ci_small is not None
    assert ci_large is not None
    assert ci_small[0] < small.mean() < ci_small[1]
    assert ci_large[0] < large.mean() < ci_large[1]
    assert ci_large[1] - ci_large[0] < (ci_small[1] - ci_small[0]) / 2


def test_rate_interval_contains_the_rate_and_narrows_with_more_items() -> None:
    small = proportion_ci(6, 20, confidence=0.95, resamples=400, rng=derive_rng(0))
    large = proportion_ci(300, 1000, confidence=0.95, resamples=400, rng=derive_rng(0))
    assert small is not None
    assert large is not None
    assert small[0] < 0.3 < small[1]
    assert large[0] < 0.3 < large[1]
    assert large[1] - large[0] < (small[1] - small[0]) / 3


def test_rates_at_zero_or_all_events_get_the_exact_bound_not_a_point() -> None:
    # Clopper-Pearson at 0 of 50: upper = 1 - 0.025^(1/50) = 0.0711 (rule of three: 3/50 = 0.06)
    none = proportion_ci(0, 50, confidence=0.95, resamples=100, rng=derive_rng(0))
    assert none == pytest.approx((0.0, 0.0711), abs=1e-4)
    every = proportion_ci(50, 50, confidence=0.95, resamples=100, rng=derive_rng(0))
    assert every == pytest.approx((0.9289, 1.0), abs=1e-4)
    assert proportion_ci(0, 50, confidence=0.95, resamples=0, rng=derive_rng(0)) is None


def test_counting_resamples_match_drawing_indices() -> None:
    # The multinomial shortcut must give the same distribution as resampling 0/1 flags.
    flags = np.array([1] * 30 + [0] * 70, dtype=np.float64)
    by_index = bootstrap_ci([flags], _mean, resamples=4000, seed=0)
    by_count = proportion_ci(30, 100, confidence=0.95, resamples=4000, rng=derive_rng(0))
    assert by_index is not None
    assert by_count is not None
    assert by_index == pytest.approx(by_count, abs=0.02)


def test_count_resamples_draw_n_items_per_row_in_blocks() -> None:
    blocks = list(count_resamples([3, 0, 7], 25, derive_rng(0), block=10))
    assert [b.shape for b in blocks] == [(10, 3), (10, 3), (5, 3)]
    stacked = np.concatenate(blocks)
    assert (stacked.sum(axis=1) == 10).all()
    assert (stacked[:, 1] == 0).all()
    # Many categories (distinct values): drawn indices are counted instead; same distribution.
    many = np.concatenate(list(count_resamples(np.ones(200), 500, derive_rng(0), block=64)))
    assert many.shape == (500, 200)
    assert (many.sum(axis=1) == 200).all()
    assert many.mean() == pytest.approx(1.0)
    assert many.var() == pytest.approx(1 - 1 / 200, rel=0.05)  # binomial(200, 1/200)


def test_paired_bootstrap_resamples_the_samples_together() -> None:
    a = np.arange(50, dtype=np.float64)
    # Paired: a - a resampled together is always 0; independently it is not.
    paired = bootstrap_ci([a, a], lambda x, y: (x - y).mean(axis=-1), paired=True, seed=0)
    independent = bootstrap_ci([a, a], lambda x, y: (x - y).mean(axis=-1), seed=0)
    assert paired == (0.0, 0.0)
    assert independent is not None
    assert independent[0] < -1
    assert independent[1] > 1
    with pytest.raises(ValueError, match="same length"):
        bootstrap_ci([a, a[:10]], lambda x, y: x.mean(axis=-1), paired=True)


def test_no_resamples_or_no_data_means_no_interval() -> None:
    assert bootstrap_ci([[1.0, 2.0]], _mean, resamples=0) is None
    assert bootstrap_ci([[]], _mean) is None
    assert proportion_ci(0, 0, confidence=0.95, resamples=100, rng=derive_rng(0)) is None
    assert percentile_ci([], 95, confidence=0.95, resamples=100, rng=derive_rng(0)) is None
    assert hter_ci(1, 0, 1, 5, confidence=0.95, resamples=100, rng=derive_rng(0)) is None
    assert percentile_interval([np.nan, np.nan], 0.95) is None


def test_confidence_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([[1.0, 2.0]], _mean, confidence=95)
    with pytest.raises(ValueError, match="seed"):
        derive_rng(-1)


def test_percentile_interval_takes_the_quantiles_and_drops_undefined_replicates() -> None:
    replicates = [np.nan, *range(101)]
    assert percentile_interval(replicates, 0.9) == pytest.approx((5.0, 95.0))


def test_percentile_ci_brackets_the_percentile() -> None:
    values = np.random.default_rng(4).lognormal(6, 0.4, size=300)
    ci = percentile_ci(values, 95, confidence=0.95, resamples=400, rng=derive_rng(0))
    assert ci is not None
    assert ci[0] <= np.percentile(values, 95) <= ci[1]


def test_kappa_ci_brackets_kappa_and_undefined_replicates_are_dropped() -> None:
    matrix = np.array([[40, 5, 0], [8, 30, 2], [1, 2, 12]])
    ci = kappa_ci(matrix, confidence=0.95, resamples=400, rng=derive_rng(0))
    kappa = cohen_kappa(matrix)
    assert ci is not None
    assert kappa is not None
    assert ci[0] < kappa < ci[1]
    # Every resample of a single-outcome matrix is degenerate: no interval.
    assert (
        kappa_ci(np.array([[9, 0], [0, 0]]), confidence=0.95, resamples=50, rng=derive_rng(0))
        is None
    )


def test_eer_ci_is_stratified_and_brackets_the_eer() -> None:
    rng = np.random.default_rng(5)
    genuine, attack = rng.normal(2, 1, size=120), rng.normal(0, 1, size=40)
    eer = equal_error_rate(genuine, attack)
    ci = eer_ci(genuine, attack, confidence=0.95, resamples=400, rng=derive_rng(0))
    assert eer is not None
    assert ci is not None
    assert ci[0] < eer < ci[1]
    # Separable scores: every stratified resample stays separable, so the interval is [0, 0].
    assert eer_ci([5, 6, 7], [1, 2], confidence=0.95, resamples=50, rng=derive_rng(0)) == (0.0, 0.0)


def test_hter_ci_brackets_the_hter() -> None:
    ci = hter_ci(6, 50, 10, 100, confidence=0.95, resamples=400, rng=derive_rng(0))
    assert ci is not None
    assert ci[0] < (6 / 50 + 10 / 100) / 2 < ci[1]
