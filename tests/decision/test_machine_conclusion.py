"""The decision machine driven by hand: the time-out and the conclusion.

The outcome's precedence, the retry-capture hint, what a time-out relabels (and what it keeps),
and an explanation that names each check's real cause.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from decision.machine_support import (
    ALPHA,
    BETA,
    GAMMA,
    F,
    L,
    R,
    answer,
    ensemble,
    error,
    failed,
    failover,
    group_of,
    passed,
    plan,
    policy,
)
from kycmux import (
    CaptureIssue,
    Check,
    CheckPolicy,
    Classification,
    Combine,
    ErrorClass,
    Outcome,
)
from kycmux.decision import DecisionMachine, VendorVerdict, Verdict

Says = Callable[[str, Check], VendorVerdict]
NO_FACE_HINT = "We could not see your face. Face the camera in good, even light."
NOISY_HINT = "It is too noisy. Move somewhere quieter and try again."


def capture(
    who: str, check: Check, issue: CaptureIssue | None = CaptureIssue.NO_FACE
) -> VendorVerdict:
    return error(who, check, ErrorClass.CAPTURE_UNUSABLE, "NOFACE", issue)


def registry(who: str, check: Check) -> VendorVerdict:
    """The registry's data is unusable: review."""
    return error(who, check, ErrorClass.REGISTRY_UNUSABLE, "REG")


def creds(who: str, check: Check) -> VendorVerdict:
    return error(who, check, ErrorClass.CREDENTIALS_REJECTED, "AUTH")


# -- the conclusion ----------------------------------------------------------------------------

LIVE_SAID, MATCH_SAID = "liveness:alpha:vendor_verdict", "face_match:beta:vendor_verdict"
REGISTRY_SAID = "id_registry_match:gamma:vendor_verdict"


@pytest.mark.parametrize(
    ("says", "outcome", "reasons", "hint"),
    [
        pytest.param((failed, capture, registry), Outcome.REJECT, (LIVE_SAID,), None, id="reject"),
        pytest.param((passed, failed, capture), Outcome.REJECT, (MATCH_SAID,), None, id="reject-2"),
        pytest.param(
            (capture, registry, error),
            Outcome.RETRY_CAPTURE,
            ("liveness:alpha:NOFACE",),
            NO_FACE_HINT,
            id="retry-capture-then",
        ),
        pytest.param(
            (passed, registry, error), Outcome.REVIEW, ("face_match:beta:REG",), None, id="review"
        ),
        pytest.param(
            (passed, passed, error),
            Outcome.ERROR,
            ("id_registry_match:gamma:DOWN",),
            None,
            id="error-then",
        ),
        pytest.param(
            (passed, passed, passed),
            Outcome.ACCEPT,
            (LIVE_SAID, MATCH_SAID, REGISTRY_SAID),
            None,
            id="accept-last",
        ),
    ],
)
def test_outcome_precedence(
    says: tuple[Says, Says, Says], outcome: Outcome, reasons: tuple[str, ...], hint: str | None
) -> None:
    m = plan(
        policy(
            liveness=failover(ALPHA), face_match=failover(BETA), id_registry_match=failover(GAMMA)
        )
    )
    groups = m.start()
    for who, check, say in zip((ALPHA, BETA, GAMMA), (L, F, R), says, strict=True):
        answer(m, group_of(groups, who), say(who, check))
    done = m.conclude(calls=3)
    assert (done.outcome, done.reasons, done.hint) == (outcome, reasons, hint)
    assert done.explanation.endswith(". 3 vendor call(s).")


@pytest.mark.parametrize(
    ("issue", "hint"),
    [
        pytest.param(CaptureIssue.NO_FACE, NO_FACE_HINT, id="no-face"),
        pytest.param(CaptureIssue.TOO_NOISY, NOISY_HINT, id="too-noisy"),
        pytest.param(None, "Please try the capture again.", id="unknown-issue"),
    ],
)
@pytest.mark.parametrize(
    "rule", [failover(ALPHA, BETA), ensemble(ALPHA, BETA)], ids=["failover", "all"]
)
def test_retry_capture_hint(rule: CheckPolicy, issue: CaptureIssue | None, hint: str) -> None:
    m = plan(policy(liveness=rule))
    groups = m.start()
    assert answer(m, group_of(groups, ALPHA), capture(ALPHA, L, issue)).calls == ()
    if len(groups) == 2:  # the ensemble's other member passed: the capture still decides
        answer(m, group_of(groups, BETA), passed(BETA, L))
    done = m.conclude(calls=len(groups))
    assert (done.outcome, done.hint) == (Outcome.RETRY_CAPTURE, hint)
    assert done.explanation.startswith("The capture must be repeated. liveness: retry_capture")


# -- the deadline ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("liveness_says", "verdict", "reason", "outcome"),
    [
        pytest.param(passed, Verdict.PASS, "alpha:vendor_verdict", Outcome.ERROR, id="a-pass"),
        pytest.param(creds, Verdict.ERROR, "alpha:AUTH", Outcome.ERROR, id="an-error"),
        pytest.param(
            capture, Verdict.RETRY_CAPTURE, "alpha:NOFACE", Outcome.RETRY_CAPTURE, id="a-capture"
        ),
    ],
)
def test_time_out_relabels_only_unfinished_checks(
    liveness_says: Says, verdict: Verdict, reason: str, outcome: Outcome
) -> None:
    m = plan(policy(liveness=failover(ALPHA), face_match=failover(BETA)))
    groups = m.start()
    answer(m, group_of(groups, ALPHA), liveness_says(ALPHA, L))
    m.time_out()  # beta never answered
    assert m.unfinished == {F}
    done = m.conclude(calls=2)
    assert (done.checks[L].verdict, done.checks[L].reason) == (verdict, reason)
    assert (done.checks[F].verdict, done.checks[F].reason) == (Verdict.ERROR, "deadline_exceeded")
    assert done.outcome is outcome
    assert "face_match: error (no answer within the 10 s deadline)" in done.explanation


def test_time_out_after_a_failover_names_the_deadline_and_what_came_before() -> None:
    m = plan(policy(liveness=failover(ALPHA, BETA)))
    answer(m, m.start()[0], error(ALPHA, L))  # failed over to beta, which is still out
    m.time_out()
    done = m.conclude(calls=2)
    assert done.reasons == ("liveness:deadline_exceeded",)
    assert done.explanation == (
        "No decision could be made. liveness: error (no answer within the 10 s deadline; "
        "alpha unavailable (alpha:DOWN)). 2 vendor call(s)."
    )


def test_time_out_while_planning_ends_every_check() -> None:
    m = plan(policy(liveness=failover(ALPHA), face_match=failover(BETA)))
    m.time_out()  # the first requests were still being built
    assert m.unfinished == {L, F}
    done = m.conclude(calls=0)
    assert done.reasons == ("liveness:deadline_exceeded", "face_match:deadline_exceeded")
    assert done.explanation == (
        "No decision could be made. liveness: error (no answer within the 10 s deadline); "
        "face_match: error (no answer within the 10 s deadline). 0 vendor call(s)."
    )


ANY, DISAGREE = Combine.ANY_NEGATIVE_REJECTS, Combine.DISAGREEMENT_REVIEWS
INCOMPLETE, TIMED_OUT = "incomplete_ensemble", "deadline_exceeded"


@pytest.mark.parametrize(
    ("combine", "alpha_says", "verdict", "reason"),
    [
        pytest.param(ANY, passed, Verdict.REVIEW, INCOMPLETE, id="one-passed"),
        pytest.param(DISAGREE, passed, Verdict.REVIEW, INCOMPLETE, id="one-passed-disagreement"),
        pytest.param(DISAGREE, failed, Verdict.REVIEW, INCOMPLETE, id="one-failed-disagreement"),
        pytest.param(ANY, None, Verdict.ERROR, TIMED_OUT, id="none-answered"),
    ],
)
def test_an_ensemble_with_a_vendor_out_never_passes(
    combine: Combine, alpha_says: Says | None, verdict: Verdict, reason: str
) -> None:
    m = plan(policy(liveness=ensemble(ALPHA, BETA, combine=combine)))
    groups = m.start()
    if alpha_says is not None:
        answer(m, group_of(groups, ALPHA), alpha_says(ALPHA, L))
    m.time_out()
    assert VendorVerdict(BETA, L, Verdict.ERROR, "deadline_exceeded") in m.verdicts[L]
    result = m.conclude(calls=2).checks[L]
    assert (result.verdict, result.reason) == (verdict, reason)


# -- the explanation names the real cause ------------------------------------------------------


UNSERVED = "no_vendor_could_serve"


def _missing_evidence() -> DecisionMachine:
    return plan(policy(liveness=failover(ALPHA)), {(ALPHA, L): "evidence_missing:video (file)"})


def _not_configured_nor_offered() -> DecisionMachine:
    reasons = {(ALPHA, L): "not_configured", (BETA, L): "check_not_offered"}
    return plan(policy(liveness=failover(ALPHA, BETA)), reasons)


def _local_limit_then_outage() -> DecisionMachine:
    m = plan(policy(liveness=failover(ALPHA, BETA)))
    why = Classification(ErrorClass.REQUEST_INVALID, "local_validation:selfie:at most 1 MB")
    m.refuse(m.first_groups()[0], why)
    answer(m, m.start()[0], error(BETA, L))
    return m


def _plugin_fault() -> DecisionMachine:
    m = plan(policy(liveness=failover(ALPHA)))
    why = Classification(ErrorClass.PLUGIN_ERROR, "plugin_error:fake:build_request:KeyError")
    m.refuse(m.first_groups()[0], why)
    return m


def _circuit_open() -> DecisionMachine:
    m = plan(policy(liveness=failover(ALPHA)))
    [group] = m.start()
    why = Classification(ErrorClass.VENDOR_UNAVAILABLE, "circuit_open")
    answer(m, group, *m.refused(group, why).values())
    return m


@pytest.mark.parametrize(
    ("scenario", "reason", "causes"),
    [
        pytest.param(
            _missing_evidence,
            UNSERVED,
            "alpha needs evidence that was not given: video (file)",
            id="missing-evidence",
        ),
        pytest.param(
            _not_configured_nor_offered,
            UNSERVED,
            "alpha is not configured; beta does not offer this check",
            id="not-configured",
        ),
        pytest.param(
            _local_limit_then_outage,
            "beta:DOWN",
            "alpha cannot take the evidence: selfie: at most 1 MB; beta unavailable (beta:DOWN)",
            id="local-limit",
        ),
        pytest.param(
            _plugin_fault,
            UNSERVED,
            "alpha: plugin_error:fake:build_request:KeyError",
            id="plugin-fault",
        ),
        pytest.param(
            _circuit_open,
            "alpha:circuit_open",
            "alpha skipped: its circuit breaker is open",
            id="circuit-open",
        ),
    ],
)
def test_the_explanation_names_the_cause(
    scenario: Callable[[], DecisionMachine], reason: str, causes: str
) -> None:
    done = scenario().conclude(calls=1)
    assert (done.outcome, done.reasons) == (Outcome.ERROR, (f"liveness:{reason}",))
    lead = "No decision could be made. liveness: error"
    assert done.explanation == f"{lead} ({causes}). 1 vendor call(s)."


def test_a_check_cut_short_by_another_checks_negative_is_not_called_unservable() -> None:
    m = plan(policy(liveness=failover(ALPHA), face_match=failover(BETA)))
    groups = m.start()
    assert answer(m, group_of(groups, ALPHA), failed(ALPHA, L)).ended
    m.done(group_of(groups, BETA))  # the driver cancels beta's call
    done = m.conclude(calls=2)
    assert done.outcome is Outcome.REJECT
    assert done.checks[F].reason != "no_vendor_could_serve"
