"""The sentence a decision record gives of its outcome: it must name the real cause.

A record is the audit trail: "no vendor could answer in time" written over a missing video, a
selfie over a vendor's limit or rejected credentials would send whoever reads it the wrong way.
Every check that ended in ``error`` is therefore explained from what actually happened to it:
which vendors were skipped and why, what each vendor asked said, or the deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from kycmux._contract._taxonomy import ErrorClass
from kycmux._decision._verdict import CheckVerdict, Outcome, VendorVerdict, Verdict
from kycmux._model._evidence import Check

if TYPE_CHECKING:
    from kycmux._decision._machine import Skip

__all__ = ["explain"]

_LEADS = {
    Outcome.ACCEPT: "Accepted: every check passed",
    Outcome.REJECT: "Rejected on a definitive negative; no failover after it",
    Outcome.RETRY_CAPTURE: "The capture must be repeated",
    Outcome.REVIEW: "Sent to manual review",
    Outcome.ERROR: "No decision could be made",
}

# What an error class means, said of the vendor ({vendor}) with the reason ({reason}).
_SAID = {
    ErrorClass.CREDENTIALS_REJECTED: "{vendor} rejected our credentials ({reason})",
    ErrorClass.ACCOUNT_UNAVAILABLE: "{vendor} account unavailable ({reason})",
    ErrorClass.RATE_LIMITED: "{vendor} rate limit reached ({reason})",
    ErrorClass.VENDOR_UNAVAILABLE: "{vendor} unavailable ({reason})",
    ErrorClass.REQUEST_INVALID: "{vendor} refused our request as invalid ({reason})",
    ErrorClass.POSSIBLY_BILLED: "{vendor} gave no answer after receiving the request ({reason})",
    ErrorClass.REPLAY_DETECTED: "{vendor} reported a replayed signature ({reason})",
    ErrorClass.PLUGIN_ERROR: "a plugin failed on {vendor}'s call ({reason})",
}

# Reasons kycmux gives itself, before or instead of asking, by their prefix.
_LOCAL = {
    "evidence_missing": "{vendor} needs evidence that was not given: {rest}",
    "local_validation": "{vendor} cannot take the evidence: {rest}",
    "local_config": "{vendor} is misconfigured: {rest}",
    "not_configured": "{vendor} is not configured",
    "check_not_offered": "{vendor} does not offer this check",
    "circuit_open": "{vendor} skipped: its circuit breaker is open",
    "client_rate_limit": "{vendor} skipped: no rate-limit slot before the deadline",
    "challenge_bound": "{vendor} not asked: it cannot honour {rest}'s challenge",
    "max_far_outside_answer_calibration": (
        "{vendor}'s answer published a calibration not reaching the policy's max_far"
        " (allow_extrapolation is off)"
    ),
}


# Which calibration gave a FAR, by ``Score.calibration_source``.
_CALIBRATIONS = {
    "declared": "the declared calibration",
    "answer": "the per-answer calibration",
    "plugin": "the plugin's own calibration",
}
_CHALLENGE_LOST = "challenge_vendor_unavailable"
_CHALLENGE_SPENT = "challenge_spent"


def explain(
    outcome: Outcome,
    results: Mapping[Check, CheckVerdict],
    asked: Mapping[Check, Sequence[VendorVerdict]],
    calls: int,
    skipped: Iterable[Skip],
    deadline: float,
) -> str:
    """One readable account: the outcome, each check with its cause, the number of calls.

    ``asked`` holds every vendor verdict gathered per check, failed-over ones included, so an
    error names each vendor's failure and not only the last.
    """
    skips = tuple(skipped)
    parts = [_part(r, asked.get(c, ()), skips, deadline) for c, r in results.items()]
    return f"{_LEADS[outcome]}. " + "; ".join(parts) + f". {calls} vendor call(s)."


def _part(
    result: CheckVerdict,
    asked: Sequence[VendorVerdict],
    skipped: Sequence[Skip],
    deadline: float,
) -> str:
    head = f"{result.check.value}: {result.verdict.value}"
    if result.verdict is not Verdict.ERROR and result.reason not in (
        _CHALLENGE_LOST,
        _CHALLENGE_SPENT,
    ):
        who = ", ".join(_by_far(v) for v in result.deciding) or "no vendor"
        return f"{head} ({result.reason}; {who})"
    # Vendors passed over before anything was sent first, then what each vendor asked said.
    answered = {v.vendor for v in asked}
    causes = [
        _local(s.vendor, s.reason) or f"{s.vendor}: {s.reason}"
        for s in skipped
        if s.check is result.check and s.vendor not in answered
    ]
    causes += [_said(v) for v in asked if v.verdict is Verdict.ERROR]
    if result.reason == "stopped_by_negative":
        causes.insert(0, "not finished: another check's definitive negative ended the decision")
    if result.reason == _CHALLENGE_LOST:
        bound = result.deciding[-1].vendor
        causes.insert(0, f"the evidence's challenge binds it to {bound}, which could not answer")
    if result.reason == _CHALLENGE_SPENT:
        lost = result.deciding[-1]
        got = (
            f"was still out at {lost.vendor} when the {deadline:g} s deadline passed"
            if lost.reason == "deadline_exceeded"
            else f"reached {lost.vendor} but got no usable answer"
        )
        causes.insert(
            0,
            f"the request carrying the challenge {got}; the vendor may have used the"
            " single-use challenge, so it was not resent and a fresh challenge is needed",
        )
    if result.reason == "deadline_exceeded":
        causes.insert(0, f"no answer within the {deadline:g} s deadline")
    return f"{head} ({'; '.join(causes) or result.reason})"


def _by_far(verdict: VendorVerdict) -> str:
    """The vendor, and for a verdict on a FAR threshold the comparison and the calibration
    that gave the FAR (a per-answer one is not the table the policy was checked against)."""
    score, threshold = verdict.score, verdict.threshold
    if score is None or score.far is None or threshold is None or threshold.raw is not None:
        return verdict.vendor
    if threshold.max_far is None:
        return verdict.vendor
    passed = verdict.verdict is Verdict.PASS
    sign = ("<=" if score.inclusive else "<") if passed else (">" if score.inclusive else ">=")
    source = score.calibration_source or "plugin"
    calibration = _CALIBRATIONS.get(source) or f"the {source} calibration"
    return (
        f"{verdict.vendor}: FAR {score.far:.3g} {sign} max {threshold.max_far:g} by {calibration}"
    )


def _said(verdict: VendorVerdict) -> str:
    reason = verdict.reason
    local = _local(verdict.vendor, reason)
    if local is not None:
        return local
    template = _SAID.get(verdict.error_class) if verdict.error_class else None
    if template is None:
        return f"{verdict.vendor}: {reason}"
    return template.format(vendor=verdict.vendor, reason=reason)


def _local(vendor: str, reason: str) -> str | None:
    kind, _, rest = reason.partition(":")
    template = _LOCAL.get(kind)
    if template is None:
        return None
    return template.format(vendor=vendor, rest=rest.replace(":", ": ", 1))
