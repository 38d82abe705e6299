"""Engine semantics on fake vendors and a fake clock: composition, failover, retries, safety."""

from __future__ import annotations

from pathlib import Path

import attrs
import httpx
import pytest

from kycmux import (
    Check,
    CheckPolicy,
    Combine,
    Evidence,
    Mode,
    Outcome,
    Policy,
    RetryPolicy,
    VendorSettings,
)
from kycmux.exceptions import PolicyError
from kycmux.testing import CANARY, answer, dumps, hang, make_rig, policy

pytestmark = pytest.mark.anyio


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-1", id_number="11010519491231002X")


async def test_one_call_serves_two_checks(evidence: Evidence) -> None:
    rig = make_rig()
    decision = await rig.engine(policy()).verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    assert rig.calls == {"alpha": 1, "beta": 0}
    (attempt,) = decision.record.attempts
    assert attempt.checks == ("face_match", "liveness")
    assert decision.record.checks[1].scores["alpha"]["far"] < 1e-3


async def test_transient_errors_are_retried_then_fail_over(evidence: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", answer("DOWN"), answer("DOWN"), answer("DOWN"))
    async with rig.clock.autojump():
        decision = await rig.engine(policy()).verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    assert rig.calls == {"alpha": 3, "beta": 1}
    roles = [(a.vendor, a.role) for a in decision.record.attempts]
    assert roles == [
        ("alpha", "primary"),
        ("alpha", "retry"),
        ("alpha", "retry"),
        ("beta", "failover"),
    ]


@pytest.mark.parametrize("code", ["BADREQ", "AUTH"])
async def test_non_transient_errors_fail_over_without_retry(evidence: Evidence, code: str) -> None:
    rig = make_rig()
    rig.script("alpha", answer(code))
    decision = await rig.engine(policy()).verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    assert rig.calls == {"alpha": 1, "beta": 1}


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (answer("SPOOF"), "liveness:alpha:SPOOF"),
        (answer(live=False), "liveness:alpha:vendor_verdict"),
        (answer(score=0.55), "face_match:alpha:score_below_threshold"),
        (answer("MISMATCH"), "liveness:alpha:MISMATCH"),
    ],
)
async def test_definitive_negatives_never_fail_over(
    evidence: Evidence, reply: httpx.Response, reason: str
) -> None:
    rig = make_rig()
    rig.script("alpha", reply)
    decision = await rig.engine(policy(hedge_after=0.5)).verify(evidence)
    assert decision.outcome is Outcome.REJECT
    assert reason in decision.reasons
    assert rig.calls["beta"] == 0


async def test_no_hedge_after_a_quick_negative(evidence: Evidence) -> None:
    rig = make_rig()

    async def slow_spoof(clock: object) -> httpx.Response:
        await rig.clock.sleep(0.2)
        return answer("SPOOF")

    rig.script("alpha", slow_spoof)
    async with rig.clock.autojump():
        decision = await rig.engine(policy(hedge_after=0.5)).verify(evidence)
    assert decision.outcome is Outcome.REJECT
    assert rig.calls["beta"] == 0


async def test_hedge_asks_the_next_vendor_and_cancels_the_loser(evidence: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", hang())
    engine = rig.engine(policy(hedge_after=0.5, deadline=5.0))
    async with rig.clock.autojump():
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    assert rig.calls == {"alpha": 1, "beta": 1}
    by_vendor = {a.vendor: a for a in decision.record.attempts}
    assert by_vendor["beta"].role == "hedge"
    assert by_vendor["alpha"].reason == "cancelled"
    assert by_vendor["alpha"].possibly_billed
    assert rig.clock.elapsed < 1.0


async def test_capture_errors_ask_for_a_new_capture_without_failover(evidence: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", answer("NOFACE"))
    decision = await rig.engine(policy()).verify(evidence)
    assert decision.outcome is Outcome.RETRY_CAPTURE
    assert decision.hint is not None
    assert "face" in decision.hint
    assert rig.calls["beta"] == 0


async def test_registry_problems_go_to_review(evidence: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", answer("REGISTRY"))
    decision = await rig.engine(policy()).verify(evidence)
    assert decision.outcome is Outcome.REVIEW
    assert rig.calls["beta"] == 0


async def test_deadline_is_never_exceeded_with_a_hanging_vendor(evidence: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", hang())
    rig.script("beta", hang())
    engine = rig.engine(policy(deadline=2.0))
    async with rig.clock.autojump():
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ERROR
    assert rig.clock.elapsed == pytest.approx(2.0, abs=1e-6)
    assert decision.record.duration_ms <= 2000.0 + 1e-6
    assert all(
        c.reason in ("deadline_exceeded",) or c.verdict == "error" for c in decision.record.checks
    )


async def test_attempt_timeout_caps_each_attempt(evidence: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", hang())
    slow = VendorSettings(attempt_timeout=1.5)
    engine = rig.engine(policy(deadline=10.0, vendors={"alpha": slow}))
    async with rig.clock.autojump():
        decision = await engine.verify(evidence)
    first = decision.record.attempts[0]
    assert first.error_class == "possibly_billed"
    assert first.latency_ms == pytest.approx(1500, abs=1)


async def test_possibly_billed_is_not_retried_blindly(evidence: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", hang())
    engine = rig.engine(policy(vendors={"alpha": VendorSettings(attempt_timeout=1.0)}))
    async with rig.clock.autojump():
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    assert rig.calls == {"alpha": 1, "beta": 1}
    alpha = decision.record.attempts[0]
    assert alpha.error_class == "possibly_billed"
    assert alpha.possibly_billed


async def test_retries_respect_max_attempts(evidence: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", *[answer("DOWN")] * 5)
    settings = VendorSettings(retry=RetryPolicy(max_attempts=2))
    engine = rig.engine(policy(vendors={"alpha": settings}))
    async with rig.clock.autojump():
        await engine.verify(evidence)
    assert rig.calls["alpha"] == 2


async def test_all_mode_combines_without_first_positive_wins(evidence: Evidence) -> None:
    rig = make_rig()
    both = (
        "alpha",
        "beta",
    )
    for combine, expected in (
        (Combine.DISAGREEMENT_REVIEWS, Outcome.REVIEW),
        (Combine.ANY_NEGATIVE_REJECTS, Outcome.REJECT),
    ):
        rig.script("alpha", answer())
        rig.script("beta", answer(live=False))
        rule = CheckPolicy(both, mode=Mode.ALL, combine=combine)
        engine = rig.engine(policy(name=combine.value, checks={Check.LIVENESS: rule}))
        decision = await engine.verify(evidence)
        assert decision.outcome is expected, combine
    assert rig.calls == {"alpha": 2, "beta": 2}


async def test_all_mode_passes_only_when_all_pass(evidence: Evidence) -> None:
    rig = make_rig()
    rule = CheckPolicy(("alpha", "beta"), mode=Mode.ALL)
    decision = await rig.engine(policy(checks={Check.LIVENESS: rule})).verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    assert {a.vendor for a in decision.record.attempts} == {"alpha", "beta"}


async def test_subject_lockout_after_consecutive_definitive_failures(evidence: Evidence) -> None:
    rig = make_rig()
    engine = rig.engine(policy())
    for _ in range(5):
        rig.script("alpha", answer("SPOOF"))
        assert (await engine.verify(evidence)).outcome is Outcome.REJECT
    calls = dict(rig.calls)
    locked = await engine.verify(evidence)
    assert locked.reasons == ("subject_locked",)
    assert rig.calls == calls  # no vendor was asked
    other = Evidence(selfie=evidence.selfie, subject_id="subject-2")
    assert (await engine.verify(other)).outcome is Outcome.ACCEPT
    rig.clock.advance(901)
    assert (await engine.verify(evidence)).outcome is Outcome.ACCEPT


async def test_lockout_false_turns_the_lockout_off(evidence: Evidence) -> None:
    table = {"lockout": False, "liveness": {"vendors": ["alpha"]}}
    unlocked = Policy.from_table("offline", table)
    assert unlocked.lockout is None
    rig = make_rig()
    engine = rig.engine(unlocked)
    for _ in range(8):
        rig.script("alpha", answer("SPOOF"))
        assert (await engine.verify(evidence)).reasons == ("liveness:alpha:SPOOF",)
    assert rig.calls["alpha"] == 8


async def test_breaker_opens_probes_once_and_closes(evidence: Evidence) -> None:
    rig = make_rig()
    transitions: list[tuple[str, str]] = []
    no_retry = VendorSettings(retry=RetryPolicy(max_attempts=1))
    engine = rig.engine(policy(vendors={"alpha": no_retry}))
    engine.on_breaker_transition(lambda v, old, new, at: transitions.append((v, new.value)))
    for _ in range(5):
        rig.script("alpha", answer("DOWN"))
        assert (await engine.verify(evidence)).outcome is Outcome.ACCEPT  # via beta
    assert transitions == [("alpha", "open")]
    before = rig.calls["alpha"]
    decision = await engine.verify(evidence)
    assert rig.calls["alpha"] == before  # open: alpha not called
    assert any(s.reason == "circuit_open" for s in decision.record.skipped)
    rig.clock.advance(16)
    decision = await engine.verify(evidence)
    assert rig.calls["alpha"] == before + 1  # the single probe
    assert transitions == [("alpha", "open"), ("alpha", "half_open"), ("alpha", "closed")]


async def test_definitive_answers_never_move_the_breaker(evidence: Evidence) -> None:
    rig = make_rig()
    engine = rig.engine(policy())
    for i in range(10):
        rig.script("alpha", answer("SPOOF"))
        await engine.verify(Evidence(selfie=evidence.selfie, subject_id=f"s{i}"))
    assert engine.breaker("alpha").state.value == "closed"


async def test_records_hold_no_secrets_or_personal_data(png_file: Path) -> None:
    rig = make_rig()
    evidence = Evidence(selfie=png_file, id_number="11010519491231002X", id_name="张三丰")
    text = dumps(await rig.engine(policy()).verify(evidence))
    for forbidden in (CANARY, "11010519491231002X", "张三丰", str(png_file)):
        assert forbidden not in text
    assert '"subject": "hmac-sha256:' in text


async def test_policy_errors_name_the_key() -> None:
    rig = make_rig()
    with pytest.raises(PolicyError, match="does not offer"):
        rig.engine(policy(checks={Check.ID_REGISTRY_MATCH: CheckPolicy(("alpha",))}))
    with pytest.raises(PolicyError) as info:
        rig.engine(policy(checks={Check.LIVENESS: CheckPolicy(("omega",))}))
    assert info.value.key == "policies.p.liveness.vendors"


async def test_policies_must_agree_on_a_vendors_breaker() -> None:
    from kycmux import BreakerSettings

    rig = make_rig()
    fast = VendorSettings(breaker=BreakerSettings(open_seconds=1.0))
    with pytest.raises(PolicyError) as info:
        rig.engine(policy(name="a"), policy(name="b", vendors={"alpha": fast}))
    assert info.value.key == "policies.b.vendors.alpha.breaker"


async def test_implicit_default_policy_asks_only_what_the_evidence_can_serve(
    evidence: Evidence,
) -> None:
    import kycmux
    from kycmux import CheckOffer, EvidenceKind, Need, VendorSpec
    from kycmux.testing import FakeVendor

    class RegistryVendor(FakeVendor):
        @kycmux.hookimpl
        def register_vendors(self) -> list[VendorSpec]:  # type: ignore[override]
            (spec,) = super().register_vendors()
            needs = (Need(EvidenceKind.SELFIE), Need(EvidenceKind.ID_NAME))
            offer = CheckOffer(Check.ID_REGISTRY_MATCH, "registry", needs)
            return [attrs.evolve(spec, offers=(*spec.offers, offer))]

    rig = make_rig()
    rig.vendors["beta"] = RegistryVendor("beta", base_url="https://beta.example.com")
    engine = rig.engine()  # no policy: the implicit default
    assert Check.ID_REGISTRY_MATCH in engine.policy().checks
    decision = await engine.verify(evidence)  # no id_name: the registry check cannot be served
    assert decision.outcome is Outcome.ACCEPT
    assert {c.check for c in decision.record.checks} == {"liveness", "face_match"}


async def test_attempt_reason_names_a_failed_check(evidence: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", answer(live=False))
    decision = await rig.engine(policy()).verify(evidence)
    (attempt,) = decision.record.attempts
    assert attempt.error_class is None
    assert attempt.reason == "vendor_verdict"


async def test_narrowing_to_one_vendor_keeps_only_its_raw_threshold(evidence: Evidence) -> None:
    rule = CheckPolicy(("alpha", "beta"), raw_thresholds={"alpha": 0.95, "beta": 0.5})
    narrowed = policy(checks={Check.FACE_MATCH: rule}).only(None, "beta")
    assert narrowed.checks[Check.FACE_MATCH].raw_thresholds == {"beta": 0.5}
    rig = make_rig()
    engine = rig.engine(policy(checks={Check.FACE_MATCH: rule}))
    decision = await engine.verify(evidence, vendor="beta")
    assert decision.outcome is Outcome.ACCEPT  # 0.9 passes beta's 0.5
    assert rig.calls == {"alpha": 0, "beta": 1}
