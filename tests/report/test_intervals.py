"""Wilson and Clopper-Pearson intervals against published values; the subject-clustered
bootstrap against the item bootstrap it replaces."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kycmux.report import summarize
from kycmux.report._intervals import (
    clopper_pearson_ci,
    cluster_hter_ci,
    clusters,
    wilson_ci,
)
from kycmux.report._stats import derive_rng
from kycmux.results import Label, Result, Role

# -- single rates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "n", "expected"),
    [
        # Newcombe (1998), table I, method 3 (Wilson score, no continuity correction).
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
    ],
)
def test_wilson_matches_published_values(count: int, n: int, expected: tuple[float, float]) -> None:
    lo, hi = wilson_ci(count, n, confidence=0.95)  # type: ignore[misc]
    assert (round(lo, 4), round(hi, 4)) == expected


@pytest.mark.parametrize(
    ("count", "n", "expected"),
    [
        # Newcombe (1998), table I, method 5 (exact, Clopper-Pearson).
        (81, 263, (0.2527, 0.3676)),
        (15, 148, (0.0578, 0.1617)),
        (0, 20, (0.0, 0.1684)),
        (1, 29, (0.0009, 0.1776)),
    ],
)
def test_clopper_pearson_matches_published_values(
    count: int, n: int, expected: tuple[float, float]
) -> None:
    lo, hi = clopper_pearson_ci(count, n, confidence=0.95)  # type: ignore[misc]
    assert (round(lo, 4), round(hi, 4)) == expected


@pytest.mark.parametrize(("count", "n"), [(1, 10), (15, 148), (7, 40)])
def test_clopper_pearson_bounds_leave_exactly_alpha_over_two_in_each_tail(
    count: int, n: int
) -> None:
    lo, hi = clopper_pearson_ci(count, n, confidence=0.9)  # type: ignore[misc]

    def at_least(k: int, p: float) -> float:
        return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))

    assert at_least(count, lo) == pytest.approx(0.05, abs=1e-9)
    assert 1 - at_least(count + 1, hi) == pytest.approx(0.05, abs=1e-9)


def test_zero_events_are_not_certainty() -> None:
    lo, hi = wilson_ci(0, 50)  # type: ignore[misc]
    assert lo == 0.0
    assert hi == pytest.approx(0.0714, abs=1e-4)
    lo, hi = clopper_pearson_ci(50, 50)  # type: ignore[misc]
    assert (lo, hi) == (pytest.approx(1 - 0.0711, abs=1e-4), 1.0)
    assert wilson_ci(0, 0) is None
    assert clopper_pearson_ci(0, 0) is None


def _coverage(interval: object, n: int, p: float) -> float:
    """Exact coverage: the binomial probability of every count whose interval holds p."""
    total = 0.0
    for k in range(n + 1):
        lo, hi = interval(k, n, confidence=0.95)  # type: ignore[operator]
        if lo <= p <= hi:
            total += math.comb(n, k) * p**k * (1 - p) ** (n - k)
    return total


@pytest.mark.parametrize("p", [0.005, 0.02, 0.1, 0.5])
def test_exact_coverage_near_the_level_where_the_bootstrap_fails(p: float) -> None:
    # Clopper-Pearson never covers less than its level; Wilson stays close to it even at
    # rates near 0 (the percentile bootstrap covers 0 % of p when it sees no event).
    assert _coverage(clopper_pearson_ci, 60, p) >= 0.95
    assert _coverage(wilson_ci, 60, p) >= 0.89


@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_intervals_hold_the_estimate_and_stay_in_zero_one(case: tuple[int, int]) -> None:
    count, n = case
    for interval in (wilson_ci, clopper_pearson_ci):
        lo, hi = interval(count, n)  # type: ignore[misc]
        assert 0.0 <= lo <= count / n <= hi <= 1.0


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="count"):
        wilson_ci(5, 3)
    with pytest.raises(ValueError, match="confidence"):
        clopper_pearson_ci(1, 3, confidence=1.0)


# -- clustered bootstrap --------------------------------------------------------------------------


def test_clusters_sum_per_key_and_keep_keyless_items_apart() -> None:
    sums = clusters(["a", None, "a", None, "b"], [[1, 1, 1, 1, 1], [1, 0, 1, 1, 0]])
    assert sums.tolist() == [[2.0, 2.0], [1.0, 0.0], [1.0, 1.0], [1.0, 0.0]]


def _hter_width(subjects: list[str | None]) -> float:
    """The HTER interval's width for 40 genuine items, 12 of them failing, and 40 attacks,
    4 accepted; ``subjects`` are the genuine items' subjects."""
    genuine_errors = [1] * 12 + [0] * 28
    attack = clusters([None] * 40, [[1] * 40, [1] * 4 + [0] * 36])
    genuine = clusters(subjects, [[1] * 40, genuine_errors])
    ci = cluster_hter_ci(
        attack, genuine, confidence=0.95, resamples=4000, rng=derive_rng(0, "width")
    )
    assert ci is not None
    return ci[1] - ci[0]


def test_one_subject_repeating_widens_the_interval() -> None:
    independent = _hter_width([None] * 40)
    # The 12 failing attempts are one person trying again and again: 29 people, not 40.
    repeated = _hter_width(["same"] * 12 + [f"p{i}" for i in range(28)])
    assert repeated > 1.5 * independent


def _rows(system: str, repeat: bool) -> list[Result]:
    rows = []
    for i in range(60):
        genuine = i < 30
        failing = genuine and i < 10
        accepted_attack = not genuine and i < 33
        outcome = "accept" if (genuine and not failing) or accepted_attack else "reject"
        subject = "again" if failing and repeat else f"s{i}"
        rows.append(
            Result(
                study="s",
                item=f"r{i}",
                system=system,
                role=Role.OFFLINE,
                outcome=outcome,
                latency_ms=10.0,
                recorded_at=1.0,
                label=Label.GENUINE if genuine else Label.IMPOSTOR,
                subject=subject,
            )
        )
    return rows


def test_the_report_resamples_subjects_not_attempts() -> None:
    widths = []
    for repeat in (False, True):
        summary = summarize(_rows("a", repeat), bootstrap=2000)
        lo, hi = summary["accuracy"]["systems"]["a"]["hter"]["ci"]
        widths.append(hi - lo)
    assert widths[1] > 1.3 * widths[0]


def test_report_rates_carry_wilson_intervals() -> None:
    summary = summarize(_rows("a", False), bootstrap=100)
    far = summary["accuracy"]["systems"]["a"]["far"]
    assert (far["count"], far["n"]) == (3, 30)
    expected = wilson_ci(3, 30)
    assert expected is not None
    assert far["ci"] == [round(expected[0], 4), round(expected[1], 4)]
    assert np.isclose(summary["accuracy"]["systems"]["a"]["frr"]["value"], 10 / 30, atol=1e-4)
