"""Pure decision logic: one vendor's reading → a verdict; verdicts → a check; checks → outcome."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence

import attrs

from kycmux._contract._score import Score
from kycmux._contract._taxonomy import Answer, CaptureIssue, ErrorClass
from kycmux._contract._wire import CheckReading
from kycmux._decision._policy import CheckPolicy, Mode, Threshold
from kycmux._model._evidence import Check

__all__ = ["CheckVerdict", "Outcome", "VendorVerdict", "Verdict", "combine", "judge", "outcome_of"]


class Verdict(enum.StrEnum):
    """One vendor's, or one check's, answer under the policy.

    Attributes:
        PASS: Live, or the same person, under the policy's threshold.
        FAIL: A definitive negative: not live, or not the same person.
        RETRY_CAPTURE: The capture was unusable; the user should take it again.
        REVIEW: A person must look (registry data unusable, vendors disagree).
        ERROR: No usable answer (the vendor failed, or its answer could not be trusted).
    """

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    RETRY_CAPTURE = "retry_capture"
    REVIEW = "review"
    ERROR = "error"


class Outcome(enum.StrEnum):
    """The answer to the caller.

    Attributes:
        ACCEPT: Every check passed.
        REJECT: A definitive negative (not live, identity mismatch), or the subject is locked.
        RETRY_CAPTURE: The capture was unusable; ``hint`` says what the user should do.
        REVIEW: A person must look (registry data unusable, vendors disagree).
        ERROR: No vendor could answer in time; try again later.
    """

    ACCEPT = "accept"
    REJECT = "reject"
    RETRY_CAPTURE = "retry_capture"
    REVIEW = "review"
    ERROR = "error"


# Which outcome wins when checks end differently: a definitive negative first; then what the
# user can fix now; then what a person must look at; an outage last (retrying later may pass).
_PRECEDENCE = (Verdict.FAIL, Verdict.RETRY_CAPTURE, Verdict.REVIEW, Verdict.ERROR, Verdict.PASS)
_OUTCOME = {
    Verdict.FAIL: Outcome.REJECT,
    Verdict.RETRY_CAPTURE: Outcome.RETRY_CAPTURE,
    Verdict.REVIEW: Outcome.REVIEW,
    Verdict.ERROR: Outcome.ERROR,
    Verdict.PASS: Outcome.ACCEPT,
}
_NEGATIVE_FOR = {Check.LIVENESS: ErrorClass.NOT_LIVE}
# What each kind of answer in the taxonomy is as a check's verdict.
_VERDICT_OF = {
    Answer.NEGATIVE: Verdict.FAIL,
    Answer.UNUSABLE_CAPTURE: Verdict.RETRY_CAPTURE,
    Answer.UNUSABLE_REGISTRY: Verdict.REVIEW,
}


@attrs.frozen
class VendorVerdict:
    """One vendor's verdict on one check.

    Attributes:
        vendor: The vendor.
        check: The check.
        verdict: pass / fail / retry_capture / review / error.
        reason: Machine-readable reason (error class, vendor reason, or threshold).
        error_class: The taxonomy class for anything but a pass.
        score: The normalized score, if any.
        threshold: The threshold applied to it, if any.
        capture_issue: For retry_capture, which issue.
    """

    vendor: str
    check: Check
    verdict: Verdict
    reason: str
    error_class: ErrorClass | None = None
    score: Score | None = None
    threshold: Threshold | None = None
    capture_issue: CaptureIssue | None = None

    @property
    def may_fail_over(self) -> bool:
        return self.verdict is Verdict.ERROR and (
            self.error_class is None or self.error_class.may_fail_over
        )

    @property
    def definitive_negative(self) -> bool:
        return self.verdict is Verdict.FAIL


def judge(vendor: str, reading: CheckReading, threshold: Threshold) -> VendorVerdict:
    """Turn one reading into a verdict, applying the policy threshold to a score."""
    check = reading.check
    if reading.failure is not None:
        cls = reading.failure.error_class
        verdict = Verdict.ERROR if cls.answer is None else _VERDICT_OF[cls.answer]
        return VendorVerdict(
            vendor,
            check,
            verdict,
            reading.failure.reason,
            cls,
            capture_issue=reading.failure.capture_issue or _default_issue(cls),
        )
    negative = _NEGATIVE_FOR.get(check, ErrorClass.IDENTITY_MISMATCH)
    answer = reading.answer
    if reading.score is not None and threshold.unpublished(reading.score):
        # Neither a pass nor a definitive negative: the answer's own table does not reach
        # the policy's FAR, so another vendor may still be asked.
        return VendorVerdict(
            vendor,
            check,
            Verdict.ERROR,
            "max_far_outside_answer_calibration",
            ErrorClass.VENDOR_UNAVAILABLE,
            reading.score,
            threshold,
        )
    if reading.score is not None and threshold.source != "vendor_verdict":
        passed = threshold.passes(reading.score)
        reason = "score_meets_threshold" if passed else "score_below_threshold"
    elif answer is not None and answer.passed is not None:
        passed, reason = answer.passed, "vendor_verdict"
    else:
        return VendorVerdict(
            vendor, check, Verdict.ERROR, "no_verdict_in_answer", ErrorClass.VENDOR_UNAVAILABLE
        )
    return VendorVerdict(
        vendor,
        check,
        Verdict.PASS if passed else Verdict.FAIL,
        reason,
        None if passed else negative,
        reading.score,
        threshold,
    )


def _default_issue(cls: ErrorClass) -> CaptureIssue | None:
    return CaptureIssue.OTHER if cls is ErrorClass.CAPTURE_UNUSABLE else None


@attrs.frozen
class CheckVerdict:
    """How a check came out, from the verdicts that decide it.

    Attributes:
        check: The check.
        verdict: The combined verdict.
        reason: Why.
        deciding: The vendor verdicts it rests on.
    """

    check: Check
    verdict: Verdict
    reason: str
    deciding: tuple[VendorVerdict, ...]


def combine(check: Check, rule: CheckPolicy, verdicts: Sequence[VendorVerdict]) -> CheckVerdict:
    """Combine the verdicts gathered for one check under its policy rule."""
    if not verdicts:
        return CheckVerdict(check, Verdict.ERROR, "no_vendor_could_serve", ())
    if rule.mode is Mode.FAILOVER:
        last = verdicts[-1]
        prefix = f"{last.vendor}:"
        reason = last.reason if last.reason.startswith(prefix) else prefix + last.reason
        return CheckVerdict(check, last.verdict, reason, (last,))
    return _combine_all(check, rule, tuple(verdicts))


def _combine_all(
    check: Check, rule: CheckPolicy, verdicts: tuple[VendorVerdict, ...]
) -> CheckVerdict:
    kinds = {v.verdict for v in verdicts}
    passes = [v for v in verdicts if v.verdict is Verdict.PASS]
    fails = [v for v in verdicts if v.verdict is Verdict.FAIL]
    if rule.negative_decides and fails:
        return CheckVerdict(check, Verdict.FAIL, "any_negative_rejects", tuple(fails))
    if fails and passes:
        return CheckVerdict(check, Verdict.REVIEW, "vendors_disagree", verdicts)
    if kinds == {Verdict.PASS}:
        return CheckVerdict(check, Verdict.PASS, "all_vendors_pass", verdicts)
    if kinds == {Verdict.FAIL}:
        return CheckVerdict(check, Verdict.FAIL, "all_vendors_fail", verdicts)
    for verdict in (Verdict.RETRY_CAPTURE, Verdict.REVIEW):
        if verdict in kinds:
            chosen = tuple(v for v in verdicts if v.verdict is verdict)
            return CheckVerdict(check, verdict, chosen[0].reason, chosen)
    if passes or fails:  # some answered, the rest could not: unanimity not reached
        return CheckVerdict(check, Verdict.REVIEW, "incomplete_ensemble", verdicts)
    return CheckVerdict(check, Verdict.ERROR, "no_vendor_answered", verdicts)


def outcome_of(checks: Mapping[Check, CheckVerdict]) -> tuple[Outcome, tuple[str, ...]]:
    """The decision's outcome and its machine-readable reasons."""
    for verdict in _PRECEDENCE:
        hits = [c for c in checks.values() if c.verdict is verdict]
        if hits:
            reasons = tuple(f"{c.check.value}:{c.reason}" for c in hits)
            return _OUTCOME[verdict], reasons
    return Outcome.ERROR, ("no_checks",)
