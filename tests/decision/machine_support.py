"""Small builders for driving the decision machine by hand: specs, policies, verdicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kycmux import (
    CaptureIssue,
    Check,
    CheckAnswer,
    CheckOffer,
    CheckPolicy,
    CheckReading,
    Classification,
    Combine,
    ErrorClass,
    EvidenceKind,
    LogLinearCalibration,
    Mode,
    Need,
    Policy,
    RawScore,
    ScoreKind,
    ScoreSpec,
    Threshold,
    VendorSettings,
    VendorSpec,
)
from kycmux.decision import DecisionMachine, Group, Step, VendorVerdict, Verdict, judge

ALPHA, BETA, GAMMA = "alpha", "beta", "gamma"
L, F, R = Check.LIVENESS, Check.FACE_MATCH, Check.ID_REGISTRY_MATCH

# Liveness and face match share the "verify" operation; the registry match has its own.
_OFFERS = {
    L: CheckOffer(L, "verify", (Need(EvidenceKind.VIDEO),)),
    F: CheckOffer(F, "verify", (Need(EvidenceKind.SELFIE), Need(EvidenceKind.REFERENCE_PHOTO))),
    R: CheckOffer(
        R,
        "registry",
        (Need(EvidenceKind.SELFIE), Need(EvidenceKind.ID_NUMBER), Need(EvidenceKind.ID_NAME)),
    ),
}


def scores(*, inclusive: bool = True) -> tuple[ScoreSpec, ...]:
    """A calibrated similarity ``sim`` (FAR 1e-2 at 0.5, 1e-4 at 0.7) for face match and an
    uncalibrated attack score ``hack`` (vendor recommends 0.5) for liveness."""
    calibration = LogLinearCalibration(((0.5, 1e-2), (0.7, 1e-4)))
    return (
        ScoreSpec("sim", F, ScoreKind.SIMILARITY, 0.0, 1.0, calibration, inclusive=inclusive),
        ScoreSpec(
            "hack", L, ScoreKind.ATTACK, 0.0, 1.0, recommended_threshold=0.5, inclusive=inclusive
        ),
    )


def vendor(name: str, checks: Iterable[Check] = (L, F, R), *, inclusive: bool = True) -> VendorSpec:
    return VendorSpec(
        name=name,
        display_name=name.title(),
        default_base_url=f"https://{name}.example.com",
        offers=tuple(_OFFERS[c] for c in checks),
        scores=scores(inclusive=inclusive),
    )


SPECS = {name: vendor(name) for name in (ALPHA, BETA, GAMMA)}


def policy(
    *,
    hedge_after: float | None = None,
    vendors: Mapping[str, VendorSettings] | None = None,
    **rules: CheckPolicy,
) -> Policy:
    """A policy named ``p`` with a 10 s deadline; rules keyed by check name."""
    checks = {Check(name): rule for name, rule in rules.items()}
    return Policy("p", checks, hedge_after=hedge_after, vendors=vendors or {})


def failover(
    *vendors: str, max_far: float | None = None, raw: Mapping[str, float] | None = None
) -> CheckPolicy:
    return CheckPolicy(vendors, max_far=max_far, raw_thresholds=raw or {})


def ensemble(*vendors: str, combine: Combine = Combine.ANY_NEGATIVE_REJECTS) -> CheckPolicy:
    return CheckPolicy(vendors, mode=Mode.ALL, combine=combine)


def plan(
    pol: Policy,
    ineligible: Mapping[tuple[str, Check], str] | None = None,
    specs: Mapping[str, VendorSpec] = SPECS,
) -> DecisionMachine:
    return DecisionMachine.plan(pol, specs, ineligible or {})


def names(groups: Iterable[Group]) -> list[str]:
    """``vendor:check+check`` for each group, sorted: readable, order-free assertions."""
    return sorted(f"{g.vendor}:{'+'.join(sorted(c.value for c in g.checks))}" for g in groups)


def group_of(groups: Iterable[Group], vendor_name: str) -> Group:
    return next(g for g in groups if g.vendor == vendor_name)


# verdicts, as a vendor's answer or failure would be judged ----------------------------------


def passed(who: str, check: Check) -> VendorVerdict:
    return VendorVerdict(who, check, Verdict.PASS, "vendor_verdict")


def failed(who: str, check: Check) -> VendorVerdict:
    negative = ErrorClass.NOT_LIVE if check is L else ErrorClass.IDENTITY_MISMATCH
    return VendorVerdict(who, check, Verdict.FAIL, "vendor_verdict", negative)


def error(
    who: str,
    check: Check,
    cls: ErrorClass = ErrorClass.VENDOR_UNAVAILABLE,
    code: str = "DOWN",
    issue: CaptureIssue | None = None,
) -> VendorVerdict:
    """The verdict of a failure classified ``cls`` (reason ``who:code``)."""
    reading = CheckReading(check, None, Classification(cls, f"{who}:{code}", issue))
    return judge(who, reading, Threshold("vendor_verdict"))


def answer(m: DecisionMachine, group: Group, *verdicts: VendorVerdict) -> Step:
    """The call for ``group`` came back with ``verdicts``: absorb them, then end the call."""
    step = m.absorb(group, {v.check: v for v in verdicts})
    m.done(group)
    return step


def reading(
    check: Check,
    raw: float | None = None,
    *,
    said: bool | None = None,
    spec: VendorSpec = SPECS[ALPHA],
) -> CheckReading:
    """An answered check: a raw score (``sim`` for face match, ``hack`` for liveness, read as
    ``spec`` reads it), and/or the vendor's own yes/no."""
    answer = CheckAnswer(check, True, "OK", passed=said)
    if raw is None:
        return CheckReading(check, answer, None)
    score_spec = spec.scores_for(check)[0]
    raw_score = RawScore(score_spec.name, raw)
    answer = CheckAnswer(check, True, "OK", passed=said, score=raw_score)
    return CheckReading(check, answer, None, score_spec.normalize(raw_score))
