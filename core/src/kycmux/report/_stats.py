"""The statistics behind comparison reports: pure functions of numbers, no ``Result`` in sight.

Percentiles
    numpy's ``linear`` method (Hyndman & Fan type 7, numpy's default): for a sorted sample
    ``x`` of size ``n`` and ``q`` in [0, 100], ``h = (n - 1) q / 100`` and the percentile is
    ``x[⌊h⌋] + (h - ⌊h⌋) (x[⌊h⌋ + 1] - x[⌊h⌋])``.

Cohen's kappa
    ``κ = (p_o - p_e) / (1 - p_e)`` where ``p_o`` is the observed agreement (the diagonal of
    the agreement matrix over ``n``) and ``p_e = Σ_k (row_k / n)(col_k / n)`` the agreement
    expected by chance from the two marginals. When ``p_e = 1`` (both systems gave every item
    the same single answer) κ is 0/0: undefined, reported as ``None``.

DET curves and the equal error rate
    Scores are oriented so that higher means genuine (``similarity`` scores as they are,
    ``attack`` scores negated). At threshold ``t`` an item is accepted when its oriented score
    is at least ``t``; ``FAR(t)`` is the share of attack scores accepted and ``FRR(t)`` the
    share of genuine scores rejected. The curve has one point per distinct score plus one past
    the highest (FAR 0, FRR 1), thresholds ascending, so FAR falls from 1 and FRR rises to 1.
    The equal error rate is where ``FAR - FRR`` changes sign, linearly interpolated between
    the two points around the crossing.

Bootstrap confidence intervals
    Percentile bootstrap: ``B`` resamples of the data drawn with replacement from
    ``numpy.random.default_rng``; the interval is the ``(1 - c)/2`` and ``(1 + c)/2``
    quantiles (``linear``) of the ``B`` replicate statistics, ``c`` the confidence. Replicates
    where the statistic is undefined (a denominator of 0, κ with ``p_e = 1``) are dropped;
    with none left, or ``B = 0``, there is no interval (``None``).

    Paired data (two systems judging the same items) are resampled by item, so both systems
    see the same resample. Stratified statistics (an EER or an HTER: genuine and attack
    items) resample each stratum separately with its own size, so neither denominator can
    vanish. Internally a resample is kept as counts over categories (outcomes, error flags,
    agreement cells) or distinct values (scores, latencies): one multinomial draw of ``n``
    when there are few categories, ``n`` drawn indices counted when there are many. Both
    have exactly the distribution of drawing ``n`` items with replacement; arrays are built
    in blocks so memory stays bounded whatever ``B`` and ``n``. ``bootstrap_ci`` draws the
    indices itself, for any vectorised statistic.

    The percentile bootstrap is known to be too narrow on very small samples and gives
    ``[0, 0]`` for a rate of ``0/n`` (it cannot see what the sample never shows); for zero
    events the rule of three (upper 95 % bound ≈ ``3 / n``) is a better guide.

Every random stream is derived from ``(seed, name of the statistic)`` (``derive_rng``), so
a CI depends only on its data, the seed and ``B``, not on which other statistics were
computed before it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "FloatArray",
    "IntArray",
    "bootstrap_ci",
    "cohen_kappa",
    "count_resamples",
    "derive_rng",
    "det_curve",
    "eer_ci",
    "equal_error_rate",
    "hter_ci",
    "joint_replicates",
    "kappa_ci",
    "kappas",
    "observed_agreement",
    "percentile",
    "percentile_ci",
    "percentile_interval",
    "percentiles_from_counts",
    "proportion_ci",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Bootstrap arrays are built in blocks of at most this many cells, whatever B and n are.
_BLOCK_CELLS = 4_000_000
# Up to this many categories a resample is one multinomial draw; beyond, drawn indices counted.
_MULTINOMIAL_CATEGORIES = 64


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must be strictly between 0 and 1, got {confidence}")


def derive_rng(seed: int, *names: str) -> np.random.Generator:
    """An independent random stream for one statistic: the same seed and names, the same draws."""
    if seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed}")
    return np.random.default_rng([seed, *(zlib.crc32(name.encode()) for name in names)])


def percentile(values: npt.ArrayLike, q: float) -> float | None:
    """The ``q``-th percentile (0-100) by numpy's ``linear`` method; ``None`` for no values."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return None
    return float(np.percentile(data, q, method="linear"))


def percentile_interval(replicates: npt.ArrayLike, confidence: float) -> tuple[float, float] | None:
    """The percentile-bootstrap interval of replicate statistics (undefined ones dropped)."""
    _check_confidence(confidence)
    data = np.asarray(replicates, dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return None
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(data, [alpha, 1 - alpha], method="linear")
    return float(lo), float(hi)


def _cells_per_row(counts: IntArray) -> int:
    """Array cells one resample needs: the categories, or the drawn items when drawing them."""
    if counts.size <= _MULTINOMIAL_CATEGORIES:
        return max(1, counts.size)
    return max(counts.size, int(counts.sum()))


def count_resamples(
    weights: npt.ArrayLike,
    resamples: int,
    rng: np.random.Generator,
    *,
    block: int | None = None,
) -> Iterator[IntArray]:
    """Bootstrap resamples as counts, in blocks of rows (at most ``block`` rows each).

    ``weights[j]`` is how many of the ``n = Σ weights`` items fall in category ``j``; each row
    of a yielded block says how many of ``n`` items drawn with replacement fell in each
    category. With few categories that is one multinomial draw per row; with many (distinct
    latencies or scores), ``n`` indices are drawn and counted, which is faster. Both have
    exactly the distribution of drawing ``n`` items with replacement.
    """
    counts = np.asarray(weights, dtype=np.int64)
    n = int(counts.sum())
    if n == 0 or resamples <= 0:
        return
    size = block or max(1, _BLOCK_CELLS // _cells_per_row(counts))
    owner = np.repeat(np.arange(counts.size), counts)  # item -> its category
    done = 0
    while done < resamples:
        rows = min(size, resamples - done)
        if counts.size <= _MULTINOMIAL_CATEGORIES:
            yield np.asarray(rng.multinomial(n, counts / n, size=rows), dtype=np.int64)
        else:
            drawn = owner[rng.integers(0, n, size=(rows, n))]
            drawn += (np.arange(rows, dtype=np.int64) * counts.size)[:, None]
            flat = np.bincount(drawn.ravel(), minlength=rows * counts.size)
            yield flat.reshape(rows, counts.size).astype(np.int64, copy=False)
        done += rows


def joint_replicates(
    groups: Sequence[npt.ArrayLike],
    statistic: Callable[..., FloatArray],
    *,
    resamples: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Bootstrap replicates of a statistic of independently resampled groups (strata).

    Each group is given as counts over its categories (see ``count_resamples``); the
    statistic gets one counts block per group, with the same number of rows, and returns one
    value per row. No replicates when ``resamples`` is 0 or a group is empty.
    """
    weights = [np.asarray(g, dtype=np.int64) for g in groups]
    if resamples <= 0 or any(int(w.sum()) == 0 for w in weights):
        return np.empty(0)
    block = max(1, _BLOCK_CELLS // max(_cells_per_row(w) for w in weights))
    streams = [count_resamples(w, resamples, rng, block=block) for w in weights]
    blocks = [statistic(*counts) for counts in zip(*streams, strict=True)]
    return np.concatenate(blocks)


def _replicates(
    weights: npt.ArrayLike,
    statistic: Callable[[IntArray], FloatArray],
    resamples: int,
    rng: np.random.Generator,
) -> FloatArray:
    return joint_replicates([weights], statistic, resamples=resamples, rng=rng)


def proportion_ci(
    count: int, n: int, *, confidence: float, resamples: int, rng: np.random.Generator
) -> tuple[float, float] | None:
    """Percentile-bootstrap CI of the proportion ``count / n`` (items resampled).

    At 0 or ``n`` events every resample repeats the data, so the bootstrap interval collapses
    to a point and would claim certainty; there the exact (Clopper-Pearson) bound is used
    instead: ``[0, 1 - (α/2)^(1/n)]`` for none, its mirror for all (3.7/n at 95 %, about the
    rule of three).
    """
    if n == 0 or resamples == 0:
        return None
    tail = (1 - confidence) / 2
    if count == 0:
        return 0.0, 1 - tail ** (1 / n)
    if count == n:
        return tail ** (1 / n), 1.0
    reps = _replicates([count, n - count], lambda c: c[:, 0] / n, resamples, rng)
    return percentile_interval(reps, confidence)


def hter_ci(
    false_accepts: int,
    n_attack: int,
    false_rejects: int,
    n_genuine: int,
    *,
    confidence: float,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float] | None:
    """Percentile-bootstrap CI of ``HTER = (FAR + FRR) / 2``, attack and genuine items
    resampled separately (stratified)."""
    if n_attack == 0 or n_genuine == 0 or resamples == 0:
        return None
    reps = joint_replicates(
        [[false_accepts, n_attack - false_accepts], [false_rejects, n_genuine - false_rejects]],
        lambda a, g: (a[:, 0] / n_attack + g[:, 0] / n_genuine) / 2,
        resamples=resamples,
        rng=rng,
    )
    return percentile_interval(reps, confidence)


def percentiles_from_counts(sorted_values: FloatArray, counts: IntArray, q: float) -> FloatArray:
    """Linear-method percentiles of resamples given as counts over ``sorted_values``.

    ``sorted_values`` is ascending (repeats allowed); each row of ``counts`` is one resample.
    """
    n = int(counts[0].sum())
    h = (n - 1) * q / 100
    low = math.floor(h)
    frac = h - low
    cumulative = np.cumsum(counts, axis=1)
    # Order statistic k (0-based) sits in the first column whose cumulative count exceeds k.
    i_low = np.minimum((cumulative <= low).sum(axis=1), sorted_values.size - 1)
    i_high = np.minimum((cumulative <= low + 1).sum(axis=1), sorted_values.size - 1)
    low_values = sorted_values[i_low]
    result: FloatArray = low_values + frac * (sorted_values[i_high] - low_values)
    return result


def percentile_ci(
    values: npt.ArrayLike,
    q: float,
    *,
    confidence: float,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float] | None:
    """Percentile-bootstrap CI of the ``q``-th percentile (linear method)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0 or resamples == 0:
        return None
    unique, weights = np.unique(data, return_counts=True)
    reps = _replicates(weights, lambda c: percentiles_from_counts(unique, c, q), resamples, rng)
    return percentile_interval(reps, confidence)


def kappas(matrices: npt.ArrayLike) -> FloatArray:
    """Cohen's kappa of each K×K count matrix in a ``(..., K, K)`` stack (NaN where p_e = 1)."""
    stack = np.asarray(matrices, dtype=np.float64)
    n = stack.sum(axis=(-2, -1))
    po = np.trace(stack, axis1=-2, axis2=-1) / n
    pe = (stack.sum(axis=-1) * stack.sum(axis=-2)).sum(axis=-1) / n**2
    degenerate = pe >= 1 - 1e-12
    result: FloatArray = np.where(degenerate, np.nan, (po - pe) / np.where(degenerate, 1.0, 1 - pe))
    return result


def cohen_kappa(matrix: Sequence[Sequence[int]] | npt.ArrayLike) -> float | None:
    """Cohen's kappa of a square agreement matrix (rows: system A, columns: system B).

    ``None`` when it is undefined: no items, or ``p_e = 1`` (both systems gave every item the
    same single answer).
    """
    data = np.asarray(matrix, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] != data.shape[1]:
        raise ValueError(f"matrix: must be square, got shape {data.shape}")
    if data.sum() == 0:
        return None
    value = float(kappas(data))
    return None if math.isnan(value) else value


def observed_agreement(matrix: Sequence[Sequence[int]] | npt.ArrayLike) -> float | None:
    """The share of items on the diagonal of an agreement matrix; ``None`` for no items."""
    data = np.asarray(matrix, dtype=np.float64)
    total = data.sum()
    return None if total == 0 else float(np.trace(data) / total)


def kappa_ci(
    matrix: npt.ArrayLike, *, confidence: float, resamples: int, rng: np.random.Generator
) -> tuple[float, float] | None:
    """Percentile-bootstrap CI of Cohen's kappa, resampling the paired items."""
    data = np.asarray(matrix, dtype=np.int64)
    k = data.shape[0]
    if data.sum() == 0 or resamples == 0:
        return None
    reps = _replicates(data.ravel(), lambda c: kappas(c.reshape(-1, k, k)), resamples, rng)
    return percentile_interval(reps, confidence)


def _oriented(scores: npt.ArrayLike, kind: str) -> FloatArray:
    data = np.asarray(scores, dtype=np.float64)
    if kind == "similarity":
        return data
    if kind == "attack":
        return -data
    raise ValueError(f"kind: must be 'similarity' or 'attack', got {kind!r}")


def _rates(genuine_counts: IntArray, attack_counts: IntArray) -> tuple[FloatArray, FloatArray]:
    """FAR and FRR at every threshold from per-threshold counts (rows: resamples)."""
    zeros = np.zeros((genuine_counts.shape[0], 1))
    below_g = np.concatenate([zeros, np.cumsum(genuine_counts, axis=1)], axis=1)
    below_a = np.concatenate([zeros, np.cumsum(attack_counts, axis=1)], axis=1)
    n_g = below_g[:, -1:]
    n_a = below_a[:, -1:]
    far: FloatArray = (n_a - below_a) / n_a
    frr: FloatArray = below_g / n_g
    return far, frr


def _grid(genuine: FloatArray, attack: FloatArray) -> tuple[FloatArray, IntArray, IntArray]:
    grid = np.unique(np.concatenate([genuine, attack]))
    counts_g = np.bincount(np.searchsorted(grid, genuine), minlength=grid.size)
    counts_a = np.bincount(np.searchsorted(grid, attack), minlength=grid.size)
    return grid, counts_g.astype(np.int64), counts_a.astype(np.int64)


def det_curve(
    genuine: npt.ArrayLike, attack: npt.ArrayLike, *, kind: str = "similarity"
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(far, frr, thresholds)`` of a DET curve, thresholds ascending in the accept direction.

    For ``similarity`` scores an item passes at threshold ``t`` when ``score >= t``; for
    ``attack`` scores when ``score <= t`` (so those thresholds descend). The last threshold
    (±inf) accepts nothing.
    """
    g = _oriented(genuine, kind)
    a = _oriented(attack, kind)
    if g.size == 0 or a.size == 0:
        raise ValueError("det_curve needs at least one genuine and one attack score")
    grid, counts_g, counts_a = _grid(g, a)
    far, frr = _rates(counts_g[None, :], counts_a[None, :])
    thresholds = np.append(grid, np.inf)
    return far[0], frr[0], thresholds if kind == "similarity" else -thresholds


def _eers(far: FloatArray, frr: FloatArray) -> FloatArray:
    diff = far - frr
    # FAR - FRR starts at 1 and ends at -1, so a first non-positive point exists past index 0.
    i = np.argmax(diff <= 0, axis=1)
    rows = np.arange(diff.shape[0])
    d0, d1 = diff[rows, i - 1], diff[rows, i]
    weight = np.where(d0 == d1, 0.0, d0 / np.where(d0 == d1, 1.0, d0 - d1))
    far0 = far[rows, i - 1]
    result: FloatArray = far0 + weight * (far[rows, i] - far0)
    return result


def equal_error_rate(
    genuine: npt.ArrayLike, attack: npt.ArrayLike, *, kind: str = "similarity"
) -> float | None:
    """The EER: where FAR and FRR cross on the DET curve, linearly interpolated.

    ``None`` without genuine or without attack scores.
    """
    g = _oriented(genuine, kind)
    a = _oriented(attack, kind)
    if g.size == 0 or a.size == 0:
        return None
    _, counts_g, counts_a = _grid(g, a)
    far, frr = _rates(counts_g[None, :], counts_a[None, :])
    return float(_eers(far, frr)[0])


def eer_ci(
    genuine: npt.ArrayLike,
    attack: npt.ArrayLike,
    *,
    kind: str = "similarity",
    confidence: float,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float] | None:
    """Percentile-bootstrap CI of the EER; genuine and attack scores resampled separately."""
    g = _oriented(genuine, kind)
    a = _oriented(attack, kind)
    if g.size == 0 or a.size == 0 or resamples == 0:
        return None
    _, counts_g, counts_a = _grid(g, a)
    reps = joint_replicates(
        [counts_g, counts_a],
        lambda g_, a_: _eers(*_rates(g_, a_)),
        resamples=resamples,
        rng=rng,
    )
    return percentile_interval(reps, confidence)


def bootstrap_ci(
    samples: Sequence[npt.ArrayLike],
    statistic: Callable[..., npt.ArrayLike],
    *,
    paired: bool = False,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int | np.random.Generator = 0,
) -> tuple[float, float] | None:
    """Percentile-bootstrap CI of any vectorised statistic of one or more samples.

    ``statistic`` is called with one array per sample, each shaped ``(b, n_i)`` (``b``
    resamples of that sample's values) and must return ``b`` values, e.g.
    ``lambda x: x.mean(axis=-1)``. With ``paired`` every sample must have the same length and
    all are resampled with the same indices (items judged by several systems); otherwise each
    is resampled on its own (independent groups, or strata). ``None`` when ``resamples`` is 0
    or a sample is empty.
    """
    _check_confidence(confidence)
    arrays = [np.asarray(s, dtype=np.float64) for s in samples]
    if resamples == 0 or not arrays or any(a.size == 0 for a in arrays):
        return None
    if paired and len({a.size for a in arrays}) > 1:
        raise ValueError("paired samples must all have the same length")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    block = max(1, _BLOCK_CELLS // sum(a.size for a in arrays))
    reps: list[FloatArray] = []
    done = 0
    while done < resamples:
        size = min(block, resamples - done)
        if paired:
            idx = rng.integers(0, arrays[0].size, size=(size, arrays[0].size))
            drawn = [a[idx] for a in arrays]
        else:
            drawn = [a[rng.integers(0, a.size, size=(size, a.size))] for a in arrays]
        reps.append(np.asarray(statistic(*drawn), dtype=np.float64).reshape(size))
        done += size
    return percentile_interval(np.concatenate(reps), confidence)
