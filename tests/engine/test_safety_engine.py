"""Safety fixes of the decision path, proved through the engine on fake vendors.

- Observers: ``wrapper=True`` implementations of ``on_attempt`` / ``on_decision`` run (they
  were silently skipped); a raising observer is isolated and logged by type only (#6).
- A shared state store passed in empty is used, not replaced by a private one (#7).
- ``max_far`` outside a vendor's published calibration is refused unless
  ``allow_extrapolation``; scores still record ``extrapolated`` (#10).
- Unusable captures (``retry_capture``) count toward ``capture_limit``, so a client cannot
  loop for ever, each attempt sent and maybe billed (#15).

Each test fails on the code before the fixes (87e08bc).
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import kycmux
from kycmux import Check, CheckPolicy, Evidence, InMemoryStateStore, Outcome, Policy
from kycmux.exceptions import PolicyError
from kycmux.testing import Rig, answer, make_rig, policy

pytestmark = pytest.mark.anyio

OBSERVER_CANARY = "observer-canary-5e0d"


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-1")


# #6 observers -------------------------------------------------------------------------------


class WrappingObserver:
    """Observes through ``wrapper=True`` generator implementations only."""

    def __init__(self) -> None:
        self.decisions: list[Any] = []
        self.attempts: list[Any] = []

    @kycmux.hookimpl(wrapper=True)
    def on_decision(self, record: Any) -> Generator[None, Any, Any]:
        self.decisions.append(record)
        return (yield)

    @kycmux.hookimpl(wrapper=True)
    def on_attempt(self, record: Any) -> Generator[None, Any, Any]:
        self.attempts.append(record)
        return (yield)


class PlainObserver:
    def __init__(self) -> None:
        self.decisions: list[Any] = []

    @kycmux.hookimpl
    def on_decision(self, record: Any) -> None:
        self.decisions.append(record)


class RaisingObserver:
    @kycmux.hookimpl
    def on_decision(self, record: Any) -> None:
        raise RuntimeError(f"{OBSERVER_CANARY}: saw {record.request_id}")

    @kycmux.hookimpl
    def on_attempt(self, record: Any) -> None:
        raise ValueError(OBSERVER_CANARY)


async def test_wrapper_observers_run_once_per_attempt_and_decision(evidence: Evidence) -> None:
    rig = make_rig()
    engine = rig.engine(policy())
    observer = WrappingObserver()
    assert engine.host.register(observer, "wrapping")
    first = await engine.verify(evidence)
    second = await engine.verify(Evidence(selfie=evidence.selfie, subject_id="subject-2"))
    await engine.drain()  # observers run off the decision path, in order
    assert (first.outcome, second.outcome) == (Outcome.ACCEPT, Outcome.ACCEPT)
    assert observer.decisions == [first.record, second.record]
    assert observer.attempts == [*first.record.attempts, *second.record.attempts]
    assert len(observer.attempts) == 2


async def test_a_raising_observer_is_isolated_and_logged_by_type_only(
    evidence: Evidence, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()
    engine = rig.engine(policy())
    watcher = PlainObserver()
    # pluggy calls the last registered first: the raising observer runs before the watcher.
    assert engine.host.register(watcher, "watcher")
    assert engine.host.register(RaisingObserver(), "boom")
    decision = await engine.verify(evidence)
    await engine.drain()
    assert decision.outcome is Outcome.ACCEPT
    assert watcher.decisions == [decision.record]
    for named in ("boom.on_decision", "RuntimeError", "boom.on_attempt", "ValueError"):
        assert named in caplog.text
    assert OBSERVER_CANARY not in caplog.text


# #7 a shared store -------------------------------------------------------------------------


async def test_an_empty_shared_store_passed_in_is_the_one_used(evidence: Evidence) -> None:
    rig = make_rig()
    shared = InMemoryStateStore(rig.clock)
    assert len(shared) == 0  # empty, hence falsy: ``store or ...`` replaced it
    first = rig.engine(policy(), store=shared)
    second = rig.engine(policy(), store=shared)
    for _ in range(5):
        rig.script("alpha", answer("SPOOF"))
        assert (await first.verify(evidence)).outcome is Outcome.REJECT
    calls = dict(rig.calls)
    locked = await second.verify(evidence)
    assert (locked.outcome, locked.reasons) == (Outcome.REJECT, ("subject_locked",))
    assert rig.calls == calls  # no vendor was asked


# #10 the published FAR range ---------------------------------------------------------------


def face_match(**rule: Any) -> Policy:
    return policy(checks={Check.FACE_MATCH: CheckPolicy(("alpha",), **rule)})


@pytest.mark.parametrize("max_far", [1e-6, 0.05])
async def test_max_far_outside_the_published_range_is_refused(max_far: float) -> None:
    # The fake vendor publishes 0.5 → FAR 1e-2 and 0.7 → FAR 1e-4.
    with pytest.raises(PolicyError) as info:
        make_rig().engine(face_match(max_far=max_far))
    assert info.value.key == "policies.p.face_match.max_far"
    assert "0.0001 to 0.01" in info.value.rule
    assert "allow_extrapolation" in info.value.rule


async def test_allow_extrapolation_accepts_it_and_scores_say_extrapolated(
    evidence: Evidence,
) -> None:
    rig = make_rig()
    engine = rig.engine(face_match(max_far=1e-6, allow_extrapolation=True))
    rig.script("alpha", answer(score=0.95), answer(score=0.6))
    high, within = await engine.verify(evidence), await engine.verify(evidence)
    assert high.outcome is Outcome.ACCEPT
    (check,) = high.record.checks
    assert check.scores["alpha"]["extrapolated"] is True
    assert check.scores["alpha"]["threshold"]["max_far"] == 1e-6
    assert within.outcome is Outcome.REJECT  # 0.6 is FAR 1e-3: far above 1e-6
    assert within.record.checks[0].scores["alpha"]["extrapolated"] is False


def test_tencent_from_toml_refuses_max_far_below_its_table_unless_extrapolating(
    tmp_path: Path,
) -> None:
    base = (
        "[vendors.tencent_legacy]\n"
        'appid = "1250000000"\nsecret_id = "${SID}"\nsecret_key = "${SKEY}"\n'
        "[policies.strict.face_match]\n"
        'vendors = ["tencent_legacy"]\nmax_far = 1e-6\n'
    )
    env = {"SID": "sid", "SKEY": "skey"}
    refused, allowed = tmp_path / "refused.toml", tmp_path / "allowed.toml"
    refused.write_text(base, encoding="utf-8")
    allowed.write_text(base + "allow_extrapolation = true\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        kycmux.Engine.from_config_file(refused, env=env)
    assert info.value.key == "policies.strict.face_match.max_far"
    assert "0.0001 to 0.001" in info.value.rule
    with kycmux.Engine.from_config_file(allowed, env=env) as engine:
        rule = engine.policy("strict").checks[Check.FACE_MATCH]
        assert (rule.max_far, rule.allow_extrapolation) == (1e-6, True)


# #15 capture retries are bounded -----------------------------------------------------------


async def verify_each(rig: Rig, engine: kycmux.Engine, evidence: Evidence, *codes: str) -> None:
    """One decision per vendor code, each answered by a vendor (none refused locally)."""
    for code in codes:
        calls = rig.calls["alpha"]
        rig.script("alpha", answer(code))
        decision = await engine.verify(evidence)
        assert rig.calls["alpha"] == calls + 1, (code, decision.reasons)
        assert decision.reasons != ("subject_locked",)


async def assert_locked(rig: Rig, engine: kycmux.Engine, evidence: Evidence, why: str) -> None:
    calls = dict(rig.calls)
    decision = await engine.verify(evidence)
    assert (decision.outcome, decision.reasons) == (Outcome.REJECT, ("subject_locked",))
    assert why in decision.record.explanation
    assert rig.calls == calls  # no vendor was asked


async def test_ten_unusable_captures_lock_the_subject(evidence: Evidence) -> None:
    rig = make_rig()
    engine = rig.engine(policy())
    for _ in range(10):
        rig.script("alpha", answer("NOFACE"))
        assert (await engine.verify(evidence)).outcome is Outcome.RETRY_CAPTURE
    await assert_locked(rig, engine, evidence, "10 unusable captures")
    other = Evidence(selfie=evidence.selfie, subject_id="subject-2")
    assert (await engine.verify(other)).outcome is Outcome.ACCEPT
    rig.clock.advance(901)
    assert (await engine.verify(evidence)).outcome is Outcome.ACCEPT


async def test_captures_and_definitive_failures_keep_their_own_limits(
    evidence: Evidence,
) -> None:
    rig = make_rig()
    engine = rig.engine(policy())
    await verify_each(rig, engine, evidence, *["SPOOF"] * 4, *["NOFACE"] * 9)
    # The tenth capture locks, however many definitive failures came between.
    await verify_each(rig, engine, evidence, "NOFACE")
    await assert_locked(rig, engine, evidence, "unusable captures")
    rig.clock.advance(901)
    # The four definitive failures still count (their memory is a day): one more locks.
    await verify_each(rig, engine, evidence, "SPOOF")
    await assert_locked(rig, engine, evidence, "5 consecutive definitive failures")


async def test_an_accept_resets_both_counts(evidence: Evidence) -> None:
    rig = make_rig()
    engine = rig.engine(policy())
    await verify_each(rig, engine, evidence, *["SPOOF"] * 4, *["NOFACE"] * 9, "OK")
    await verify_each(rig, engine, evidence, *["SPOOF"] * 4, *["NOFACE"] * 9)
    await verify_each(rig, engine, evidence, "NOFACE")
    await assert_locked(rig, engine, evidence, "10 unusable captures")


async def test_capture_counts_expire_after_the_cooldown_without_a_new_one(
    evidence: Evidence,
) -> None:
    rig = make_rig()
    engine = rig.engine(policy())
    await verify_each(rig, engine, evidence, *["NOFACE"] * 9)
    rig.clock.advance(901)  # the nine are forgotten
    for _ in range(9):
        await verify_each(rig, engine, evidence, "NOFACE")
        rig.clock.advance(800)  # each within the cool-down of the last: they add up
    await verify_each(rig, engine, evidence, "NOFACE")
    await assert_locked(rig, engine, evidence, "10 unusable captures, each within 900 s")


async def test_capture_limit_from_toml(evidence: Evidence) -> None:
    table = {"liveness": {"vendors": ["alpha"]}, "lockout": {"capture_limit": 3}}
    read = Policy.from_table("p", table)
    assert read.lockout is not None
    assert read.lockout.capture_limit == 3
    rig = make_rig()
    engine = rig.engine(read)
    await verify_each(rig, engine, evidence, "NOFACE", "NOFACE", "NOFACE")
    await assert_locked(rig, engine, evidence, "3 unusable captures")
