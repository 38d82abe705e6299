"""Shadow experiments: consent, sampling, isolation (hangs, failures, cancellation), storage.

Alpha decides live; beta is the candidate. All on the fake clock, so "never delays the live
decision beyond the bound" is an exact statement about clock time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from kycmux import (
    Check,
    CheckPolicy,
    Consent,
    Engine,
    Evidence,
    Outcome,
    ShadowExperiment,
    experiment_key,
)
from kycmux._engine._driver import DecisionRun
from kycmux.results import Role, SqliteResultStore
from kycmux.testing import FakeClock, Rig, answer, hang, make_rig, policy

pytestmark = pytest.mark.anyio

LIVE = policy(
    checks={
        Check.LIVENESS: CheckPolicy(("alpha",)),
        Check.FACE_MATCH: CheckPolicy(("alpha",), max_far=1e-3),
    }
)


def shadow(**overrides: Any) -> ShadowExperiment:
    return ShadowExperiment(**({"name": "try_beta", "policy": "p", "vendor": "beta"} | overrides))


@pytest.fixture
def consenting(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="s1", consents=[Consent.SHADOW_EVALUATION])


def slow(seconds: float, reply: httpx.Response | None = None) -> Any:
    async def respond(clock: FakeClock) -> httpx.Response:
        await clock.sleep(seconds)
        return reply or answer()

    return respond


async def timed(rig: Rig, engine: Engine, evidence: Evidence) -> tuple[Any, float]:
    start = rig.clock.monotonic()
    decision = await engine.verify(evidence)
    return decision, rig.clock.monotonic() - start


async def test_no_consent_no_transfer(png_file: Path) -> None:
    rig = make_rig()
    engine = rig.engine(LIVE, experiments=[shadow()])
    decision = await engine.verify(Evidence(selfie=png_file, subject_id="s1"))
    assert rig.calls == {"alpha": 1, "beta": 0}
    (record,) = decision.record.shadow
    assert (record.vendor, record.status, record.attempts) == ("beta", "no_consent", ())


async def test_consent_lets_the_candidate_answer_next_to_the_live_decision(
    consenting: Evidence,
) -> None:
    rig = make_rig()
    rig.script("beta", answer("SPOOF", live=False))
    engine = rig.engine(LIVE, experiments=[shadow(max_delay=1.0)])
    decision = await engine.verify(consenting)
    assert rig.calls == {"alpha": 1, "beta": 1}
    assert decision.outcome is Outcome.ACCEPT  # the candidate's "spoof" decides nothing
    (record,) = decision.record.shadow
    assert record.status == "answered"
    assert record.outcome == "reject"
    assert [a.role for a in record.attempts] == ["shadow"]
    assert all(a.vendor == "alpha" for a in decision.record.attempts)
    assert {c.check for c in record.checks} == {"liveness", "face_match"}


def test_sampling_share_is_close_to_the_setting() -> None:
    experiment = shadow(sample=0.3)
    key = experiment_key(b"fixed")
    n = 20_000
    sampled = sum(experiment.sampled(key, f"subject-{i}", "r") for i in range(n))
    # Binomial sd is sqrt(.3 * .7 / n) = 0.0032; 5 sd either side.
    assert abs(sampled / n - 0.3) < 0.017
    assert all(
        experiment.sampled(key, "subject-7", f"r{j}") == experiment.sampled(key, "subject-7", "r")
        for j in range(20)
    )


async def test_unsampled_subjects_are_not_shadowed(png_file: Path) -> None:
    rig = make_rig()
    engine = rig.engine(LIVE, experiments=[shadow(sample=0.5, max_delay=1.0)])
    statuses = []
    for i in range(60):
        evidence = Evidence(
            selfie=png_file, subject_id=f"s{i}", consents=[Consent.SHADOW_EVALUATION]
        )
        decision = await engine.verify(evidence, request_id=f"r{i}")
        statuses.append(decision.record.shadow[0].status)
    asked = statuses.count("answered")
    assert asked == rig.calls["beta"]
    assert asked + statuses.count("not_sampled") == 60
    assert 15 < asked < 45


@pytest.mark.parametrize("on_late", ["background", "cancel"])
async def test_a_hanging_candidate_never_delays_the_live_decision_beyond_the_bound(
    consenting: Evidence, on_late: str
) -> None:
    rig = make_rig()
    rig.script("alpha", slow(0.3))
    rig.script("beta", hang())
    engine = rig.engine(LIVE, experiments=[shadow(max_delay=0.5, timeout=4.0, on_late=on_late)])
    async with rig.clock.autojump():
        decision, took = await timed(rig, engine, consenting)
        assert decision.outcome is Outcome.ACCEPT
        assert took == pytest.approx(0.3 + 0.5, abs=1e-6)  # live answer, then at most the bound
        (record,) = decision.record.shadow
        assert record.status == ("background" if on_late == "background" else "cancelled")
        await engine.drain()
    if on_late == "cancel":
        (attempt,) = record.attempts
        assert (attempt.reason, attempt.possibly_billed) == ("cancelled", True)


async def test_max_delay_zero_means_no_wait_at_all(consenting: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", slow(0.3))
    rig.script("beta", slow(0.31))
    engine = rig.engine(LIVE, experiments=[shadow()])
    async with rig.clock.autojump():
        decision, took = await timed(rig, engine, consenting)
        await engine.drain()
    assert took == pytest.approx(0.3, abs=1e-6)
    assert decision.record.shadow[0].status == "background"


async def test_a_quick_candidate_is_waited_for_within_the_bound(consenting: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", slow(0.3))
    rig.script("beta", slow(0.45))
    engine = rig.engine(LIVE, experiments=[shadow(max_delay=1.0)])
    async with rig.clock.autojump():
        decision, took = await timed(rig, engine, consenting)
    assert took == pytest.approx(0.45, abs=1e-6)  # waited only as long as the candidate took
    assert decision.record.shadow[0].status == "answered"


async def test_background_shadow_finishes_within_its_own_timeout_and_is_stored(
    consenting: Evidence, tmp_path: Path
) -> None:
    rig = make_rig()
    rig.script("beta", hang())
    store = SqliteResultStore.open(tmp_path / "r.sqlite")
    engine = rig.engine(LIVE, experiments=[shadow(timeout=2.0)], results=store)
    async with rig.clock.autojump():
        decision = await engine.verify(consenting)
        before = rig.clock.monotonic()
        await engine.drain()
        assert rig.clock.monotonic() - before == pytest.approx(2.0, abs=1e-6)
    results = {r.system: r for r in store.results("try_beta")}
    assert set(results) == {"live", "beta"}
    assert results["live"].role is Role.LIVE
    assert results["live"].outcome == decision.outcome.value
    assert results["beta"].role is Role.SHADOW
    assert results["beta"].outcome == "error"
    assert "deadline_exceeded" in " ".join(results["beta"].reasons)
    assert results["live"].item == results["beta"].item == decision.request_id
    await engine.aclose()
    store.close()


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(500, text="<html>oops</html>"),
        httpx.Response(200, text="not json at all"),
        answer("DOWN"),
        answer("AUTH"),
    ],
)
async def test_a_failing_candidate_changes_nothing_live(
    consenting: Evidence, reply: httpx.Response
) -> None:
    baseline = await make_rig().engine(LIVE).verify(consenting)
    rig = make_rig()
    rig.script("beta", *[reply] * 5)
    engine = rig.engine(LIVE, experiments=[shadow(max_delay=30.0)])
    async with rig.clock.autojump():
        decision = await engine.verify(consenting)
    assert decision.outcome is baseline.outcome is Outcome.ACCEPT
    assert decision.reasons == baseline.reasons
    assert rig.calls["beta"] >= 1
    (record,) = decision.record.shadow
    assert record.status == "answered"
    assert record.outcome == "error"


async def test_a_crashing_shadow_run_is_recorded_not_raised(
    consenting: Evidence, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Exploding(DecisionRun):
        async def run(self) -> None:
            if self.role == "shadow":
                raise RuntimeError("bug in a candidate plugin")
            await super().run()

    monkeypatch.setattr("kycmux._engine._engine.DecisionRun", Exploding)
    rig = make_rig()
    engine = rig.engine(LIVE, experiments=[shadow(max_delay=1.0)])
    decision = await engine.verify(consenting)
    assert decision.outcome is Outcome.ACCEPT
    (record,) = decision.record.shadow
    assert (record.status, record.reasons) == ("failed", ("shadow_failed:RuntimeError",))


async def test_a_cancelled_caller_takes_its_shadows_along(consenting: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", hang())
    rig.script("beta", hang())
    engine = rig.engine(LIVE, experiments=[shadow()])
    async with rig.clock.autojump():
        task = asyncio.ensure_future(engine.verify(consenting))
        await rig.clock.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await engine.drain()
    pending = [t for t in asyncio.all_tasks() if t.get_name().startswith("kycmux-shadow")]
    assert pending == []


async def test_a_busy_candidate_is_not_queued_for(consenting: Evidence) -> None:
    rig = make_rig()
    engine = rig.engine(LIVE, experiments=[shadow()])
    engine.limiter("beta").pause(10.0)
    decision = await engine.verify(consenting)
    assert decision.record.shadow[0].status == "no_capacity"
    assert rig.calls["beta"] == 0


async def test_shadow_is_skipped_when_the_caller_names_the_vendor(consenting: Evidence) -> None:
    rig = make_rig()
    engine = rig.engine(LIVE, experiments=[shadow()])
    decision = await engine.verify(consenting, vendor="alpha")
    assert decision.record.shadow == ()
    assert rig.calls["beta"] == 0


async def test_the_candidate_never_locks_anybody_out(consenting: Evidence) -> None:
    rig = make_rig()
    rig.script("beta", *[answer("SPOOF", live=False)] * 10)
    engine = rig.engine(LIVE, experiments=[shadow(max_delay=1.0)])
    for _ in range(8):
        decision = await engine.verify(consenting)
        assert decision.outcome is Outcome.ACCEPT
        assert decision.record.shadow[0].outcome == "reject"
