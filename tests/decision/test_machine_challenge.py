"""A challenge binds its checks to the vendor that issued it: the machine's rules, table-driven."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from decision.machine_support import (
    ALPHA,
    BETA,
    SPECS,
    L,
    answer,
    error,
    failed,
    failover,
    names,
    passed,
    policy,
)
from kycmux import CaptureIssue, Check, ErrorClass, Outcome
from kycmux.decision import DecisionMachine, VendorVerdict, Verdict

Says = Callable[[str, Check], VendorVerdict]


def _bound(*vendors: str) -> DecisionMachine:
    return DecisionMachine.plan(policy(liveness=failover(*vendors)), SPECS, {}, bound={L: ALPHA})


def test_other_vendors_are_not_candidates_of_a_bound_check() -> None:
    m = _bound(BETA, ALPHA)
    assert names(m.first_groups()) == ["alpha:liveness"]
    assert [(s.vendor, s.reason) for s in m.skipped] == [(BETA, "challenge_bound:alpha")]


def _outage(who: str, check: Check) -> VendorVerdict:
    return error(who, check, ErrorClass.VENDOR_UNAVAILABLE, "503")


def _unread(who: str, check: Check) -> VendorVerdict:
    return error(who, check, ErrorClass.ANSWER_UNREAD, "late")


@pytest.mark.parametrize(
    ("says", "outcome", "reason"),
    [
        (_outage, Outcome.RETRY_CAPTURE, "challenge_vendor_unavailable"),
        (failed, Outcome.REJECT, None),
        (passed, Outcome.ACCEPT, None),
        (_unread, Outcome.ERROR, None),  # it may have been a negative: no new capture
    ],
)
def test_the_bound_vendor_failing_over_is_a_new_capture_never_the_next_vendor(
    says: Says, outcome: Outcome, reason: str | None
) -> None:
    m = _bound(ALPHA, BETA)
    (group,) = m.start()
    step = answer(m, group, says(ALPHA, L))
    assert step.calls == ()  # never BETA
    done = m.conclude(calls=1)
    assert done.outcome is outcome
    if reason == "challenge_vendor_unavailable":
        assert done.reasons == ("liveness:challenge_vendor_unavailable",)
        assert done.hint == CaptureIssue.CHALLENGE_VENDOR_UNAVAILABLE.hint
        assert done.checks[L].verdict is Verdict.RETRY_CAPTURE
        assert "could not answer" in done.explanation
        assert "beta not asked: it cannot honour alpha's challenge" in done.explanation


def test_without_binding_the_same_outage_fails_over() -> None:
    m = DecisionMachine.plan(policy(liveness=failover(ALPHA, BETA)), SPECS, {})
    (group,) = m.start()
    assert names(answer(m, group, _outage(ALPHA, L)).calls) == ["beta:liveness"]


def test_a_bound_vendor_not_configured_is_a_new_capture() -> None:
    m = DecisionMachine.plan(
        policy(liveness=failover(ALPHA, BETA)), SPECS, {(ALPHA, L): "not_configured"},
        bound={L: ALPHA},
    )  # fmt: skip
    assert m.first_groups() == []
    assert m.conclude(calls=0).outcome is Outcome.RETRY_CAPTURE
