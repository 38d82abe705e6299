"""Exact binomial intervals for statistical tests (no SciPy in the environment).

``acceptance(n, p)`` is the central region a count of Binomial(n, p) falls in with probability
at least ``level``: a test asserting an observed count inside it fails a correct model at
most ``1 - level`` of the time, whatever ``n · p`` is (for n = 200,000 and p = 1e-6 the
region is 0–2: a tail that rare may legitimately show no pair at all).
``clopper_pearson(k, n)`` is the exact interval for a measured rate, for messages and reports.
"""

from __future__ import annotations

import math

__all__ = ["acceptance", "clopper_pearson"]


def _pmf(n: int, p: float, k: int) -> float:
    if p <= 0.0:
        return 1.0 if k == 0 else 0.0
    if p >= 1.0:
        return 1.0 if k == n else 0.0
    log = (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )
    return math.exp(log)


def _cdf(n: int, p: float, k: int) -> float:
    """P(X <= k), summed over the terms that matter (within 40 standard deviations)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    spread = 40.0 * math.sqrt(n * p * (1.0 - p)) + 40.0
    first = max(0, math.floor(n * p - spread))
    return min(1.0, math.fsum(_pmf(n, p, i) for i in range(first, k + 1)))


def acceptance(n: int, p: float, level: float = 0.99) -> tuple[int, int]:
    """The counts ``(low, high)`` with P(X < low) <= α/2 and P(X > high) <= α/2."""
    alpha = (1.0 - level) / 2.0
    mean = n * p
    spread = 40.0 * math.sqrt(n * p * (1.0 - p)) + 40.0
    low = max(0, math.floor(mean - spread))
    cumulative = 0.0
    while cumulative + _pmf(n, p, low) <= alpha:
        cumulative += _pmf(n, p, low)
        low += 1
    high = min(n, math.ceil(mean + spread))
    upper = 0.0
    while upper + _pmf(n, p, high) <= alpha:
        upper += _pmf(n, p, high)
        high -= 1
    return low, high


def _solve(target: float, k: int, n: int) -> float:
    """The p in (0, 1) where P(X <= k), which falls as p rises, equals ``target`` (bisection)."""
    low, high = 0.0, 1.0
    for _ in range(100):
        mid = (low + high) / 2.0
        if _cdf(n, mid, k) > target:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0


def clopper_pearson(k: int, n: int, level: float = 0.99) -> tuple[float, float]:
    """The exact (Clopper–Pearson) interval for a rate measured as ``k`` in ``n``."""
    alpha = (1.0 - level) / 2.0
    low = 0.0 if k == 0 else _solve(1.0 - alpha, k - 1, n)
    high = 1.0 if k == n else _solve(alpha, k, n)
    return low, high
