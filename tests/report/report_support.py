"""Result builders for report tests: hand-made rows and a plausible two-vendor study."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

from kycmux.results._model import CheckResult, Label, Result, Role

TENCENT = "tencent_legacy"
LINKFACE = "linkface"


def row(
    item: str,
    system: str,
    outcome: str,
    *,
    label: Label | str | None = None,
    latency: float = 100.0,
    checks: Mapping[str, CheckResult] | None = None,
    reasons: Sequence[str] = (),
    error_classes: Sequence[str] = (),
    calls: int = 1,
    billed: bool = True,
    study: str = "study",
    role: Role = Role.OFFLINE,
) -> Result:
    return Result(
        study=study,
        item=item,
        system=system,
        role=role,
        outcome=outcome,
        latency_ms=latency,
        recorded_at=1_700_000_000.0,
        label=label,
        reasons=tuple(reasons),
        error_classes=tuple(error_classes),
        checks=dict(checks or {}),
        calls=calls,
        possibly_billed=billed,
    )


def scored(
    verdict: str,
    raw: float,
    *,
    kind: str = "similarity",
    far: float | None = None,
    vendor: str = "v",
    name: str = "score",
) -> CheckResult:
    return CheckResult(verdict, vendor=vendor, score_name=name, raw=raw, kind=kind, far=far)


def _tencent_far(sim: float) -> float:
    return min(1.0, 10 ** (-3 - (sim - 70) / 10))


def _linkface_far(score: float) -> float:
    return min(1.0, 10 ** (-1 - (score - 0.4) * 10))


def _outcome(verdicts: Mapping[str, str]) -> str:
    for verdict, outcome in (
        ("fail", "reject"),
        ("retry_capture", "retry_capture"),
        ("review", "review"),
        ("error", "error"),
    ):
        if verdict in verdicts.values():
            return outcome
    return "accept"


def _reasons(checks: Mapping[str, CheckResult], system: str) -> tuple[str, ...]:
    outcome = _outcome({k: c.verdict for k, c in checks.items()})
    verdict = {"reject": "fail", "accept": "pass"}.get(outcome, outcome)
    why = {
        "pass": "score_meets_threshold",
        "fail": "score_below_threshold",
        "retry_capture": "capture_unusable",
        "error": "vendor_unavailable",
    }
    return tuple(
        f"{k}:{system}:{why.get(verdict, verdict)}"
        for k, c in checks.items()
        if c.verdict == verdict
    )


def synthetic_study(
    n: int = 200,
    *,
    seed: int = 0,
    labelled: bool = True,
    study: str = "demo",
    linkface_shift: float = 0.0,
) -> list[Result]:
    """Two vendors on the same items: Tencent (calibrated sim, verdict-only liveness) and
    Linkface (calibrated verify_score, uncalibrated hack_score). Linkface is the better one:
    wider genuine/attack separation, fewer capture problems, but more outages; it is faster.
    ``linkface_shift`` moves Linkface's genuine face scores down (makes it worse)."""
    rnd = random.Random(seed)
    results: list[Result] = []
    for index in range(n):
        item = f"row-{index:04d}"
        u = index / n
        label = Label.GENUINE if u < 0.5 else Label.IMPOSTOR if u < 0.75 else Label.SPOOF
        hard = rnd.random() < 0.3
        same = label is not Label.IMPOSTOR
        spoof = label is Label.SPOOF
        results.append(_tencent(item, label, same, spoof, hard, rnd, study, labelled))
        results.append(
            _linkface(item, label, same, spoof, hard, rnd, study, labelled, linkface_shift)
        )
    return results


def _tencent(
    item: str,
    label: Label,
    same: bool,
    spoof: bool,
    hard: bool,
    rnd: random.Random,
    study: str,
    labelled: bool,
) -> Result:
    spread = 10 if hard else 5
    sim = rnd.gauss(78 if same else 60, spread) if hard else rnd.gauss(88 if same else 45, spread)
    sim = max(0.0, min(100.0, sim))
    live_pass = rnd.random() < (0.35 if hard else 0.04) if spoof else rnd.random() > 0.03
    checks = {
        "face_match": scored(
            "pass" if sim >= 70 else "fail", sim, far=_tencent_far(sim), vendor=TENCENT, name="sim"
        ),
        "liveness": CheckResult("pass" if live_pass else "fail", vendor=TENCENT),
    }
    errors: tuple[str, ...] = ()
    if not spoof and rnd.random() < 0.06:
        checks = {k: CheckResult("retry_capture", vendor=TENCENT) for k in checks}
        errors = ("capture_unusable",)
    elif rnd.random() < 0.015:
        checks = {k: CheckResult("error", vendor=TENCENT) for k in checks}
        errors = ("vendor_unavailable", "vendor_unavailable", "vendor_unavailable")
    latency = math.exp(rnd.gauss(math.log(950), 0.35))
    return _result(item, TENCENT, label, checks, errors, latency, study, labelled)


def _linkface(
    item: str,
    label: Label,
    same: bool,
    spoof: bool,
    hard: bool,
    rnd: random.Random,
    study: str,
    labelled: bool,
    shift: float,
) -> Result:
    spread = 0.08 if hard else 0.04
    centre = (0.8 if same else 0.58) if hard else (0.9 if same else 0.35)
    score = max(0.0, min(1.0, rnd.gauss(centre - (shift if label is Label.GENUINE else 0), spread)))
    hack = rnd.gauss((0.62 if hard else 0.85) if spoof else (0.35 if hard else 0.1), 0.1)
    hack = max(0.0, min(1.0, hack))
    checks = {
        "face_match": scored(
            "pass" if score >= 0.7 else "fail",
            score,
            far=_linkface_far(score),
            vendor=LINKFACE,
            name="verify_score",
        ),
        "liveness": scored(
            "pass" if hack < 0.5 else "fail",
            hack,
            kind="attack",
            vendor=LINKFACE,
            name="hack_score",
        ),
    }
    errors: tuple[str, ...] = ()
    if not spoof and rnd.random() < 0.02:
        checks = {k: CheckResult("retry_capture", vendor=LINKFACE) for k in checks}
        errors = ("capture_unusable",)
    elif rnd.random() < 0.04:
        checks = {k: CheckResult("error", vendor=LINKFACE) for k in checks}
        errors = ("rate_limited", "vendor_unavailable")
    latency = math.exp(rnd.gauss(math.log(620), 0.3))
    return _result(item, LINKFACE, label, checks, errors, latency, study, labelled)


def _result(
    item: str,
    system: str,
    label: Label,
    checks: Mapping[str, CheckResult],
    errors: tuple[str, ...],
    latency: float,
    study: str,
    labelled: bool,
) -> Result:
    outcome = _outcome({k: c.verdict for k, c in checks.items()})
    return row(
        item,
        system,
        outcome,
        label=label if labelled else None,
        latency=latency,
        checks=checks,
        reasons=_reasons(checks, system),
        error_classes=errors,
        calls=1 + len(errors),
        billed=not errors or errors[0] != "rate_limited",
        study=study,
    )
