"""The one place records are built: attempts, skips, checks, decisions, locks and shadows.

Everything a record holds is masked already: subjects as keyed hashes, evidence as kinds and
forms, vendor messages scrubbed of what we sent (``kycmux._transport``), plugin faults by type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from kycmux._contract._vendor import VendorSpec
from kycmux._decision._machine import Conclusion, Group, Skip
from kycmux._decision._policy import Policy
from kycmux._decision._verdict import CheckVerdict, Outcome, VendorVerdict, Verdict
from kycmux._model._evidence import Check, Evidence, EvidenceKind, Media, MediaForm
from kycmux._records._record import (
    AttemptRecord,
    CheckRecord,
    DecisionRecord,
    ShadowRecord,
    SkipRecord,
)
from kycmux._resilience import Lock, LockoutSettings, LockReason
from kycmux._transport._outcome import CallOutcome

if TYPE_CHECKING:
    from kycmux._experiments._experiment import Assignment

__all__ = [
    "attempt_record",
    "cancelled_attempt",
    "challenge_audit",
    "decision_record",
    "degraded_record",
    "refused_record",
    "shadow_record",
    "skip_records",
    "with_experiments",
]


def attempt_record(
    group: Group, outcome: CallOutcome, verdicts: Mapping[Check, VendorVerdict]
) -> AttemptRecord:
    """One attempt that reached the vendor (or tried to)."""
    result, failure = outcome.result, outcome.failure
    return AttemptRecord(
        vendor=group.vendor,
        operation=group.operation,
        checks=_checks(group),
        attempt=outcome.attempt,
        role=group.role if outcome.attempt == 1 else "retry",
        started_at=outcome.started_at,
        latency_ms=round(outcome.latency * 1000, 3),
        http_status=outcome.http_status,
        error_class=failure.error_class.value if failure else None,
        reason=failure.reason if failure else _first_non_pass(verdicts.values()),
        vendor_code=result.code if result else None,
        vendor_message=result.message if result else None,
        vendor_request_id=result.request_id if result else None,
        possibly_billed=outcome.possibly_billed,
        verdicts={c.value: v.verdict.value for c, v in verdicts.items()},
        scores={c.value: v.score.as_dict() for c, v in verdicts.items() if v.score},
        capture_issue=_first_issue(verdicts.values()),
        plugin=outcome.fault.as_dict() if outcome.fault else None,
    )


def cancelled_attempt(group: Group, attempt: int, started: float, now: float) -> AttemptRecord:
    """An attempt cancelled mid-flight (a hedge lost, the decision ended or timed out)."""
    return AttemptRecord(
        vendor=group.vendor,
        operation=group.operation,
        checks=_checks(group),
        attempt=attempt,
        role=group.role,
        started_at=started,
        latency_ms=round((now - started) * 1000, 3),
        reason="cancelled",
        # Cancelled mid-flight: the request may have reached the vendor.
        possibly_billed=True,
    )


def skip_records(skipped: Iterable[Skip]) -> tuple[SkipRecord, ...]:
    return tuple(SkipRecord(s.vendor, s.check.value, s.reason, s.fault) for s in skipped)


def decision_record(
    *,
    request_id: str,
    started_at: float,
    duration: float,
    policy: Policy,
    subject: str | None,
    evidence: Evidence,
    conclusion: Conclusion,
    attempts: Sequence[AttemptRecord],
    skipped: Iterable[Skip],
    challenge: Mapping[str, Any] | None = None,
) -> DecisionRecord:
    """The record of a decision that ran."""
    return DecisionRecord(
        request_id=request_id,
        started_at=started_at,
        duration_ms=round(duration * 1000, 3),
        policy=policy.name,
        policy_hash=policy.digest(),
        subject=subject,
        evidence=evidence_summary(evidence),
        outcome=conclusion.outcome.value,
        reasons=conclusion.reasons,
        explanation=conclusion.explanation,
        hint=conclusion.hint,
        checks=tuple(_check_record(v) for v in conclusion.checks.values()),
        attempts=tuple(attempts),
        skipped=skip_records(skipped),
        challenge=challenge,
    )


def challenge_audit(
    evidence: Evidence, attempts: Iterable[AttemptRecord], spec: Callable[[str], VendorSpec]
) -> dict[str, Any] | None:
    """What the record says of the challenge: the vendor's (never its digits), or the vendor
    that was sent the caller's own digits for a check it issues challenges for (which its
    plugin allows only under an explicit opt-in)."""
    if evidence.challenge is not None:
        return evidence.challenge.audit()
    if evidence.digits is None:
        return None
    # Any attempt counts, a cancelled one too: the digits may have left with it.
    for attempt in attempts:
        declared = spec(attempt.vendor).challenge
        if declared is not None and declared.checks & {Check(c) for c in attempt.checks}:
            return {"source": "caller", "vendor": attempt.vendor, "kind": declared.kind.value}
    return None


def refused_record(
    *,
    request_id: str,
    started_at: float,
    policy: Policy,
    subject: str | None,
    evidence: Evidence,
    duration: float,
    lock: Lock | None,
    settings: LockoutSettings | None,
) -> DecisionRecord:
    """The record of a decision refused locally, no vendor asked: the subject is locked out
    (``lock``, under ``settings``), or, with no ``lock``, the lockout's shared store did not
    answer and the policy's lockout fails closed."""
    degraded: tuple[str, ...] = ()
    if lock is None or settings is None:
        outcome, reason, degraded = Outcome.ERROR, "lockout_unavailable", ("lockout",)
        explanation = (
            "Refused locally: the shared state store holding subject lockout did not answer, "
            'and this policy\'s lockout fails closed (lockout.unavailable = "closed"); no '
            "vendor was asked. Try again shortly."
        )
    else:
        outcome, reason = Outcome.REJECT, "subject_locked"
        why = (
            f"{settings.limit} consecutive definitive failures"
            if lock.reason is LockReason.DEFINITIVE_FAILURES
            else f"{settings.capture_limit} unusable captures, each within "
            f"{settings.cooldown:g} s of the last"
        )
        explanation = (
            f"Refused locally: {why} for this subject; no vendor was asked. "
            f"Cool-down ends in {lock.remaining:.0f} s."
        )
    return DecisionRecord(
        request_id=request_id,
        started_at=started_at,
        duration_ms=duration * 1000,
        policy=policy.name,
        policy_hash=policy.digest(),
        subject=subject,
        evidence=evidence_summary(evidence),
        outcome=outcome.value,
        reasons=(reason,),
        explanation=explanation,
        degraded=degraded,
    )


def degraded_record(record: DecisionRecord, parts: Iterable[str]) -> DecisionRecord:
    """``record`` with the shared-state parts that fell back during its decision listed in
    ``degraded``, and what that meant said in its explanation."""
    named = sorted(parts)
    said = [_FELL_BACK[part] for part in named if part in _FELL_BACK]
    explanation = record.explanation
    if said and record.reasons != ("lockout_unavailable",):  # that one says it already
        explanation += " The shared state store did not answer: " + "; ".join(said) + "."
    return attrs.evolve(record, degraded=tuple(named), explanation=explanation)


_FELL_BACK = {
    "breaker_outcome": "a call's outcome did not reach the shared breaker",
    "breaker_and_rate_limit": "this process's own breaker and rate limit were used",
    "rate_limit": "this process's own rate limit was used",
    "retry_budget": "this process's own retry budget was used",
    "lockout": 'the subject lockout was not applied (lockout.unavailable = "open")',
    "lockout_count": "this decision was not counted toward the subject lockout",
}


def shadow_record(
    experiment: str,
    vendor: str,
    status: str,
    *,
    conclusion: Conclusion | None = None,
    reasons: tuple[str, ...] = (),
    outcome: str | None = None,
    duration: float | None = None,
    attempts: Sequence[AttemptRecord] = (),
    skipped: Iterable[Skip] = (),
) -> ShadowRecord:
    """A shadow candidate's part in a decision, concluded or not."""
    if conclusion is not None:
        outcome, reasons = conclusion.outcome.value, conclusion.reasons
    return ShadowRecord(
        experiment,
        vendor,
        status,
        outcome=outcome,
        reasons=reasons,
        duration_ms=None if duration is None else round(duration * 1000, 3),
        checks=()
        if conclusion is None
        else tuple(_check_record(v) for v in conclusion.checks.values()),
        attempts=tuple(attempts),
        skipped=skip_records(skipped),
    )


# Every kind with its name and whether it is text, read once: iterating the enum and its
# ``.value`` properties cost more than the summary itself (it is built for every decision).
_KINDS = tuple((kind, str(kind._value_), kind.is_text) for kind in EvidenceKind)


def evidence_summary(evidence: Evidence) -> dict[str, str]:
    """Which evidence was given and in which form; never its content."""
    summary = {}
    for kind, name, text in _KINDS:
        value = evidence.get(kind)
        if value is not None:
            # As ``Evidence.media_form``: text is given as a (file-less) value.
            summary[name] = "present" if text else _form(value)
    return summary


def _form(value: Media | str) -> str:
    return str((MediaForm.FILE if isinstance(value, str) else value.form)._value_)


def _check_record(result: CheckVerdict) -> CheckRecord:
    return CheckRecord(
        check=result.check.value,
        verdict=result.verdict.value,
        vendors=tuple(v.vendor for v in result.deciding),
        reason=result.reason,
        scores={
            v.vendor: {
                **v.score.as_dict(),
                "threshold": v.threshold.as_dict() if v.threshold else None,
            }
            for v in result.deciding
            if v.score is not None
        },
        error_classes={v.vendor: v.error_class.value for v in result.deciding if v.error_class},
    )


def _checks(group: Group) -> tuple[str, ...]:
    return tuple(sorted(c.value for c in group.checks))


def _first_non_pass(verdicts: Iterable[VendorVerdict]) -> str | None:
    return next((v.reason for v in verdicts if v.verdict is not Verdict.PASS), None)


def _first_issue(verdicts: Iterable[VendorVerdict]) -> str | None:
    return next((v.capture_issue.value for v in verdicts if v.capture_issue), None)


def with_experiments(
    record: DecisionRecord, assignment: Assignment | None, shadowed: tuple[ShadowRecord, ...]
) -> DecisionRecord:
    """``record`` with the experiment arm it was decided under and its shadows' answers."""
    if assignment is None and not shadowed:
        return record
    return attrs.evolve(
        record, experiment=assignment.as_record() if assignment else None, shadow=shadowed
    )
