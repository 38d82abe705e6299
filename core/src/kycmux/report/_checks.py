"""The report's structure: which systems are usable, a section per check, and which systems a
whole-decision comparison may rank.

``summary["usability"]``:
    ``max_error_share`` (the stated limit), ``systems`` — per system ``n``, ``errors``
    (decisions ending in ``error``), ``error_share`` and ``usable`` (some answers, and an
    error share at most the limit) with ``reason`` when not — and ``unusable`` (names).
``summary["checks"]``:
    One entry per check any system answered, in check order: ``check``, ``attack_label``
    (``spoof`` for liveness, ``impostor`` for the face checks), ``systems`` — per system that
    was asked the check: ``n`` (items asked), ``verdicts`` (rate per verdict), ``error_share``,
    ``usable``, and on items with a truth for the check ``n_genuine``, ``n_attack``, ``far``
    (attacks passed), ``frr`` (genuine not passed) and ``hter`` — and ``ranking`` (usable
    systems with an HTER, best first: ``{"system", "hter"}``) and ``unranked``
    (``{"system", "reason"}``).
``summary["whole_decision"]``:
    ``groups`` (systems by the set of checks their decisions served: ``{"checks",
    "systems"}``), ``compared`` (the systems whose whole decisions are compared and ranked:
    the usable members of the largest group of usable systems serving the same checks; empty
    when no two systems serve the same checks) and ``excluded`` (``{"system", "reason"}``:
    unusable, or serving other checks than ``compared``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from kycmux._model._evidence import Check
from kycmux.compare._settings import MAX_ERROR_SHARE
from kycmux.report._data import Settings, StudyData, rounded
from kycmux.report._stats import hter_ci
from kycmux.results._model import CHECK_TRUTHS, Label, Result

__all__ = [
    "MAX_ERROR_SHARE",
    "VERDICTS",
    "checks_section",
    "comparable_systems",
    "usability_section",
    "whole_decision_section",
    "with_structure",
]

VERDICTS = ("pass", "fail", "retry_capture", "review", "error")
_ORDER = {check.value: index for index, check in enumerate(Check)}


def _check_order(checks: Iterable[str]) -> list[str]:
    return sorted(checks, key=lambda c: (_ORDER.get(c, len(_ORDER)), c))


def _judgement(n: int, errors: int, max_error_share: float) -> tuple[bool, str | None]:
    """Whether answers with ``errors`` of ``n`` in error are usable, and why not."""
    if n == 0:
        return False, "no answers"
    if errors == n:
        return False, f"all {n} answers were errors"
    if errors / n > max_error_share:
        return False, (
            f"{errors} of {n} answers were errors, more than the "
            f"{max_error_share:.0%} a usable system may have"
        )
    return True, None


def usability_section(data: StudyData, max_error_share: float) -> dict[str, Any]:
    systems: dict[str, Any] = {}
    for system in data.systems:
        rows = data.results(system)
        errors = sum(r.outcome == "error" for r in rows)
        usable, reason = _judgement(len(rows), errors, max_error_share)
        systems[system] = {
            "n": len(rows),
            "errors": errors,
            "error_share": rounded(errors / len(rows)) if rows else None,
            "usable": usable,
            "reason": reason,
        }
    return {
        "max_error_share": max_error_share,
        "systems": systems,
        "unusable": [s for s, v in systems.items() if not v["usable"]],
    }


def _served(rows: Sequence[Result]) -> frozenset[str]:
    return frozenset(check for r in rows for check in r.checks)


def _verdict(row: Result, check: str) -> str | None:
    """The row's verdict for ``check``; a decision that failed before any check was judged
    (``runner:`` errors) counts as an error of every check; ``None``: not asked."""
    found = row.checks.get(check)
    if found is not None:
        return found.verdict
    return "error" if row.outcome == "error" and not row.checks else None


def checks_section(
    data: StudyData, settings: Settings, max_error_share: float
) -> list[dict[str, Any]]:
    served = {s: _served(data.results(s)) for s in data.systems}
    checks = _check_order(set().union(*served.values()) if served else set())
    # A system none of whose decisions got as far as a check (every one an error) is shown
    # in every check's section, as unusable, rather than silently missing.
    return [
        _check_entry(
            data,
            check,
            [s for s in data.systems if check in served[s] or not served[s]],
            settings,
            max_error_share,
        )
        for check in checks
    ]


def _check_entry(
    data: StudyData,
    check: str,
    systems: list[str],
    settings: Settings,
    max_error_share: float,
) -> dict[str, Any]:
    entries = {s: _check_system(data, check, s, settings, max_error_share) for s in systems}
    ranked = sorted(
        (s for s, e in entries.items() if e["usable"] and e["hter"]["value"] is not None),
        key=lambda s: (entries[s]["hter"]["value"], s),
    )
    unranked = [
        {"system": s, "reason": e["reason"] or "no labelled genuine and attack items"}
        for s, e in entries.items()
        if s not in ranked
    ]
    attack = next((t for t in CHECK_TRUTHS.get(check, ()) if t is not Label.GENUINE), None)
    return {
        "check": check,
        "attack_label": None if attack is None else attack.value,
        "systems": entries,
        "ranking": [{"system": s, "hter": entries[s]["hter"]["value"]} for s in ranked],
        "unranked": unranked,
    }


def _check_system(
    data: StudyData, check: str, system: str, settings: Settings, max_error_share: float
) -> dict[str, Any]:
    asked = [(r, v) for r in data.results(system) if (v := _verdict(r, check)) is not None]
    counts = Counter(v for _, v in asked)
    n = len(asked)
    usable, reason = _judgement(n, counts["error"], max_error_share)
    truths = [(v, t) for r, v in asked if (t := data.truth(r, check)) is not None]
    genuine = [v for v, t in truths if t is Label.GENUINE]
    attacks = [v for v, t in truths if t is not Label.GENUINE]
    passed = sum(v == "pass" for v in attacks)
    missed = sum(v != "pass" for v in genuine)
    n_a, n_g = len(attacks), len(genuine)
    hter = (passed / n_a + missed / n_g) / 2 if n_a and n_g else None
    ci = hter_ci(
        passed,
        n_a,
        missed,
        n_g,
        confidence=settings.confidence,
        resamples=settings.bootstrap,
        rng=settings.rng("check_hter", check, system),
    )
    return {
        "n": n,
        "verdicts": {v: settings.rate(counts[v], n, "verdict", check, system, v) for v in VERDICTS},
        "error_share": rounded(counts["error"] / n) if n else None,
        "usable": usable,
        "reason": reason,
        "n_genuine": n_g,
        "n_attack": n_a,
        "far": settings.rate(passed, n_a, "check_far", check, system),
        "frr": settings.rate(missed, n_g, "check_frr", check, system),
        "hter": settings.stat(hter, ci),
    }


def whole_decision_section(data: StudyData, usability: dict[str, Any]) -> dict[str, Any]:
    served = {s: _served(data.results(s)) for s in data.systems}
    groups: dict[frozenset[str], list[str]] = {}
    for system in data.systems:
        groups.setdefault(served[system], []).append(system)
    usable = {s for s, v in usability["systems"].items() if v["usable"]}
    # The group with the most usable systems; among equals, the one serving more checks.
    best = max(
        groups,
        key=lambda g: (sum(s in usable for s in groups[g]), len(g), sorted(g)),
        default=frozenset(),
    )
    members = [s for s in groups.get(best, []) if s in usable]
    compared = members if len(members) >= 2 or len(data.systems) == 1 else []
    excluded = []
    for system in data.systems:
        if system in compared:
            continue
        info = usability["systems"][system]
        if not info["usable"]:
            reason = f"unusable: {info['reason']}"
        else:
            checks = ", ".join(_check_order(served[system])) or "no check"
            peers = sum(s in usable for s in groups[served[system]])
            reason = (
                f"its decisions serve {checks}, not the same checks as another system"
                if peers < 2
                else f"its decisions serve {checks}; whole decisions are compared for the "
                f"larger group serving {', '.join(_check_order(best))}"
            )
        excluded.append({"system": system, "reason": reason})
    return {
        "groups": [
            {"checks": _check_order(checks), "systems": systems}
            for checks, systems in groups.items()
        ],
        "compared": compared,
        "excluded": excluded,
    }


def with_structure(verdict: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """``verdict`` (of the compared systems only) told what it left out: unusable systems and
    systems serving other checks (``excluded``), and each check's ranking (``per_check``)."""
    whole = summary["whole_decision"]
    excluded = list(whole["excluded"])
    per_check = [
        {"check": c["check"], "ranking": c["ranking"], "unranked": c["unranked"]}
        for c in summary["checks"]
    ]
    paragraphs = list(verdict["paragraphs"])
    if not whole["compared"] and summary["overview"]["systems"]:
        paragraphs = [
            "No two usable systems serve the same checks, so whole decisions are not compared "
            "or ranked; each check is compared on its own."
        ]
    unusable = [e for e in excluded if e["reason"].startswith("unusable")]
    if unusable:
        paragraphs.append(
            "Not ranked: " + "; ".join(f"{e['system']} is {e['reason']}" for e in unusable) + "."
        )
    paragraphs += [_check_sentence(c) for c in per_check if c["ranking"]]
    return {
        **verdict,
        "statement": " ".join(paragraphs),
        "paragraphs": paragraphs,
        "excluded": excluded,
        "per_check": per_check,
    }


def _check_sentence(check: dict[str, Any]) -> str:
    ranked = ", ".join(f"{r['system']} {r['hter']:.2%}" for r in check["ranking"])
    return f"On {check['check']} alone (HTER, best first): {ranked}."


def comparable_systems(summary: dict[str, Any]) -> list[str]:
    """The systems a whole-decision verdict may rank (``whole_decision.compared``)."""
    return list(summary["whole_decision"]["compared"])
