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
``usability``, ``checks``, ``whole_decision``
    Which systems are usable (error share at most ``max_error_share``), a section per check
    judged by every system asked for it, and which systems serve the same checks, so their
    whole decisions compare (``kycmux.report._checks``).
``accuracy``
    With labels: decision-level error rates for the systems ``whole_decision.compared``
    names, and score-level DET/EER per check against each check's truth
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
from kycmux.report._checks import (
    MAX_ERROR_SHARE,
    checks_section,
    comparable_systems,
    usability_section,
    whole_decision_section,
    with_structure,
)
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
    "usable": (
        "A system is usable when it answered and at most max_error_share of its decisions (per "
        "check: of its verdicts) ended in error; an unusable system is reported, never ranked."
    ),
    "per_check": (
        "Each check is judged by every system asked for it, against the check's own truth "
        "(liveness: genuine vs spoof; face checks: genuine vs impostor): FAR = attack items "
        "whose verdict was pass, FRR = genuine items whose verdict was not pass."
    ),
    "whole_decision": (
        "Whole decisions (outcome vs label) are compared and ranked only between usable systems "
        "whose decisions served the same checks."
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
    max_error_share: float = MAX_ERROR_SHARE,
) -> dict[str, Any]:
    """Every number of a comparison report (structure: this module's docstring).

    ``results`` are the rows of one study, in any order; the summary does not depend on
    their order. Deterministic for a seed. A system with more than ``max_error_share`` of
    its answers in error is reported as unusable and never ranked.
    """
    settings = Settings.checked(confidence, bootstrap, seed)
    if not 0 <= max_error_share < 1:
        raise ValueError(f"max_error_share: must be in [0, 1), got {max_error_share}")
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
            "max_error_share": max_error_share,
        },
        "verdict": {},
        "overview": _overview(data),
        "outcomes": {system: _outcomes(data, system, settings) for system in data.systems},
        "latency": _latency(data, settings),
        "agreement": agreement_section(data, settings),
        "scores": score_section(data),
        "usability": {},
        "checks": [],
        "whole_decision": {},
        "accuracy": {},
        "methods": dict(METHODS),
    }
    usability = usability_section(data, max_error_share)
    summary["usability"] = usability
    summary["checks"] = checks_section(data, settings, max_error_share)
    summary["whole_decision"] = whole_decision_section(data, usability)
    compared = comparable_systems(summary)
    summary["accuracy"] = accuracy_section(data, settings, compared)
    # Only systems serving the same checks, and usable, are ranked on whole decisions.
    summary["verdict"] = with_structure(
        verdict_section(data.only(compared), summary, settings), summary
    )
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
