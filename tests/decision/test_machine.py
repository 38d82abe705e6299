"""The decision machine driven by hand: planning, refusals, absorbing, hedging.

No network, no clock, no event loop: each test feeds the machine what a call would have
produced and checks the actions it asks for (see ``kycmux._engine._driver`` for the real
driver). Judging and retries: ``test_machine_attempts.py``; outcomes, the time-out and
explanations: ``test_machine_conclusion.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from decision.machine_support import (
    ALPHA,
    BETA,
    GAMMA,
    SPECS,
    F,
    L,
    answer,
    ensemble,
    error,
    failed,
    failover,
    group_of,
    names,
    passed,
    plan,
    policy,
    reading,
    vendor,
)
from kycmux import (
    Check,
    CheckOffer,
    CheckPolicy,
    Classification,
    Combine,
    ErrorClass,
    Evidence,
    EvidenceKind,
    MediaForm,
    Need,
    Outcome,
    Threshold,
    VendorSpec,
)
from kycmux.decision import (
    DecisionMachine,
    Group,
    Skip,
    Step,
    VendorVerdict,
    Verdict,
    ineligible,
    judge,
)
from kycmux.exceptions import InvalidEvidenceError

ID_NUMBER = "11010519491231002X"  # valid under GB 11643 (MOD 11-2 check digit X)
LIMITS = {ALPHA: "at most 1 MB", BETA: "at most 2 MB"}
PLUGIN = Classification(ErrorClass.PLUGIN_ERROR, "plugin_error:fake:build_request:KeyError")
Says = Callable[[str, Check], VendorVerdict]
FAULT = {"hook": "build_request", "plugin": "fake", "distribution": None, "exception": "KeyError"}


def evidence_refusal(who: str) -> tuple[Classification, InvalidEvidenceError]:
    """What the driver gets when ``who``'s local limits refuse the selfie."""
    reason = f"local_validation:selfie:{LIMITS[who]}"
    error = InvalidEvidenceError("selfie", LIMITS[who], vendor=who)
    return Classification(ErrorClass.REQUEST_INVALID, reason), error


# -- planning ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "first"),
    [
        pytest.param({"liveness": failover(BETA, ALPHA)}, ["beta:liveness"], id="failover-first"),
        pytest.param(
            {"liveness": failover(ALPHA, BETA), "face_match": failover(BETA, ALPHA)},
            ["alpha:liveness", "beta:face_match"],
            id="each-check-its-own-first",
        ),
        pytest.param(
            {"liveness": failover(ALPHA, BETA), "face_match": failover(ALPHA, GAMMA)},
            ["alpha:face_match+liveness"],
            id="one-call-serves-two-checks-of-one-operation",
        ),
        pytest.param(
            {"liveness": failover(ALPHA), "id_registry_match": failover(ALPHA)},
            ["alpha:id_registry_match", "alpha:liveness"],
            id="another-operation-another-call",
        ),
        pytest.param(
            {"liveness": ensemble(ALPHA, BETA, GAMMA)},
            ["alpha:liveness", "beta:liveness", "gamma:liveness"],
            id="all-mode-asks-every-vendor",
        ),
        pytest.param(
            {"liveness": ensemble(ALPHA, BETA), "face_match": failover(BETA)},
            ["alpha:liveness", "beta:face_match+liveness"],
            id="ensemble-and-failover-share-a-call",
        ),
    ],
)
def test_first_calls(rules: dict[str, CheckPolicy], first: list[str]) -> None:
    m = plan(policy(**rules))
    assert names(m.first_groups()) == first
    started = m.start()
    assert names(started) == first
    assert {g.role for g in started} == {"primary"}


def test_a_shadow_machine_labels_its_calls() -> None:
    m = DecisionMachine.plan(policy(liveness=failover(ALPHA)), SPECS, {}, role="shadow")
    assert m.start() == [Group(ALPHA, "verify", frozenset({L}), "shadow")]


URL_ONLY = attrs.evolve(
    vendor(ALPHA), offers=(CheckOffer(L, "verify", (Need(EvidenceKind.VIDEO, {MediaForm.URL}),)),)
)


@pytest.mark.parametrize(
    ("check", "configured", "alpha", "dropped", "reasons", "first"),
    [
        pytest.param(
            "liveness", [BETA], vendor(ALPHA), [], {ALPHA: "not_configured"}, ["beta:liveness"],
            id="not-configured",
        ),
        pytest.param(
            "liveness", [ALPHA, BETA], vendor(ALPHA, [F]), [], {ALPHA: "check_not_offered"},
            ["beta:liveness"], id="check-not-offered",
        ),
        pytest.param(
            "liveness", [ALPHA, BETA], URL_ONLY, [], {ALPHA: "evidence_missing:video (url)"},
            ["beta:liveness"], id="evidence-in-a-form-alpha-does-not-take",
        ),
        pytest.param(
            "face_match", [ALPHA, BETA], vendor(ALPHA), ["reference_photo"],
            dict.fromkeys([ALPHA, BETA], "evidence_missing:reference_photo (file)"), [],
            id="media-missing",
        ),
        pytest.param(
            "id_registry_match", [ALPHA, BETA], vendor(ALPHA), ["id_number", "id_name"],
            dict.fromkeys([ALPHA, BETA], "evidence_missing:id_number,id_name"), [],
            id="text-missing",
        ),
    ],
)  # fmt: skip
def test_ineligible_vendors_are_skipped_with_why(
    png_file: Path,
    mp4_file: Path,
    check: str,
    configured: list[str],
    alpha: VendorSpec,
    dropped: list[str],
    reasons: dict[str, str],
    first: list[str],
) -> None:
    given = {"selfie": png_file, "reference_photo": png_file, "video": mp4_file}
    given |= {"id_number": ID_NUMBER, "id_name": "张三"}
    evidence = Evidence(**{k: v for k, v in given.items() if k not in dropped})
    pol, specs = policy(**{check: failover(ALPHA, BETA)}), {ALPHA: alpha, BETA: SPECS[BETA]}
    found = ineligible(pol, specs, configured, evidence)
    assert found == {(who, Check(check)): why for who, why in reasons.items()}
    m = plan(pol, found, specs)
    assert m.skipped == [Skip(who, Check(check), why) for who, why in reasons.items()]
    assert names(m.first_groups()) == first


# -- refusals before anything is sent ----------------------------------------------------------


def test_failover_passes_over_a_refusing_vendor() -> None:
    m = plan(policy(liveness=failover(ALPHA, BETA, GAMMA)))
    [first] = m.first_groups()
    assert m.refuse(first, PLUGIN, fault=FAULT) is True
    assert names(m.first_groups()) == ["beta:liveness"]
    assert m.skipped == [Skip(ALPHA, L, PLUGIN.reason, FAULT)]
    [group] = m.start()
    assert names(answer(m, group, error(BETA, L)).calls) == ["gamma:liveness"]  # never alpha


def test_all_mode_keeps_a_refusing_vendor_as_its_unanswered_vote() -> None:
    m = plan(policy(liveness=ensemble(ALPHA, BETA)))
    why, limit = evidence_refusal(ALPHA)
    assert m.refuse(group_of(m.first_groups(), ALPHA), why, limit) is False
    assert names(m.first_groups()) == ["alpha:liveness", "beta:liveness"]
    assert m.unservable_evidence() is None
    groups = m.start()
    # Called, alpha's cached refusal comes back as its verdict (the driver calls ``refused``).
    vote = m.refused(group_of(groups, ALPHA), why)
    assert vote == {L: VendorVerdict(ALPHA, L, Verdict.ERROR, why.reason, why.error_class)}
    assert answer(m, group_of(groups, ALPHA), vote[L]) == Step(ended=False)
    answer(m, group_of(groups, BETA), passed(BETA, L))
    done = m.conclude(calls=1)
    assert (done.outcome, done.reasons) == (Outcome.REVIEW, ("liveness:incomplete_ensemble",))


@pytest.mark.parametrize(
    ("rule", "refusals", "unservable"),
    [
        pytest.param(failover(ALPHA, BETA), ["evidence", "evidence"], True, id="failover-all"),
        pytest.param(failover(ALPHA, BETA), ["evidence"], False, id="failover-one-left"),
        pytest.param(failover(ALPHA, BETA), ["evidence", "plugin"], False, id="failover-a-fault"),
        pytest.param(failover(ALPHA, BETA), ["plugin", "evidence"], False, id="failover-fault-1st"),
        pytest.param(ensemble(ALPHA, BETA), ["evidence", "evidence"], True, id="all-mode-all"),
        pytest.param(ensemble(ALPHA, BETA), ["evidence"], False, id="all-mode-one-left"),
        pytest.param(ensemble(ALPHA, BETA), ["evidence", "plugin"], False, id="all-mode-a-fault"),
    ],
)
def test_unservable_evidence(rule: CheckPolicy, refusals: list[str], unservable: bool) -> None:
    m = plan(policy(liveness=rule))
    for who, kind in zip((ALPHA, BETA), refusals, strict=False):
        group = group_of(m.first_groups(), who)
        if kind == "evidence":
            m.refuse(group, *evidence_refusal(who))
        else:
            m.refuse(group, PLUGIN, fault=FAULT)
    refused = m.unservable_evidence()
    if not unservable:
        assert refused is None
        return
    assert refused is not None
    assert refused.field == "selfie"
    assert str(refused) == (
        "selfie: no vendor of policy 'p' can take it for liveness "
        "(alpha: selfie: at most 1 MB; beta: selfie: at most 2 MB)"
    )


def test_a_vendor_refused_twice_for_the_same_evidence_counts_once() -> None:
    m = plan(policy(liveness=failover(ALPHA, BETA), face_match=ensemble(ALPHA, BETA)))
    why, limit = evidence_refusal(ALPHA)
    assert m.refuse(group_of(m.first_groups(), ALPHA), why, limit) is True
    # Liveness moved to beta; alpha is now asked for face match alone: a new request, which
    # the driver builds and alpha's limit refuses again.
    assert names(m.first_groups()) == ["alpha:face_match", "beta:face_match+liveness"]
    m.refuse(group_of(m.first_groups(), ALPHA), why, limit)
    assert m.unservable_evidence() is None  # beta takes the selfie


# -- absorbing a call's verdicts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "step"),
    [
        pytest.param(failover(ALPHA, BETA), Step(ended=True), id="failover"),
        pytest.param(ensemble(ALPHA, BETA), Step(ended=True), id="any-negative-rejects"),
        pytest.param(
            ensemble(ALPHA, BETA, combine=Combine.DISAGREEMENT_REVIEWS),
            Step(ended=False),
            id="disagreement-reviews",
        ),
    ],
)
def test_a_definitive_negative_ends_where_one_negative_decides(
    rule: CheckPolicy, step: Step
) -> None:
    m = plan(policy(liveness=rule))
    assert answer(m, group_of(m.start(), ALPHA), failed(ALPHA, L)) == step


@pytest.mark.parametrize(
    ("beta_says", "verdict", "reason"),
    [
        pytest.param(passed, Verdict.REVIEW, "vendors_disagree", id="disagree"),
        pytest.param(failed, Verdict.FAIL, "all_vendors_fail", id="agree"),
    ],
)
def test_disagreement_reviews(beta_says: Says, verdict: Verdict, reason: str) -> None:
    m = plan(policy(liveness=ensemble(ALPHA, BETA, combine=Combine.DISAGREEMENT_REVIEWS)))
    groups = m.start()
    answer(m, group_of(groups, ALPHA), failed(ALPHA, L))
    assert answer(m, group_of(groups, BETA), beta_says(BETA, L)) == Step(ended=False)
    result = m.conclude(calls=2).checks[L]
    assert (result.verdict, result.reason) == (verdict, reason)


NO_VERDICT = judge(ALPHA, reading(L), Threshold("vendor_verdict"))
MOVE_ON = (  # the classes after which the next vendor is asked
    ErrorClass.CREDENTIALS_REJECTED,
    ErrorClass.ACCOUNT_UNAVAILABLE,
    ErrorClass.RATE_LIMITED,
    ErrorClass.VENDOR_UNAVAILABLE,
    ErrorClass.REQUEST_INVALID,
    ErrorClass.POSSIBLY_BILLED,
    ErrorClass.REPLAY_DETECTED,
    ErrorClass.PLUGIN_ERROR,
)


@pytest.mark.parametrize(
    ("said", "calls"),
    [
        *(pytest.param(error(ALPHA, L, cls), ["beta:liveness"], id=cls.value) for cls in MOVE_ON),
        pytest.param(NO_VERDICT, ["beta:liveness"], id="no_verdict_in_answer"),
        pytest.param(error(ALPHA, L, ErrorClass.CAPTURE_UNUSABLE), [], id="capture_unusable"),
        pytest.param(error(ALPHA, L, ErrorClass.ANSWER_UNREAD), [], id="answer_unread"),
        pytest.param(error(ALPHA, L, ErrorClass.REGISTRY_UNUSABLE), [], id="registry_unusable"),
        pytest.param(passed(ALPHA, L), [], id="pass"),
    ],
)
def test_failover_after_a_failure(said: VendorVerdict, calls: list[str]) -> None:
    m = plan(policy(liveness=failover(ALPHA, BETA)))
    step = answer(m, m.start()[0], said)
    assert (step.ended, names(step.calls)) == (False, calls)
    assert {c.role for c in step.calls} <= {"failover"}


@pytest.mark.parametrize(
    ("face_match", "face_says", "calls"),
    [
        pytest.param(failover(ALPHA, BETA), error, ["beta:face_match+liveness"], id="share-a-call"),
        pytest.param(
            failover(ALPHA, GAMMA), error, ["beta:liveness", "gamma:face_match"], id="apart"
        ),
        pytest.param(failover(ALPHA, BETA), passed, ["beta:liveness"], id="only-the-failed-one"),
    ],
)
def test_checks_moving_together(face_match: CheckPolicy, face_says: Says, calls: list[str]) -> None:
    m = plan(policy(liveness=failover(ALPHA, BETA), face_match=face_match))
    [group] = m.start()
    step = answer(m, group, error(ALPHA, L), face_says(ALPHA, F))
    assert names(step.calls) == calls


def test_no_next_vendor_ends_the_check_with_its_error() -> None:
    m = plan(policy(liveness=failover(ALPHA, BETA)))
    [to_beta] = answer(m, m.start()[0], error(ALPHA, L)).calls
    creds = error(BETA, L, ErrorClass.CREDENTIALS_REJECTED, "AUTH")
    assert answer(m, to_beta, creds) == Step(ended=False)
    done = m.conclude(calls=2)
    assert done.checks[L].deciding == (creds,)
    assert (done.outcome, done.reasons) == (Outcome.ERROR, ("liveness:beta:AUTH",))
    assert done.explanation == (
        "No decision could be made. liveness: error (alpha unavailable (alpha:DOWN); "
        "beta rejected our credentials (beta:AUTH)). 2 vendor call(s)."
    )


# -- hedging -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hedge_after", "rules", "partner"),
    [
        pytest.param(None, {"liveness": failover(ALPHA, BETA)}, None, id="not-opted-in"),
        pytest.param(1.0, {"liveness": failover(ALPHA, BETA)}, (BETA, "verify"), id="next-vendor"),
        pytest.param(
            1.0,
            {"liveness": failover(ALPHA, BETA), "face_match": failover(ALPHA, BETA)},
            (BETA, "verify"),
            id="every-check-moves-to-beta",
        ),
        pytest.param(
            1.0,
            {"liveness": failover(ALPHA, BETA), "face_match": failover(ALPHA, GAMMA)},
            None,
            id="checks-move-apart",
        ),
        pytest.param(1.0, {"liveness": failover(ALPHA)}, None, id="no-next-vendor"),
        pytest.param(
            1.0,
            {"liveness": failover(ALPHA, BETA), "face_match": failover(ALPHA)},
            None,
            id="one-check-has-no-next",
        ),
        pytest.param(1.0, {"liveness": ensemble(ALPHA, BETA)}, None, id="all-mode"),
        pytest.param(
            1.0,
            {"liveness": failover(ALPHA, BETA), "face_match": ensemble(ALPHA, BETA)},
            None,
            id="a-check-of-the-group-in-all-mode",
        ),
    ],
)
def test_hedge_partner(
    hedge_after: float | None, rules: dict[str, CheckPolicy], partner: tuple[str, str] | None
) -> None:
    m = plan(policy(hedge_after=hedge_after, **rules))
    assert m.hedge_partner(group_of(m.start(), ALPHA)) == partner


def test_a_hedge_advances_and_is_not_hedged_itself() -> None:
    m = plan(policy(hedge_after=1.0, liveness=failover(ALPHA, BETA, GAMMA)))
    [group] = m.start()
    hedge = m.hedge(group, (BETA, "verify"))
    assert hedge == Group(BETA, "verify", frozenset({L}), "hedge")
    assert m.hedge_partner(hedge) is None  # gamma is next, but a hedge is not hedged
    # Neither answered definitively (the race returns the last, beta's): next is gamma.
    [nxt] = answer(m, group, error(BETA, L)).calls
    assert nxt == Group(GAMMA, "verify", frozenset({L}), "failover")
    assert m.hedge_partner(nxt) is None  # no vendor after gamma


def test_a_failover_call_is_hedged_like_a_first_one() -> None:
    m = plan(policy(hedge_after=1.0, liveness=failover(ALPHA, BETA, GAMMA)))
    [to_beta] = answer(m, m.start()[0], error(ALPHA, L)).calls
    assert m.hedge_partner(to_beta) == (GAMMA, "verify")


@pytest.mark.parametrize(
    ("verdicts", "decisive"),
    [
        pytest.param(None, False, id="no-answer"),
        pytest.param([passed(BETA, L)], True, id="a-pass"),
        pytest.param([failed(BETA, L)], True, id="a-negative"),
        pytest.param([error(BETA, L, ErrorClass.CAPTURE_UNUSABLE)], True, id="capture"),
        pytest.param([error(BETA, L, ErrorClass.ANSWER_UNREAD)], True, id="answer-unread"),
        pytest.param([error(BETA, L)], False, id="would-fail-over"),
        pytest.param([error(BETA, L, ErrorClass.CREDENTIALS_REJECTED)], False, id="creds"),
        pytest.param([error(BETA, L), error(BETA, F)], False, id="all-would-fail-over"),
        pytest.param([passed(BETA, L), error(BETA, F)], False, id="a-check-still-open"),
        pytest.param([failed(BETA, L), error(BETA, F)], True, id="a-negative-with-one-open"),
    ],
)
def test_decisive(verdicts: list[VendorVerdict] | None, decisive: bool) -> None:
    by_check = None if verdicts is None else {v.check: v for v in verdicts}
    assert DecisionMachine.decisive(by_check) is decisive


def test_a_check_the_race_winner_failed_still_goes_to_the_partner() -> None:
    both = failover(ALPHA, BETA)
    m = plan(policy(hedge_after=1.0, liveness=both, face_match=both))
    [group] = m.start()
    m.hedge(group, (BETA, "verify"))
    # Alpha answers liveness but not face match: no win, so the driver keeps waiting for
    # beta, already asked, whose answer then decides both (and a failover goes past it).
    mixed = {L: passed(ALPHA, L), F: error(ALPHA, F)}
    assert not DecisionMachine.decisive(mixed)
    from_beta = {L: passed(BETA, L), F: error(BETA, F)}
    assert names(m.absorb(Group(BETA, "verify", frozenset({L, F}), "hedge"), from_beta).calls) == []
