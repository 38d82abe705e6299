"""``summarize``: every number of a comparison report, as one JSON-ready dict.

The structure (``schema`` ``"kycmux.report/1"``; keys are only ever added):

``study``
    ``name``, ``kind``, ``created_at`` (UNIX time), ``meta`` (the study's settings), or just
    ``name`` and nulls when no ``StudyInfo`` was given.
``settings``
    ``confidence``, ``bootstrap`` (resamples; 0: no intervals), ``seed``,
    ``percentile_method``.
``verdict``
    ``statement`` (plain English, for people), ``paragraphs`` (the same, in paragraphs),
    ``basis`` (``accuracy``, ``operational``, ``single_system`` or ``none``), ``winner`` (a
    system or ``None``), ``ranking`` and ``comparisons`` (see ``kycmux.report._verdict``).
``overview``
    ``systems`` (``name``, ``role``, ``n``), ``n_items``, ``n_paired_items``, ``labels``
    (items per label and ``unlabelled``), ``labelled`` (any label at all), ``replaced_rows``.
``outcomes``
    Per system: ``n``, ``rates`` (per outcome), ``attempt_error_classes`` (error classes of
    all failed attempts), ``first_reasons`` (per non-accept outcome: items by first reason;
    ``first_reasons["error"]`` says why decisions ended in error), ``calls``,
    ``calls_per_item``, ``possibly_billed``.
``latency``
    ``plot`` (the CDF plot's file name) and ``systems``: per system ``n``, ``mean_ms``,
    ``min_ms``, ``max_ms``, ``p50``, ``p95``, ``p99`` (numpy ``linear`` percentiles).
``agreement``
    One entry per pair of systems (``kycmux.report._agreement``).
``scores``
    ``checks``: per check, which systems put it on the common FAR scale, the scatter plots,
    and why others are not plotted (``kycmux.report._agreement``).
``accuracy``
    With labels: decision-level error rates per system and score-level DET/EER per check
    (``kycmux.report._accuracy``).
``methods``
    How each number is defined, in words.

A *rate* is ``{"value", "count", "n", "ci"}`` (``value = count / n``, ``None`` when
``n`` is 0); any other statistic is ``{"value", "ci"}``; ``ci`` is ``[lo, hi]`` or ``None``.
Rates and EERs are rounded to 4 decimals, kappas to 3, milliseconds to 1.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from kycmux.report._accuracy import accuracy_section
from kycmux.report._agreement import agreement_section, score_section
from kycmux.report._data import OUTCOMES, Settings, StudyData, rounded
from kycmux.report._stats import percentile, percentile_ci
from kycmux.report._verdict import verdict_section
from kycmux.results._model import Label, Result
from kycmux.results._store import StudyInfo

__all__ = ["LATENCY_PLOT", "METHODS", "SCHEMA", "summarize"]

SCHEMA = "kycmux.report/1"
LATENCY_PLOT = "latency_cdf.png"
_PERCENTILES = (50, 95, 99)

METHODS = {
    "rates": (
        "Every rate is count / n with a percentile-bootstrap confidence interval (items "
        "resampled with replacement), except at 0/n or n/n events, where the bootstrap "
        "collapses to a point: there the exact Clopper-Pearson bound is given instead "
        "(0/n: [0, 1 - (alpha/2)^(1/n)], about the rule of three)."
    ),
    "percentiles": (
        "Latency percentiles use numpy's 'linear' method (Hyndman & Fan type 7); intervals "
        "are percentile-bootstrap."
    ),
    "kappa": (
        "Cohen's kappa = (po - pe) / (1 - pe) on the paired items' outcomes (5 categories); "
        "undefined (null) when pe = 1, i.e. both systems gave every item the same outcome."
    ),
    "far": (
        "FAR = attack items (impostor + spoof) accepted / attack items, at the configured "
        "thresholds (the outcomes already reflect them)."
    ),
    "frr": (
        "FRR = genuine items not accepted / genuine items; split into definitive rejects and "
        "failure to acquire (retry_capture, review or error)."
    ),
    "hter": ("HTER = (FAR + FRR) / 2; its interval resamples genuine and attack items separately."),
    "det": (
        "DET curves per check and system from the check's raw score: face_match on genuine vs "
        "impostor items, liveness on genuine vs spoof items. Items without a score for the "
        "check are left out and counted. EER = where FAR and FRR cross, linearly interpolated; "
        "its interval resamples genuine and attack scores separately. The operating point is "
        "the check's own verdicts on the same items."
    ),
    "winner": (
        "Systems are ranked by HTER. The best is called the winner only when the bootstrap "
        "interval of each HTER difference excludes 0 (paired bootstrap over items both judged; "
        "independent bootstrap for systems that judged different items). Items needed is "
        "rough: n x (interval half-width / difference)^2, and at least n + 1."
    ),
    "bootstrap": (
        "Percentile bootstrap with numpy.random.default_rng; every statistic has its own "
        "stream derived from the seed and its name, so results are reproducible."
    ),
}


def summarize(
    results: Sequence[Result],
    *,
    study: StudyInfo | None = None,
    confidence: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every number of a comparison report (structure: this module's docstring).

    ``results`` are the rows of one study, in any order; the summary does not depend on
    their order. Deterministic for a seed.
    """
    settings = Settings.checked(confidence, bootstrap, seed)
    data = StudyData.from_results(results)
    if study is not None and data.name is not None and study.name != data.name:
        raise ValueError(f"study: {study.name!r} given, but the results are of {data.name!r}")
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "study": _study(data, study),
        "settings": {
            "confidence": confidence,
            "bootstrap": bootstrap,
            "seed": seed,
            "percentile_method": "linear",
        },
        "verdict": {},
        "overview": _overview(data),
        "outcomes": {system: _outcomes(data, system, settings) for system in data.systems},
        "latency": _latency(data, settings),
        "agreement": agreement_section(data, settings),
        "scores": score_section(data),
        "accuracy": accuracy_section(data, settings),
        "methods": dict(METHODS),
    }
    summary["verdict"] = verdict_section(data, summary, settings)
    return summary


def _study(data: StudyData, study: StudyInfo | None) -> dict[str, Any]:
    if study is None:
        return {"name": data.name, "kind": None, "created_at": None, "meta": {}}
    return {
        "name": study.name,
        "kind": study.kind,
        "created_at": study.created_at,
        # A JSON round trip: a deep copy, with tuples as lists, exactly as summary.json has it.
        "meta": json.loads(json.dumps(dict(study.meta))),
    }


def _overview(data: StudyData) -> dict[str, Any]:
    counts = Counter(label for label in data.labels.values())
    return {
        "systems": [
            {"name": s, "role": data.roles[s].value, "n": len(data.rows[s])} for s in data.systems
        ],
        "n_items": len(data.items),
        "n_paired_items": data.paired_items,
        "labels": {
            **{label.value: counts.get(label, 0) for label in Label},
            "unlabelled": counts.get(None, 0),
        },
        "labelled": any(label is not None for label in data.labels.values()),
        "replaced_rows": data.replaced,
    }


def _outcomes(data: StudyData, system: str, settings: Settings) -> dict[str, Any]:
    rows = data.results(system)
    n = len(rows)
    by_outcome = Counter(r.outcome for r in rows)
    first_reasons: dict[str, dict[str, int]] = {}
    for outcome in OUTCOMES[1:]:
        reasons = Counter(
            r.reasons[0] if r.reasons else "(none)" for r in rows if r.outcome == outcome
        )
        if reasons:
            first_reasons[outcome] = dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    classes = Counter(c for r in rows for c in r.error_classes)
    calls = sum(r.calls for r in rows)
    return {
        "n": n,
        "rates": {
            o: settings.rate(by_outcome.get(o, 0), n, "outcome", system, o) for o in OUTCOMES
        },
        "attempt_error_classes": dict(sorted(classes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "first_reasons": first_reasons,
        "calls": calls,
        "calls_per_item": rounded(calls / n, 3) if n else None,
        "possibly_billed": sum(1 for r in rows if r.possibly_billed),
    }


def _latency(data: StudyData, settings: Settings) -> dict[str, Any]:
    section: dict[str, Any] = {"plot": LATENCY_PLOT if data.systems else None, "systems": {}}
    for system in data.systems:
        values = np.array([r.latency_ms for r in data.results(system)], dtype=np.float64)
        entry: dict[str, Any] = {
            "n": int(values.size),
            "mean_ms": rounded(float(values.mean()), 1) if values.size else None,
            "min_ms": rounded(float(values.min()), 1) if values.size else None,
            "max_ms": rounded(float(values.max()), 1) if values.size else None,
        }
        for q in _PERCENTILES:
            ci = percentile_ci(
                values,
                q,
                confidence=settings.confidence,
                resamples=settings.bootstrap,
                rng=settings.rng("latency", system, f"p{q}"),
            )
            entry[f"p{q}"] = settings.stat(percentile(values, q), ci, 1)
        section["systems"][system] = entry
    return section
