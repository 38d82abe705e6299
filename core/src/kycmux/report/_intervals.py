"""Intervals that stay honest where the percentile bootstrap does not.

Single rates
    ``wilson_ci``: the Wilson score interval, ``(p̂ + z²/2n ± z √(p̂(1-p̂)/n + z²/4n²)) /
    (1 + z²/n)``, ``z`` the standard normal quantile at ``(1 + c)/2``. It never leaves [0, 1],
    is not a point at 0/n or n/n, and covers close to its level for any ``n`` (Brown, Cai &
    DasGupta 2001). ``clopper_pearson_ci``: the exact interval, inverting the binomial tails
    (at least its level, often wider); given for anyone who wants the conservative bound.
    The percentile bootstrap of a rate under-covers near 0 and 1 (it never sees the events
    the sample did not show), which is why reports use Wilson for rates.

Cluster bootstrap
    Repeated attempts by one person are not independent: a subject whose face a vendor cannot
    match fails every attempt. ``cluster_replicates`` resamples *clusters* (subjects) with
    replacement, each stratum on its own, and sums their per-cluster columns before the
    statistic: the interval of an HTER or of a paired difference then reflects how many
    people were seen, not how many attempts. Items without a subject are their own cluster,
    which is the item bootstrap again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from kycmux.report._stats import FloatArray, percentile_interval

__all__ = ["clopper_pearson_ci", "cluster_hter_ci", "cluster_replicates", "clusters", "wilson_ci"]

_BLOCK_CELLS = 4_000_000
_BISECTIONS = 80


def _alpha(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must be strictly between 0 and 1, got {confidence}")
    return 1 - confidence


def _counts(count: int, n: int) -> None:
    if n < 0 or not 0 <= count <= n:
        raise ValueError(f"count: must be within [0, n], got {count} of {n}")


def wilson_ci(count: int, n: int, *, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of ``count / n``; ``None`` when ``n`` is 0."""
    alpha = _alpha(confidence)
    _counts(count, n)
    if n == 0:
        return None
    z = NormalDist().inv_cdf(1 - alpha / 2)
    p = count / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    # Exactly 0 and 1 at the edges, not a rounding error either side.
    lo = 0.0 if count == 0 else max(0.0, centre - half)
    hi = 1.0 if count == n else min(1.0, centre + half)
    return lo, hi


def _log_pmf(n: int, p: float) -> FloatArray:
    k = np.arange(n + 1, dtype=np.float64)
    log_choose = np.array(
        [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(n + 1)]
    )
    result: FloatArray = log_choose + k * math.log(p) + (n - k) * math.log1p(-p)
    return result


def _tail_at_least(count: int, n: int, p: float) -> float:
    """P(X >= count) for X ~ Binomial(n, p)."""
    terms = _log_pmf(n, p)[count:]
    top = float(terms.max())
    return min(1.0, math.exp(top) * float(np.exp(terms - top).sum()))


def _solve(f: Callable[[float], float], target: float, rising: bool) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        if (f(mid) < target) == rising:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson_ci(
    count: int, n: int, *, confidence: float = 0.95
) -> tuple[float, float] | None:
    """The exact (Clopper-Pearson) interval of ``count / n``; ``None`` when ``n`` is 0.

    The lower bound is the ``p`` at which ``P(X >= count) = α/2``, the upper the ``p`` at
    which ``P(X <= count) = α/2`` (bisection on the binomial tails, to 1e-12 or better).
    """
    alpha = _alpha(confidence)
    _counts(count, n)
    if n == 0:
        return None
    lo = 0.0 if count == 0 else _solve(lambda p: _tail_at_least(count, n, p), alpha / 2, True)
    if count == n:
        return lo, 1.0
    hi = _solve(lambda p: 1 - _tail_at_least(count + 1, n, p), alpha / 2, False)
    return lo, hi


def clusters(keys: Sequence[Hashable | None], columns: Sequence[npt.ArrayLike]) -> FloatArray:
    """Per-item columns summed per cluster: one row per distinct key, items with key ``None``
    each a cluster of their own. Row order follows first appearance."""
    data = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])
    index: dict[Hashable, int] = {}
    owner = np.empty(len(keys), dtype=np.int64)
    for i, key in enumerate(keys):
        owner[i] = index.setdefault(("item", i) if key is None else ("key", key), len(index))
    sums = np.zeros((len(index), data.shape[1]))
    np.add.at(sums, owner, data)
    return sums


def cluster_replicates(
    strata: Sequence[FloatArray],
    statistic: Callable[..., FloatArray],
    *,
    resamples: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Bootstrap replicates of a statistic of cluster sums, each stratum resampled by cluster.

    Each stratum is a ``(clusters, columns)`` array (``clusters``); ``statistic`` gets one
    ``(b, columns)`` array of resampled column sums per stratum and returns ``b`` values.
    No replicates when ``resamples`` is 0 or a stratum has no clusters.
    """
    if resamples <= 0 or any(s.shape[0] == 0 for s in strata):
        return np.empty(0)
    block = max(1, _BLOCK_CELLS // max(s.shape[0] for s in strata))
    out: list[FloatArray] = []
    done = 0
    while done < resamples:
        rows = min(block, resamples - done)
        sums = []
        for stratum in strata:
            k = stratum.shape[0]
            drawn = rng.integers(0, k, size=(rows, k))
            drawn += (np.arange(rows, dtype=np.int64) * k)[:, None]
            weights = np.bincount(drawn.ravel(), minlength=rows * k).reshape(rows, k)
            sums.append(weights.astype(np.float64) @ stratum)
        out.append(np.asarray(statistic(*sums), dtype=np.float64).reshape(rows))
        done += rows
    return np.concatenate(out)


def cluster_hter_ci(
    attack: FloatArray,
    genuine: FloatArray,
    *,
    confidence: float,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float] | None:
    """Cluster-bootstrap CI of ``HTER = (FAR + FRR) / 2``.

    ``attack`` and ``genuine`` are ``(clusters, 2)`` arrays of (items, errors) per subject
    (``clusters``); each is resampled by subject on its own.
    """
    reps = cluster_replicates(
        [attack, genuine],
        lambda a, g: (a[:, 1] / a[:, 0] + g[:, 1] / g[:, 0]) / 2,
        resamples=resamples,
        rng=rng,
    )
    return percentile_interval(reps, confidence) if reps.size else None
