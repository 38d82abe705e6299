"""The decision machine on one attempt: judging readings under the policy, and retrying.

``judge`` turns an attempt's readings into verdicts with the policy's thresholds (published
FAR, raw, the vendor's recommendation or its own yes/no), comparing as the vendor documents
(``ScoreSpec.inclusive``); ``retry_delay`` says whether and when to ask the same vendor again.
"""

from __future__ import annotations

import random

import pytest

from decision.machine_support import (
    ALPHA,
    BETA,
    SPECS,
    F,
    L,
    failover,
    plan,
    policy,
    reading,
    vendor,
)
from kycmux import (
    CaptureIssue,
    Check,
    CheckPolicy,
    CheckReading,
    Classification,
    ErrorClass,
    RetryPolicy,
    Threshold,
    VendorSettings,
    VendorSpec,
)
from kycmux.decision import Group, VendorVerdict, Verdict

STRICT = vendor(ALPHA, inclusive=False)  # "greater than" where the others say "at least"
FAR_4 = Threshold("max_far", max_far=1e-4)
FAR_2 = Threshold("max_far", max_far=1e-2)
ADVISED = Threshold("vendor_recommended", raw=0.5)
RAW = Threshold("raw", raw=0.8)
SAID = Threshold("vendor_verdict")
MISMATCH, NOT_LIVE = ErrorClass.IDENTITY_MISMATCH, ErrorClass.NOT_LIVE
PASS, FAIL = Verdict.PASS, Verdict.FAIL
MET, MISSED, VENDOR = "score_meets_threshold", "score_below_threshold", "vendor_verdict"


RAW_08 = failover(ALPHA, raw={ALPHA: 0.8})
NO_VERDICT = (Verdict.ERROR, "no_verdict_in_answer", ErrorClass.VENDOR_UNAVAILABLE, None)


def case(
    name: str,
    check: Check,
    raw: float | None,
    expected: tuple[object, ...],
    *,
    rule: CheckPolicy | None = None,
    spec: VendorSpec = SPECS[ALPHA],
    said: bool | None = None,
) -> object:
    """``spec``'s reading of ``raw`` (and/or its yes/no ``said``), judged under ``rule``."""
    answered = reading(check, raw, said=said, spec=spec)
    return pytest.param(rule or failover(ALPHA), spec, answered, expected, id=name)


@pytest.mark.parametrize(
    ("rule", "spec", "said", "expected"),
    [
        case("max-far-met-at-a-published-point", F, 0.7, (PASS, MET, None, FAR_4)),
        case("max-far-missed", F, 0.69, (FAIL, MISSED, MISMATCH, FAR_4)),
        case(
            "policy-max-far", F, 0.6, (PASS, MET, None, FAR_2), rule=failover(ALPHA, max_far=1e-2)
        ),
        case("max-far-strict", F, 0.7, (FAIL, MISSED, MISMATCH, FAR_4), spec=STRICT),
        case("raw-over-calibration", F, 0.75, (FAIL, MISSED, MISMATCH, RAW), rule=RAW_08),
        case("raw-inclusive", F, 0.8, (PASS, MET, None, RAW), rule=RAW_08),
        case("raw-strict", F, 0.8, (FAIL, MISSED, MISMATCH, RAW), rule=RAW_08, spec=STRICT),
        case("score-over-the-vendor-yes", F, 0.69, (FAIL, MISSED, MISMATCH, FAR_4), said=True),
        case("attack-below-advised", L, 0.3, (PASS, MET, None, ADVISED)),
        case("attack-inclusive", L, 0.5, (PASS, MET, None, ADVISED)),
        case("attack-strict", L, 0.5, (FAIL, MISSED, NOT_LIVE, ADVISED), spec=STRICT),
        case("attack-above-advised", L, 0.6, (FAIL, MISSED, NOT_LIVE, ADVISED)),
        case("vendor-says-yes", L, None, (PASS, VENDOR, None, SAID), said=True),
        case("vendor-says-no", L, None, (FAIL, VENDOR, NOT_LIVE, SAID), said=False),
        case("says-nothing", L, None, NO_VERDICT),
    ],
)
def test_judge_thresholds(
    rule: CheckPolicy, spec: VendorSpec, said: CheckReading, expected: tuple[object, ...]
) -> None:
    m = plan(policy(**{said.check.value: rule}), specs={ALPHA: spec})
    group = Group(ALPHA, "verify", frozenset({said.check}), "primary")
    verdict = m.judge(group, {said.check: said})[said.check]
    assert (verdict.verdict, verdict.reason, verdict.error_class, verdict.threshold) == expected
    assert verdict.score == said.score


CAPTURE, NOISY = ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.TOO_NOISY


@pytest.mark.parametrize(
    ("cls", "issue", "verdict", "capture_issue"),
    [
        pytest.param(CAPTURE, NOISY, Verdict.RETRY_CAPTURE, NOISY, id="capture"),
        pytest.param(
            CAPTURE, None, Verdict.RETRY_CAPTURE, CaptureIssue.OTHER, id="capture-no-issue"
        ),
        pytest.param(ErrorClass.REGISTRY_UNUSABLE, None, Verdict.REVIEW, None, id="registry"),
        pytest.param(ErrorClass.NOT_LIVE, None, Verdict.FAIL, None, id="not-live"),
        pytest.param(ErrorClass.ANSWER_UNREAD, None, Verdict.ERROR, None, id="answer-unread"),
        pytest.param(ErrorClass.RATE_LIMITED, None, Verdict.ERROR, None, id="rate-limited"),
    ],
)
def test_judge_failures(
    cls: ErrorClass,
    issue: CaptureIssue | None,
    verdict: Verdict,
    capture_issue: CaptureIssue | None,
) -> None:
    m = plan(policy(liveness=failover(ALPHA)))
    [group] = m.start()
    failure = CheckReading(L, None, Classification(cls, "alpha:E1", issue))
    said = m.judge(group, {L: failure})[L]
    assert said == VendorVerdict(ALPHA, L, verdict, "alpha:E1", cls, capture_issue=capture_issue)


# -- retries -----------------------------------------------------------------------------------

FIXED = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=2.0, jitter="none")
NOT_RETRIED = (  # everything but rate_limited, vendor_unavailable and replay_detected
    ErrorClass.CREDENTIALS_REJECTED,
    ErrorClass.ACCOUNT_UNAVAILABLE,
    ErrorClass.REQUEST_INVALID,
    ErrorClass.CAPTURE_UNUSABLE,
    ErrorClass.NOT_LIVE,
    ErrorClass.IDENTITY_MISMATCH,
    ErrorClass.REGISTRY_UNUSABLE,
    ErrorClass.POSSIBLY_BILLED,
    ErrorClass.PLUGIN_ERROR,
    ErrorClass.ANSWER_UNREAD,
)


def failure(cls: ErrorClass, retry_after: float | None = None) -> Classification:
    return Classification(cls, f"alpha:{cls.value}", retry_after=retry_after)


@pytest.mark.parametrize(
    ("said", "attempt", "remaining", "delay"),
    [
        pytest.param(None, 1, 10.0, None, id="success"),
        *(
            pytest.param(failure(cls), 1, 10.0, None, id=f"{cls.value}-not-retried")
            for cls in NOT_RETRIED
        ),
        pytest.param(failure(ErrorClass.VENDOR_UNAVAILABLE), 1, 10.0, 0.5, id="first-backoff"),
        pytest.param(failure(ErrorClass.VENDOR_UNAVAILABLE), 2, 10.0, 1.0, id="doubles"),
        pytest.param(failure(ErrorClass.VENDOR_UNAVAILABLE), 3, 10.0, None, id="attempts-spent"),
        pytest.param(failure(ErrorClass.VENDOR_UNAVAILABLE), 1, 0.55, None, id="no-time-left"),
        pytest.param(failure(ErrorClass.REPLAY_DETECTED), 1, 10.0, 0.5, id="replay-detected"),
        pytest.param(failure(ErrorClass.RATE_LIMITED, 3.0), 1, 10.0, 3.0, id="retry-after"),
        pytest.param(failure(ErrorClass.RATE_LIMITED, 0.2), 1, 10.0, 0.5, id="retry-after-short"),
        pytest.param(failure(ErrorClass.RATE_LIMITED, 9.95), 1, 10.0, None, id="after-deadline"),
    ],
)
def test_retry_delay(
    said: Classification | None, attempt: int, remaining: float, delay: float | None
) -> None:
    m = plan(policy(liveness=failover(ALPHA), vendors={ALPHA: VendorSettings(retry=FIXED)}))
    [group] = m.start()
    assert m.retry_delay(group, said, attempt, remaining, random.Random(0)) == delay


def test_retry_delay_with_default_jitter() -> None:
    m = plan(policy(liveness=failover(BETA), vendors={ALPHA: VendorSettings(retry=FIXED)}))
    [group] = m.start()  # beta: the default policy (full jitter under 0.1 s, 3 attempts)
    down = failure(ErrorClass.VENDOR_UNAVAILABLE)
    assert m.retry_delay(group, down, 1, 10.0, random.Random(0)) == pytest.approx(0.0844421852)
    assert m.retry_delay(group, down, 3, 10.0, random.Random(0)) is None
    slow = failure(ErrorClass.RATE_LIMITED, retry_after=1.5)
    assert m.retry_delay(group, slow, 1, 10.0, random.Random(0)) == 1.5
