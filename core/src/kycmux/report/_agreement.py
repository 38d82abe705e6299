"""How far two systems agree on the items both judged, and where their scores can be compared.

``summary["agreement"]`` has one entry per pair of systems:

``systems`` ``[a, b]``; ``paired`` (they judged common items); ``n`` (common items);
``note`` (why something could not be computed, else ``None``); ``categories`` (the outcomes,
in matrix order); ``matrix`` (counts, rows: ``a``'s outcome, columns: ``b``'s);
``observed_agreement`` (a rate); ``kappa`` (``{"value", "ci"}``); ``n_disagreements``;
``disagreements`` (every item they disagree on: ``item``, ``label``, ``outcomes`` and
``reasons`` by system); ``plot`` (the heat map's file name).

``summary["scores"]`` has ``checks``, one entry per check: ``check``; ``systems`` (per system:
``status`` ``calibrated``, ``uncalibrated`` or ``no_score``, ``score_name``, ``n_scored``);
``pairs`` (``systems``; ``n``, the paired items where both have a FAR; ``plot``, the file
name of their −log10 FAR scatter plot, ``None`` without points); ``notes`` (why systems or
pairs are not plotted).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kycmux.report._data import OUTCOMES, Settings, StudyData, slug
from kycmux.report._stats import cohen_kappa, kappa_ci
from kycmux.results._model import CheckResult

__all__ = [
    "agreement_matrix",
    "agreement_plot_name",
    "agreement_section",
    "scatter_plot_name",
    "scatter_points",
    "score_section",
]


def agreement_plot_name(a: str, b: str) -> str:
    return f"agreement_{slug(a)}_vs_{slug(b)}.png"


def scatter_plot_name(check: str, a: str, b: str, *, only_pair: bool) -> str:
    suffix = "" if only_pair else f"_{slug(a)}_vs_{slug(b)}"
    return f"scatter_{slug(check)}{suffix}.png"


def agreement_matrix(
    outcomes_a: list[str], outcomes_b: list[str], categories: tuple[str, ...] = OUTCOMES
) -> list[list[int]]:
    """Counts of (a's outcome, b's outcome) over paired items, rows and columns in order."""
    index = {c: i for i, c in enumerate(categories)}
    matrix = np.zeros((len(categories), len(categories)), dtype=np.int64)
    for x, y in zip(outcomes_a, outcomes_b, strict=True):
        matrix[index[x], index[y]] += 1
    return [[int(v) for v in row] for row in matrix]


def agreement_section(data: StudyData, settings: Settings) -> list[dict[str, Any]]:
    return [_pair(data, a, b, settings) for a, b in data.pairs()]


def _pair(data: StudyData, a: str, b: str, settings: Settings) -> dict[str, Any]:
    common = data.common_items(a, b)
    entry: dict[str, Any] = {
        "systems": [a, b],
        "paired": bool(common),
        "n": len(common),
        "note": None,
        "categories": list(OUTCOMES),
        "matrix": None,
        "observed_agreement": None,
        "kappa": None,
        "n_disagreements": None,
        "disagreements": [],
        "plot": None,
    }
    if not common:
        entry["note"] = (
            f"{a} and {b} judged different items (for example the arms of an experiment): "
            "agreement between them cannot be measured."
        )
        return entry
    rows_a, rows_b = data.rows[a], data.rows[b]
    matrix = agreement_matrix(
        [rows_a[i].outcome for i in common], [rows_b[i].outcome for i in common]
    )
    agreed = sum(matrix[k][k] for k in range(len(OUTCOMES)))
    kappa = cohen_kappa(matrix)
    ci = kappa_ci(
        matrix,
        confidence=settings.confidence,
        resamples=settings.bootstrap,
        rng=settings.rng("kappa", a, b),
    )
    disagreements = [
        {
            "item": item,
            "label": None if (label := data.labels[item]) is None else label.value,
            "outcomes": {a: rows_a[item].outcome, b: rows_b[item].outcome},
            "reasons": {a: list(rows_a[item].reasons), b: list(rows_b[item].reasons)},
        }
        for item in common
        if rows_a[item].outcome != rows_b[item].outcome
    ]
    entry.update(
        matrix=matrix,
        observed_agreement=settings.rate(agreed, len(common), "agreement", a, b),
        kappa=settings.stat(kappa, ci, 3),
        n_disagreements=len(disagreements),
        disagreements=disagreements,
        plot=agreement_plot_name(a, b),
    )
    if kappa is None:
        entry["note"] = (
            "Both systems gave every paired item the same single outcome: kappa is undefined "
            "(0/0), observed agreement is 1."
        )
    return entry


def _score_status(checks: list[CheckResult]) -> tuple[str, str | None]:
    scored = [c for c in checks if c.raw is not None]
    name = next((c.score_name for c in scored if c.score_name), None)
    if not scored:
        return "no_score", None
    if any(c.far is not None for c in scored):
        return "calibrated", name
    return "uncalibrated", name


def scatter_points(data: StudyData, check: str, a: str, b: str) -> list[tuple[str, float, float]]:
    """``(item, far_a, far_b)`` for the paired items where both systems have a FAR."""
    points = []
    for item in data.common_items(a, b):
        ca = data.rows[a][item].checks.get(check)
        cb = data.rows[b][item].checks.get(check)
        if ca is not None and cb is not None and ca.far is not None and cb.far is not None:
            points.append((item, ca.far, cb.far))
    return points


def score_section(data: StudyData) -> dict[str, Any]:
    names = sorted({c for s in data.systems for r in data.results(s) for c in r.checks})
    return {"checks": [_check_scores(data, check) for check in names]}


def _check_scores(data: StudyData, check: str) -> dict[str, Any]:
    systems, notes = _score_statuses(data, check)
    calibrated = [s for s, v in systems.items() if v["status"] == "calibrated"]
    pairs = _calibrated_pairs(data, check, calibrated, notes)
    if len(calibrated) < 2:
        notes.append("Fewer than two systems have calibrated scores for this check: no scatter.")
    return {"check": check, "systems": systems, "pairs": pairs, "notes": notes}


def _score_statuses(data: StudyData, check: str) -> tuple[dict[str, Any], list[str]]:
    """Each system's score for ``check``: calibrated, uncalibrated or none (with a note)."""
    systems: dict[str, Any] = {}
    notes: list[str] = []
    for system in data.systems:
        results = [r.checks[check] for r in data.results(system) if check in r.checks]
        if not results:
            continue
        status, name = _score_status(results)
        systems[system] = {
            "status": status,
            "score_name": name,
            "n_scored": sum(1 for c in results if c.raw is not None),
        }
        if status == "uncalibrated":
            notes.append(
                f"{system}: {name or 'the score'} is uncalibrated (no published FAR table), "
                "so it cannot go on the common FAR scale."
            )
        elif status == "no_score":
            notes.append(f"{system}: no score for {check} (verdict only).")
    return systems, notes


def _calibrated_pairs(
    data: StudyData, check: str, calibrated: list[str], notes: list[str]
) -> list[dict[str, Any]]:
    """The pairs of calibrated systems, each with its paired-item count and scatter plot."""
    candidates = [(a, b) for a, b in data.pairs() if a in calibrated and b in calibrated]
    counts = [len(scatter_points(data, check, a, b)) for a, b in candidates]
    only_pair = sum(1 for n in counts if n) == 1
    for (a, b), n in zip(candidates, counts, strict=True):
        if n == 0:
            notes.append(f"{a} and {b} have no paired items where both gave a calibrated score.")
    return [
        {
            "systems": [a, b],
            "n": n,
            "plot": scatter_plot_name(check, a, b, only_pair=only_pair) if n else None,
        }
        for (a, b), n in zip(candidates, counts, strict=True)
    ]
