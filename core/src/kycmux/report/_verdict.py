"""Which system is better, said only as far as the data supports it.

``summary["verdict"]``:

``statement``
    Plain English, for people: the ``paragraphs`` joined by spaces.
``paragraphs``
    The statement in paragraphs (accuracy first, then what can be compared operationally).
``provenance``
    Where the answers came from (``kycmux.results._provenance``): ``label`` (``simulated``,
    ``live``, ``mixed``, ``replay`` or ``unknown``), ``answers`` (per system), ``data``
    (``synthetic``, ``manifest``, ``traffic`` or ``None``), ``simulated`` (a simulator
    answered for some system compared) and ``statement`` (the sentence the verdict opens
    with, e.g. "Simulated vendors, synthetic data: this ranks the simulators, not the
    vendors."; ``None`` for real vendors on real data).
``basis``
    ``accuracy`` (labels: systems ranked by HTER), ``operational`` (no usable labels: error
    rate and p95 latency only), ``single_system`` or ``none`` (no results).
``winner``
    The system called better, or ``None``. On ``accuracy``: the lowest HTER, when the
    interval of its difference to every other system excludes 0. On ``operational``: a system
    significantly better on some metric and significantly worse on none.
``ranking``
    ``[{"system", "metric", "value"}]``, best first (``accuracy`` only).
``comparisons``
    The best system of each metric against each other system: ``metric`` (``hter``,
    ``error_rate`` or ``p95_latency_ms``), ``systems`` ``[best, other]``, ``values`` (each
    system's metric on the compared items), ``difference`` (other − best), ``ci``,
    ``paired`` (paired bootstrap over the items both judged, or independent), ``n`` (items
    compared; per system when independent), ``significant`` (the interval excludes 0, with at
    least ``MIN_ITEMS`` items per system), ``too_few`` (fewer than that) and
    ``items_needed`` (when not significant: roughly how many items would make the interval's
    half-width as small as the difference, ``n × (half-width / |difference|)²``, and at
    least ``n + 1``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from kycmux.report._data import Settings, StudyData, rounded
from kycmux.report._intervals import cluster_replicates, clusters
from kycmux.report._labelling import labelled
from kycmux.report._stats import (
    FloatArray,
    IntArray,
    joint_replicates,
    percentile,
    percentile_interval,
    percentiles_from_counts,
)
from kycmux.report._wording import MIN_ITEMS, ci_text, conf, how, millis, percent, too_few
from kycmux.results._model import Label

__all__ = ["verdict_section"]

_Stat = Callable[..., FloatArray]


def verdict_section(data: StudyData, summary: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The verdict, opening with where its answers came from (``provenance``)."""
    return labelled(_decide(data, summary, settings), summary["study"], data)


def _decide(data: StudyData, summary: dict[str, Any], settings: Settings) -> dict[str, Any]:
    if not data.systems:
        return _verdict("none", None, [], [], ["No results: nothing to compare."])
    if len(data.systems) == 1:
        return _single(data.systems[0], summary)
    operational = _operational(data, settings)
    hters = {
        s: v["hter"]["value"]
        for s, v in summary["accuracy"]["systems"].items()
        if v["hter"]["value"] is not None
    }
    if len(hters) < 2:
        return _unlabelled(summary, operational, settings)
    return _accuracy(data, summary, hters, operational, settings)


def _verdict(
    basis: str,
    winner: str | None,
    ranking: list[dict[str, Any]],
    comparisons: list[dict[str, Any]],
    paragraphs: list[str],
) -> dict[str, Any]:
    paragraphs = [p for p in paragraphs if p]
    return {
        "statement": " ".join(paragraphs),
        "paragraphs": paragraphs,
        "basis": basis,
        "winner": winner,
        "ranking": ranking,
        "comparisons": comparisons,
    }


def _single(system: str, summary: dict[str, Any]) -> dict[str, Any]:
    text = f"Only one system ({system}) answered: there is nothing to compare it with."
    hter = summary["accuracy"]["systems"].get(system, {}).get("hter", {})
    if hter.get("value") is not None:
        text += f" Its HTER is {percent(hter['value'])}{ci_text(hter['ci'], percent)}."
    return _verdict("single_system", None, [], [], [text])


# -- accuracy ---------------------------------------------------------------------------------


def _accuracy(
    data: StudyData,
    summary: dict[str, Any],
    hters: dict[str, float],
    operational: list[dict[str, Any]],
    settings: Settings,
) -> dict[str, Any]:
    ranked = sorted(hters, key=lambda s: (hters[s], s))
    best = ranked[0]
    comparisons = [_hter_comparison(data, summary, best, other, settings) for other in ranked[1:]]
    won = all(c["significant"] and c["difference"] > 0 for c in comparisons)
    parts = []
    note = summary["accuracy"]["note"]
    if note:
        parts.append(f"Accuracy is judged on labelled items only: {note}")
    parts += [_hter_sentence(c, settings) for c in comparisons]
    if len(comparisons) > 1:
        parts.append(
            f"{best} is the winner: better than every other system."
            if won
            else f"No winner can be called: {best} is not clearly better than every other system."
        )
    ranking = [{"system": s, "metric": "hter", "value": hters[s]} for s in ranked]
    return _verdict(
        "accuracy",
        best if won else None,
        ranking,
        comparisons + operational,
        [" ".join(parts), _operational_text(operational, settings)],
    )


def _flags(data: StudyData, system: str, items: list[str], attack: bool) -> list[bool]:
    """Per item: an error (an accepted attack, or a genuine item not accepted)."""
    return [(data.rows[system][i].outcome == "accept") == attack for i in items]


def _hter_comparison(
    data: StudyData, summary: dict[str, Any], best: str, other: str, settings: Settings
) -> dict[str, Any]:
    common = [i for i in data.common_items(best, other) if data.labels[i] is not None]
    genuine = [i for i in common if data.labels[i] is Label.GENUINE]
    attacks = [i for i in common if data.labels[i] is not Label.GENUINE]
    paired = bool(genuine and attacks)
    if paired:
        groups, stat, values = _paired_hter(data, best, other, genuine, attacks)
        n = len(genuine) + len(attacks)
    else:
        accuracy = summary["accuracy"]["systems"]
        groups, stat, values = _independent_hter(accuracy, best, other)
        n = (accuracy[best]["n_labelled"] + accuracy[other]["n_labelled"]) // 2
    rng = settings.rng("hter_difference", best, other)
    return _comparison(
        "hter", best, other, values, groups, stat, n, paired, rng, settings, clustered=paired
    )


_Groups = list[Any]


def _paired_hter(
    data: StudyData, best: str, other: str, genuine: list[str], attacks: list[str]
) -> tuple[_Groups, _Stat, dict[str, float | None]]:
    """Per stratum and subject: (items, best erred, other erred); HTERs from the sums.

    Subjects, not items, are resampled (``kycmux.report._intervals``): one person's repeated
    attempts are one draw, so they cannot narrow the interval."""
    strata = []
    for items, attack in ((attacks, True), (genuine, False)):
        subjects = [data.rows[best][i].subject or data.rows[other][i].subject for i in items]
        flags = [_flags(data, s, items, attack) for s in (best, other)]
        strata.append(clusters(subjects, [[1] * len(items), *flags]))

    def hters(a: FloatArray, g: FloatArray) -> tuple[FloatArray, FloatArray]:
        return tuple(  # type: ignore[return-value]
            (a[:, k] / a[:, 0] + g[:, k] / g[:, 0]) / 2 for k in (1, 2)
        )

    def difference(a: FloatArray, g: FloatArray) -> FloatArray:
        hter_b, hter_o = hters(a, g)
        return hter_o - hter_b

    hter_b, hter_o = hters(strata[0].sum(axis=0)[None, :], strata[1].sum(axis=0)[None, :])
    return strata, difference, {best: float(hter_b[0]), other: float(hter_o[0])}


def _independent_hter(
    accuracy: dict[str, Any], best: str, other: str
) -> tuple[_Groups, _Stat, dict[str, float | None]]:
    """Each system's attack and genuine items resampled on their own (four groups)."""
    counts = [
        (accuracy[s][k]["count"], accuracy[s][k]["n"])
        for s in (best, other)
        for k in ("far", "frr")
    ]
    sizes = [n for _, n in counts]

    def difference(*blocks: IntArray) -> FloatArray:
        far_b, frr_b, far_o, frr_o = (b[:, 0] / n for b, n in zip(blocks, sizes, strict=True))
        result: FloatArray = ((far_o + frr_o) - (far_b + frr_b)) / 2
        return result

    values = {s: accuracy[s]["hter"]["value"] for s in (best, other)}
    return [[c, n - c] for c, n in counts], difference, values


def _cells(flags_a: list[bool], flags_b: list[bool]) -> IntArray:
    """Counts of (a's flag, b's flag) per item: cells (0,0), (0,1), (1,0), (1,1)."""
    index = np.array(flags_a, dtype=np.int64) * 2 + np.array(flags_b, dtype=np.int64)
    cells: IntArray = np.bincount(index, minlength=4).astype(np.int64)
    return cells


def _paired_rates(cells: IntArray) -> tuple[FloatArray, FloatArray]:
    n = cells.sum(axis=1)
    return (cells[:, 2] + cells[:, 3]) / n, (cells[:, 1] + cells[:, 3]) / n


def _comparison(
    metric: str,
    best: str,
    other: str,
    values: dict[str, float | None],
    groups: list[Any],
    statistic: _Stat,
    n: int,
    paired: bool,
    rng: np.random.Generator,
    settings: Settings,
    *,
    clustered: bool = False,
) -> dict[str, Any]:
    """One metric of ``best`` against ``other``; ``clustered``: ``groups`` are cluster strata
    (``cluster_replicates``), else counts (``joint_replicates``)."""
    digits = 1 if metric.endswith("_ms") else 4
    vb, vo = values[best], values[other]
    difference = None if vb is None or vo is None else vo - vb
    replicate = cluster_replicates if clustered else joint_replicates
    reps = replicate(groups, statistic, resamples=settings.bootstrap, rng=rng)
    ci = percentile_interval(reps, settings.confidence) if reps.size else None
    too_few = n < MIN_ITEMS
    significant = ci is not None and (ci[0] > 0 or ci[1] < 0) and not too_few
    needed = None
    if ci is not None and difference and not significant:
        # Not significant with n items, so more than n are needed, whatever the formula says.
        needed = max(n + 1, MIN_ITEMS, math.ceil(n * ((ci[1] - ci[0]) / 2 / abs(difference)) ** 2))
    return {
        "metric": metric,
        "systems": [best, other],
        "values": {s: rounded(v, digits) for s, v in values.items()},
        "difference": rounded(difference, digits),
        "ci": Settings.stat(None, ci, digits)["ci"],
        "paired": paired,
        "n": n,
        "significant": significant,
        "too_few": too_few,
        "items_needed": needed,
    }


def _difference_text(c: dict[str, Any], settings: Settings) -> str:
    """``X (95% CI lo to hi; how it was resampled)``."""
    ms = c["metric"].endswith("_ms")
    unit = " ms" if ms else " percentage points"
    scale = 1 if ms else 100
    text = f"{c['difference'] * scale:,.{1 if ms else 2}f}{unit} ("
    if c["ci"] is not None:
        lo, hi = (v * scale for v in c["ci"])
        text += f"{conf(settings)} CI {lo:,.{1 if ms else 2}f} to {hi:,.{1 if ms else 2}f}; "
    return text + how(c) + ")"


def _hter_sentence(c: dict[str, Any], settings: Settings) -> str:
    best, other = c["systems"]
    vb, vo = c["values"][best], c["values"][other]
    if c["difference"] == 0:
        return f"{best} and {other} have the same HTER ({percent(vb)}; {how(c)}): no winner."
    if c["ci"] is None:
        return (
            f"{best} has the lower HTER ({percent(vb)} vs {percent(vo)} for {other}), but no "
            "confidence interval was computed (bootstrap disabled), so no winner is called."
        )
    diff = _difference_text(c, settings)
    if c["significant"] and c["difference"] > 0:
        return (
            f"{best} is more accurate than {other}: HTER {percent(vb)} vs {percent(vo)}, "
            f"a difference of {diff}. "
            "The interval excludes 0."
        )
    if c["too_few"]:
        text = (
            f"{best} has the lower HTER ({percent(vb)} vs {percent(vo)} for {other}), "
            f"a difference of {diff}, but {too_few(c)}, so no winner is called."
        )
    else:
        text = (
            f"{best} has the lower HTER ({percent(vb)} vs {percent(vo)} for {other}), "
            f"but the data is not enough to call a winner: the difference, {diff}, could be 0."
        )
    if c["items_needed"]:
        text += (
            f" Roughly {c['items_needed']:,} labelled items would be needed to tell them apart "
            f"if the difference is real (this comparison used {c['n']:,}; a rough estimate: "
            "n × (CI half-width / difference)²)."
        )
    return text


# -- operational: error rate and p95 latency ---------------------------------------------------


def _operational(data: StudyData, settings: Settings) -> list[dict[str, Any]]:
    comparisons = []
    for metric, value in (("error_rate", _error_rate), ("p95_latency_ms", _p95)):
        overall = {s: value(data, s, list(data.rows[s])) for s in data.systems}
        known = sorted((v, s) for s, v in overall.items() if v is not None)
        if len(known) < 2:
            continue
        best = known[0][1]
        for _, other in known[1:]:
            comparisons.append(_operational_comparison(data, metric, best, other, settings))
    return comparisons


def _error_rate(data: StudyData, system: str, items: list[str]) -> float | None:
    if not items:
        return None
    return sum(data.rows[system][i].outcome == "error" for i in items) / len(items)


def _latencies(data: StudyData, system: str, items: list[str]) -> FloatArray:
    return np.array([data.rows[system][i].latency_ms for i in items], dtype=np.float64)


def _p95(data: StudyData, system: str, items: list[str]) -> float | None:
    return percentile(_latencies(data, system, items), 95)


def _operational_comparison(
    data: StudyData, metric: str, best: str, other: str, settings: Settings
) -> dict[str, Any]:
    common = data.common_items(best, other)
    rng = settings.rng(metric, best, other)
    value = _error_rate if metric == "error_rate" else _p95
    stat: _Stat
    if common:
        items = {best: common, other: common}
        n = len(common)
        if metric == "error_rate":
            errors = [[data.rows[s][i].outcome == "error" for i in common] for s in (best, other)]
            groups: list[Any] = [_cells(*errors)]

            def stat(c: IntArray) -> FloatArray:
                rate_b, rate_o = _paired_rates(c)
                return rate_o - rate_b

        else:
            groups, stat = _paired_p95(
                _latencies(data, best, common), _latencies(data, other, common)
            )
    else:
        items = {s: list(data.rows[s]) for s in (best, other)}
        n = (len(items[best]) + len(items[other])) // 2
        groups, stat = _independent(data, metric, items[best], items[other], best, other)
    values = {s: value(data, s, items[s]) for s in (best, other)}
    return _comparison(metric, best, other, values, groups, stat, n, bool(common), rng, settings)


def _paired_p95(lat_b: FloatArray, lat_o: FloatArray) -> tuple[list[Any], _Stat]:
    order_b, order_o = np.argsort(lat_b, kind="stable"), np.argsort(lat_o, kind="stable")

    def stat(c: IntArray) -> FloatArray:
        p_b = percentiles_from_counts(lat_b[order_b], c[:, order_b], 95)
        p_o = percentiles_from_counts(lat_o[order_o], c[:, order_o], 95)
        return p_o - p_b

    return [np.ones(lat_b.size, dtype=np.int64)], stat


def _independent(
    data: StudyData, metric: str, items_b: list[str], items_o: list[str], best: str, other: str
) -> tuple[list[Any], _Stat]:
    if metric == "error_rate":
        flags = [
            [data.rows[s][i].outcome == "error" for i in items]
            for s, items in ((best, items_b), (other, items_o))
        ]
        groups: list[Any] = [[sum(f), len(f) - sum(f)] for f in flags]
        sizes = [len(f) for f in flags]
        return groups, lambda b, o: o[:, 0] / sizes[1] - b[:, 0] / sizes[0]
    uniques = [
        np.unique(_latencies(data, s, items), return_counts=True)
        for s, items in ((best, items_b), (other, items_o))
    ]
    (values_b, _), (values_o, _) = uniques
    return (
        [w for _, w in uniques],
        lambda b, o: (
            percentiles_from_counts(values_o, o, 95) - percentiles_from_counts(values_b, b, 95)
        ),
    )


def _operational_text(comparisons: list[dict[str, Any]], settings: Settings) -> str:
    if not comparisons:
        return ""
    parts = []
    for c in comparisons:
        best, other = c["systems"]
        ms = c["metric"].endswith("_ms")
        fmt = millis if ms else percent
        text = (
            f"{'p95 latency' if ms else 'error rate'} {fmt(c['values'][best])} for {best} vs "
            f"{fmt(c['values'][other])} for {other}, a difference of "
            f"{_difference_text(c, settings)}: "
        )
        if c["significant"] and c["difference"] > 0:
            text += f"{best} is {'faster' if ms else 'less often in error'}"
        elif c["too_few"]:
            text += too_few(c)
        elif c["difference"] == 0:
            text += "no difference"
        elif c["ci"] is None:
            text += "no interval (bootstrap disabled)"
        else:
            text += "not enough data to tell them apart"
        parts.append(text)
    return "Operationally: " + "; ".join(parts) + "."


def _unlabelled(
    summary: dict[str, Any], operational: list[dict[str, Any]], settings: Settings
) -> dict[str, Any]:
    labelled = summary["overview"]["labelled"]
    text = (
        "Accuracy cannot be judged: the labelled items do not include both genuine and attack "
        "items for two systems."
        if labelled
        else "Accuracy cannot be judged without ground truth: no item is labelled."
    )
    winner = _operational_winner(operational)
    conclusion = ""
    if winner:
        conclusion = f" On what can be compared, {winner} is better."
    elif operational:
        conclusion = " On what can be compared, no winner can be called."
    operational_text = _operational_text(operational, settings) + conclusion
    return _verdict("operational", winner, [], operational, [text, operational_text])


def _operational_winner(comparisons: list[dict[str, Any]]) -> str | None:
    wins = {c["systems"][0] for c in comparisons if c["significant"] and c["difference"] > 0}
    losers = {c["systems"][1] for c in comparisons if c["significant"] and c["difference"] > 0}
    metric_winners = set()
    for metric in {c["metric"] for c in comparisons}:
        rows = [c for c in comparisons if c["metric"] == metric]
        if all(c["significant"] and c["difference"] > 0 for c in rows):
            metric_winners.add(rows[0]["systems"][0])
    candidates = (metric_winners & wins) - losers
    return candidates.pop() if len(candidates) == 1 else None
