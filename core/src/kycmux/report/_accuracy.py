"""Accuracy against ground truth: decision-level error rates and score-level DET curves.

``summary["accuracy"]``:

``available`` (any item labelled); ``note`` (what limits the numbers, else ``None``);
``systems`` — per system, on its labelled items: ``n_labelled``, ``far`` (attacks accepted /
attacks), ``impostor_acceptance``, ``spoof_acceptance``, ``frr`` (genuine not accepted /
genuine), ``frr_reject`` (genuine rejected), ``fta`` (genuine ending in retry_capture,
review or error: failure to acquire), all rates, and ``hter`` (``{"value", "ci"}``);
``det`` — per check: ``check``, ``attack_labels`` (the labels it is judged against),
``plot`` (file name, ``None`` when no curve could be drawn), ``notes``, and ``systems``: per
system answering the check, ``score_name`` and ``kind`` (``None`` for a system giving verdicts
only), ``n_genuine`` and ``n_attack`` (items used: those with a score, or for verdicts only
those with a pass/fail verdict), ``n_excluded`` (relevant labelled items not used), ``eer``
(``{"value", "ci"}``; ``None`` values without a curve) and ``operating_point`` (``far``:
attack items used whose check verdict was pass; ``frr``: genuine items used whose check
verdict was not pass; both rates).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from kycmux.report._data import Settings, StudyData, slug
from kycmux.report._intervals import cluster_hter_ci, clusters
from kycmux.report._stats import FloatArray, eer_ci, equal_error_rate
from kycmux.results._model import CheckResult, Label, Result

__all__ = ["ATTACKS_FOR_CHECK", "DetInput", "accuracy_section", "det_inputs", "det_plot_name"]

# What each check is meant to stop: a face match stops impostors, liveness stops spoofs.
ATTACKS_FOR_CHECK: dict[str, tuple[Label, ...]] = {
    "face_match": (Label.IMPOSTOR,),
    "liveness": (Label.SPOOF,),
    "id_registry_match": (Label.IMPOSTOR,),
}
_ANY_ATTACK = (Label.IMPOSTOR, Label.SPOOF)
_FAILURE_TO_ACQUIRE = frozenset({"retry_capture", "review", "error"})


def det_plot_name(check: str) -> str:
    return f"det_{slug(check)}.png"


@attrs.frozen
class DetInput:
    """One system's answers for one check on the labelled items that count for it.

    A system with a score for the check gets a curve from its scored items; a system with
    verdicts only (no score) gets just its operating point, from its pass/fail verdicts.

    Attributes:
        score_name: The vendor's score field (``None``: verdicts only).
        kind: ``similarity`` or ``attack`` (``None``: verdicts only).
        genuine: Scores of genuine items (empty for verdicts only).
        attack: Scores of attack items (empty for verdicts only).
        n_genuine: Genuine items used.
        n_attack: Attack items used.
        excluded: Relevant labelled items not used (no score; no pass/fail verdict).
        genuine_not_passed: Genuine items used whose check verdict was not pass.
        attack_passed: Attack items used whose check verdict was pass.
    """

    score_name: str | None
    kind: str | None
    genuine: FloatArray = attrs.field(eq=False)
    attack: FloatArray = attrs.field(eq=False)
    n_genuine: int
    n_attack: int
    excluded: int
    genuine_not_passed: int
    attack_passed: int

    @property
    def curve(self) -> bool:
        """Whether there is a curve: a score, and at least one genuine and one attack score."""
        return self.kind is not None and self.genuine.size > 0 and self.attack.size > 0


def _labelled(data: StudyData, system: str) -> list[tuple[Result, Label]]:
    return [(r, label) for r in data.results(system) if (label := data.labels[r.item]) is not None]


def accuracy_section(
    data: StudyData, settings: Settings, systems: Sequence[str] | None = None
) -> dict[str, Any]:
    """The section; whole-decision error rates only for ``systems`` (default: all), since
    decisions serving different checks do not compare (``whole_decision.compared``)."""
    if not any(label is not None for label in data.labels.values()):
        return {
            "available": False,
            "note": "No item is labelled: accuracy cannot be judged without ground truth.",
            "systems": {},
            "det": [],
        }
    unlabelled = sum(1 for label in data.labels.values() if label is None)
    note = (
        f"{unlabelled} of {len(data.items)} items are unlabelled and left out of accuracy."
        if unlabelled
        else None
    )
    checks = sorted({c for s in data.systems for r, _ in _labelled(data, s) for c in r.checks})
    return {
        "available": True,
        "note": note,
        "systems": {s: _error_rates(data, s, settings) for s in _chosen(data, systems)},
        "det": [_det(data, check, settings) for check in checks],
    }


def _chosen(data: StudyData, systems: Sequence[str] | None) -> tuple[str, ...]:
    return data.systems if systems is None else tuple(s for s in data.systems if s in systems)


def _error_rates(data: StudyData, system: str, settings: Settings) -> dict[str, Any]:
    rows = _labelled(data, system)
    genuine = [r.outcome for r, label in rows if label is Label.GENUINE]
    impostor = [r.outcome for r, label in rows if label is Label.IMPOSTOR]
    spoof = [r.outcome for r, label in rows if label is Label.SPOOF]
    attacks = impostor + spoof
    accepted = sum(o == "accept" for o in attacks)
    not_accepted = sum(o != "accept" for o in genuine)
    n_a, n_g = len(attacks), len(genuine)
    hter = (accepted / n_a + not_accepted / n_g) / 2 if n_a and n_g else None
    ci = _hter_ci(rows, settings, system)

    def rate(outcomes: Sequence[str], hit: frozenset[str], name: str) -> dict[str, Any]:
        return settings.rate(sum(o in hit for o in outcomes), len(outcomes), name, system)

    accept = frozenset({"accept"})
    return {
        "n_labelled": len(rows),
        "far": rate(attacks, accept, "far"),
        "impostor_acceptance": rate(impostor, accept, "impostor_acceptance"),
        "spoof_acceptance": rate(spoof, accept, "spoof_acceptance"),
        "frr": rate(genuine, frozenset({"reject"}) | _FAILURE_TO_ACQUIRE, "frr"),
        "frr_reject": rate(genuine, frozenset({"reject"}), "frr_reject"),
        "fta": rate(genuine, _FAILURE_TO_ACQUIRE, "fta"),
        "hter": settings.stat(hter, ci),
    }


def _hter_ci(
    rows: list[tuple[Result, Label]], settings: Settings, system: str
) -> tuple[float, float] | None:
    """The HTER's interval, resampling subjects (not attempts) within genuine and attack."""
    strata = []
    for genuine in (False, True):
        chosen = [r for r, label in rows if (label is Label.GENUINE) == genuine]
        errors = [(r.outcome == "accept") != genuine for r in chosen]
        strata.append(clusters([r.subject for r in chosen], [[1] * len(chosen), errors]))
    return cluster_hter_ci(
        strata[0],
        strata[1],
        confidence=settings.confidence,
        resamples=settings.bootstrap,
        rng=settings.rng("hter", system),
    )


def det_inputs(data: StudyData, check: str) -> tuple[dict[str, DetInput], list[str]]:
    """Per system answering ``check`` on labelled items: what it gives a DET plot; and notes."""
    attacks = ATTACKS_FOR_CHECK.get(check, _ANY_ATTACK)
    inputs: dict[str, DetInput] = {}
    notes: list[str] = []
    for system in data.systems:
        # Each check against its own truth: an impostor is live for liveness, a spoof of the
        # claimed person genuine for face match when the manifest says so.
        rows = [
            (found, label)
            for r in data.results(system)
            if (label := data.truth(r, check)) is not None
            and (label is Label.GENUINE or label in attacks)
            and (found := r.checks.get(check)) is not None
        ]
        if not rows:
            continue
        used = [(c, label) for c, label in rows if c.raw is not None]
        kinds = {c.kind for c, _ in used}
        kind = kinds.pop() if len(kinds) == 1 else None
        if used and kind not in ("similarity", "attack"):
            notes.append(f"{system}: the {check} score has no single known direction.")
            kind = None
        if kind is None:
            used = [(c, label) for c, label in rows if c.verdict in ("pass", "fail")]
            notes.append(f"{system}: no score for {check} (verdicts only): operating point only.")
        inputs[system] = _det_input(used, kind, excluded=len(rows) - len(used))
    return inputs, notes


def _det_input(
    used: list[tuple[CheckResult, Label]], kind: str | None, *, excluded: int
) -> DetInput:
    genuine = [c for c, label in used if label is Label.GENUINE]
    attack = [c for c, label in used if label is not Label.GENUINE]
    scores = [
        [c.raw for c in group if c.raw is not None] if kind else [] for group in (genuine, attack)
    ]
    return DetInput(
        score_name=next((c.score_name for c, _ in used), None) if kind else None,
        kind=kind,
        genuine=np.array(scores[0], dtype=np.float64),
        attack=np.array(scores[1], dtype=np.float64),
        n_genuine=len(genuine),
        n_attack=len(attack),
        excluded=excluded,
        genuine_not_passed=sum(c.verdict != "pass" for c in genuine),
        attack_passed=sum(c.verdict == "pass" for c in attack),
    )


def _det(data: StudyData, check: str, settings: Settings) -> dict[str, Any]:
    attacks = ATTACKS_FOR_CHECK.get(check, _ANY_ATTACK)
    inputs, notes = det_inputs(data, check)
    systems: dict[str, Any] = {}
    for system, found in inputs.items():
        systems[system] = _det_entry(system, check, found, settings)
        if found.kind is not None and not found.curve:
            missing = "genuine" if found.genuine.size == 0 else "attack"
            notes.append(f"{system}: no {missing} items with a {check} score, so no curve.")
    drawn = any(found.curve for found in inputs.values())
    return {
        "check": check,
        "attack_labels": [label.value for label in attacks],
        "plot": det_plot_name(check) if drawn else None,
        "systems": systems,
        "notes": notes,
    }


def _det_entry(system: str, check: str, found: DetInput, settings: Settings) -> dict[str, Any]:
    eer, ci = None, None
    if found.kind is not None:
        eer = equal_error_rate(found.genuine, found.attack, kind=found.kind)
        ci = eer_ci(
            found.genuine,
            found.attack,
            kind=found.kind,
            confidence=settings.confidence,
            resamples=settings.bootstrap,
            rng=settings.rng("eer", check, system),
        )
    n_g, n_a = found.n_genuine, found.n_attack
    return {
        "score_name": found.score_name,
        "kind": found.kind,
        "n_genuine": n_g,
        "n_attack": n_a,
        "n_excluded": found.excluded,
        "eer": settings.stat(eer, ci),
        "operating_point": {
            "far": settings.rate(found.attack_passed, n_a, "op_far", check, system),
            "frr": settings.rate(found.genuine_not_passed, n_g, "op_frr", check, system),
        },
    }
