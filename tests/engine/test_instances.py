"""Two instances of one vendor in one engine (``[vendors.alpha_eu] plugin = "alpha"``):
dispatched to the one plugin, kept apart everywhere else (breakers, limits, records)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from kycmux import (
    Check,
    Consent,
    Decision,
    Engine,
    Evidence,
    HttpClient,
    Outcome,
    ShadowExperiment,
    VendorResponse,
)
from kycmux._transport._hooks import HookCalls
from kycmux.exceptions import InvalidEvidenceError, PolicyError, ProtocolError
from kycmux.resilience import BreakerState
from kycmux.testing import answer
from support.instance_rig import InstanceRig, instance_policy

pytestmark = pytest.mark.anyio

OPENS_AFTER_TWO = {"breaker": {"min_calls": 2, "failure_ratio": 0.5, "open_seconds": 60.0}}


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-1")


async def decide(rig: InstanceRig, engine: Engine, evidence: Evidence, **kwargs: Any) -> Decision:
    async with rig.clock.autojump():
        return await engine.verify(evidence, **kwargs)


def calls(record: object) -> list[tuple[str, str | None, str | None, str | None]]:
    return [
        (a.vendor, a.error_class, a.reason, a.instance_of)
        for a in record.attempts  # type: ignore[attr-defined]
    ]


async def test_an_instance_down_fails_over_to_the_other_one(evidence: Evidence) -> None:
    rig = InstanceRig()
    rig.script("alpha", answer("DOWN"))
    async with rig.engine() as engine:
        decision = await decide(rig, engine, evidence)
    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    assert calls(decision.record) == [
        ("alpha", "vendor_unavailable", "alpha:DOWN", None),
        ("alpha_eu", None, None, "alpha"),
    ]
    assert [a.role for a in decision.record.attempts] == ["primary", "failover"]
    assert rig.calls == {"alpha": 1, "alpha_eu": 1}
    # The plugin saw its own vendor name every time, and which instance each call was for.
    assert {name for _, name in rig.plugin.calls} == {"alpha"}
    assert rig.plugin.instances == ["alpha", "alpha_eu"]


async def test_an_instances_own_reasons_name_the_instance(evidence: Evidence) -> None:
    rig = InstanceRig()
    rig.script("alpha_eu", answer("DOWN"))
    async with rig.engine(instance_policy(("alpha_eu", "alpha"))) as engine:
        decision = await decide(rig, engine, evidence)
    assert decision.outcome is Outcome.ACCEPT
    # The plugin classified it as "alpha:DOWN"; the record says whose account it was.
    assert calls(decision.record)[0] == ("alpha_eu", "vendor_unavailable", "alpha_eu:DOWN", "alpha")
    assert decision.record.to_dict()["attempts"][0]["instance_of"] == "alpha"


@pytest.mark.parametrize("code", ["SPOOF", "MISMATCH"])
async def test_a_definitive_negative_never_fails_over_to_another_instance(
    evidence: Evidence, code: str
) -> None:
    rig = InstanceRig()
    rig.script("alpha", answer(code, live=code != "SPOOF", score=0.1))
    async with rig.engine() as engine:
        decision = await decide(rig, engine, evidence)
    assert decision.outcome is Outcome.REJECT, decision.record.explanation
    assert rig.calls == {"alpha": 1, "alpha_eu": 0}
    assert [a.vendor for a in decision.record.attempts] == ["alpha"]


async def test_each_instance_has_its_own_breaker(evidence: Evidence) -> None:
    rig = InstanceRig()
    resilience = {"alpha": OPENS_AFTER_TWO, "alpha_eu": OPENS_AFTER_TWO}
    async with rig.engine(resilience=resilience) as engine:
        for i in range(2):
            rig.script("alpha", answer("DOWN"))
            seen = await decide(rig, engine, Evidence(selfie=evidence.selfie, subject_id=f"s{i}"))
            assert seen.outcome is Outcome.ACCEPT
        assert engine.breaker("alpha").state is BreakerState.OPEN
        assert engine.breaker("alpha_eu").state is BreakerState.CLOSED
        assert (await engine.breaker_stats("alpha")).state is BreakerState.OPEN
        assert (await engine.breaker_stats("alpha_eu")).state is BreakerState.CLOSED
        before = dict(rig.calls)
        skipped = await decide(rig, engine, Evidence(selfie=evidence.selfie, subject_id="s9"))
    assert skipped.outcome is Outcome.ACCEPT
    assert {(s.vendor, s.reason) for s in skipped.record.skipped} == {("alpha", "circuit_open")}
    assert [a.vendor for a in skipped.record.attempts] == ["alpha_eu"]
    assert rig.calls == {"alpha": before["alpha"], "alpha_eu": before["alpha_eu"] + 1}


async def test_each_instance_has_its_own_limits(evidence: Evidence) -> None:
    rig = InstanceRig()
    resilience = {"alpha": {"rate_limit": {"rate": 5.0, "burst": 2, "max_in_flight": 3}}}
    async with rig.engine(resilience=resilience) as engine:
        assert engine.limiter("alpha") is not engine.limiter("alpha_eu")
        assert engine.retry_budget("alpha") is not engine.retry_budget("alpha_eu")
        alpha, eu = engine.limiter("alpha").settings, engine.limiter("alpha_eu").settings
        decision = await decide(rig, engine, evidence)
    assert (alpha.rate, alpha.burst, alpha.max_in_flight) == (5.0, 2, 3)
    assert (eu.rate, eu.max_in_flight) == (None, 64)
    assert decision.outcome is Outcome.ACCEPT


async def test_a_plugin_bug_on_an_instance_is_a_plugin_error_of_that_instance(
    evidence: Evidence,
) -> None:
    rig = InstanceRig()
    rig.script("alpha", httpx.Response(200, json={"code": "OK"}))  # no "live": KeyError
    async with rig.engine() as engine:
        decision = await decide(rig, engine, evidence)
    assert decision.outcome is Outcome.ACCEPT
    first = decision.record.attempts[0]
    assert (first.vendor, first.error_class, first.instance_of) == ("alpha", "plugin_error", None)
    rig = InstanceRig()
    rig.script("alpha_eu", httpx.Response(200, json={"code": "OK"}))
    async with rig.engine(instance_policy(("alpha_eu", "alpha"))) as engine:
        decision = await decide(rig, engine, evidence)
    first = decision.record.attempts[0]
    assert (first.vendor, first.error_class, first.instance_of) == (
        "alpha_eu",
        "plugin_error",
        "alpha",
    )
    assert first.plugin is not None
    assert first.plugin["plugin"] == "alpha-plugin"  # the plugin is blamed, not the vendor
    assert [a.vendor for a in decision.record.attempts] == ["alpha_eu", "alpha"]


async def test_a_plugins_own_errors_are_labelled_with_the_instance(evidence: Evidence) -> None:
    rig = InstanceRig()
    rig.plugin.refuse_field = "selfie"
    async with rig.engine(instance_policy(("alpha_eu",))) as engine:
        with pytest.raises(InvalidEvidenceError) as caught:
            await decide(rig, engine, evidence)
    assert "(alpha_eu: selfie: refused by test)" in str(caught.value)
    assert rig.calls == {"alpha": 0, "alpha_eu": 0}

    rig = InstanceRig()
    rig.plugin.bad_key = "token"
    async with rig.engine(instance_policy(("alpha_eu", "alpha"))) as engine:
        decision = await decide(rig, engine, evidence)
    reasons = {(s.vendor, s.reason) for s in decision.record.skipped}
    assert reasons == {
        ("alpha_eu", "local_config:vendors.alpha_eu.token"),
        ("alpha", "local_config:vendors.alpha.token"),
    }


async def test_policies_name_instances_and_the_default_policy_has_them_all(
    evidence: Evidence,
) -> None:
    rig = InstanceRig()
    async with rig.engine() as engine:
        assert set(engine.vendor_specs) == {"alpha", "alpha_eu"}
        with pytest.raises(PolicyError, match="no loaded plugin provides 'alpha_us'"):
            engine.add_policy(instance_policy(("alpha", "alpha_us"), name="q"))
        narrowed = await decide(rig, engine, evidence, vendor="alpha_eu", checks=[Check.LIVENESS])
    assert [a.vendor for a in narrowed.record.attempts] == ["alpha_eu"]
    http = HttpClient.create(async_transport=httpx.MockTransport(rig.handle))
    config = rig.config()
    async with Engine.from_config(config, host=rig.host(), http=http, clock=rig.clock) as engine:
        default = engine.policy()
    assert default.checks[Check.LIVENESS].vendors == ("alpha", "alpha_eu")


def test_hook_calls_for_an_instance_reach_the_plugin_under_its_own_name() -> None:
    rig = InstanceRig()
    hooks = HookCalls(rig.host(), rig.config().vendors)
    assert hooks.plugin("alpha_eu") == "alpha"
    assert hooks.plugin("alpha") == "alpha"
    assert hooks.spec("alpha_eu").name == "alpha_eu"
    request = hooks.build("alpha_eu", frozenset({Check.LIVENESS}), Evidence(), "r1")
    assert (request.vendor, request.url) == ("alpha_eu", "https://alpha-eu.example.com/verify")
    signed = hooks.sign(request, "r1", 1)
    assert signed.vendor == "alpha_eu"
    # The plugin raises ProtocolError("alpha", ...) on a body that is not JSON.
    with pytest.raises(ProtocolError) as caught:
        hooks.parse(signed, VendorResponse(200, body=b"<html>"))
    assert caught.value.vendor == "alpha_eu"
    result = hooks.parse(signed, VendorResponse(200, body=b'{"code": "DOWN", "live": true}'))
    assert result.vendor == "alpha_eu"
    found = hooks.classify("alpha_eu", result=result)
    assert found.reason == "alpha_eu:DOWN"
    # Core's own error about the instance goes in under the plugin's name, and comes back.
    missing = ProtocolError("alpha_eu", "no answer")
    assert hooks.classify("alpha_eu", error=missing).reason == "malformed_response"
    assert missing.vendor == "alpha_eu"
    assert rig.plugin.calls == [
        ("build_request", "alpha"),
        ("sign", "alpha"),
        ("parse", "alpha"),
        ("parse", "alpha"),
        ("classify_error", "alpha"),
        ("classify_error", "alpha"),
    ]


async def test_each_instance_has_its_own_hook_lane(evidence: Evidence) -> None:
    rig = InstanceRig()
    rig.script("alpha", answer("DOWN"))
    async with rig.engine() as engine:
        await decide(rig, engine, evidence)
        lanes = {t.name.rsplit("-", 1)[0] for t in threading.enumerate()}
    assert {"kycmux-alpha", "kycmux-alpha_eu"} <= lanes


async def test_an_instance_can_be_a_shadow_candidate_beside_its_vendor(png_file: Path) -> None:
    rig = InstanceRig()
    candidate = ShadowExperiment(name="try_eu", policy="p", vendor="alpha_eu", max_delay=1.0)
    evidence = Evidence(selfie=png_file, subject_id="s1", consents=[Consent.SHADOW_EVALUATION])
    async with rig.engine(instance_policy(("alpha",)), experiments=[candidate]) as engine:
        decision = await decide(rig, engine, evidence)
    assert decision.outcome is Outcome.ACCEPT
    (shadowed,) = decision.record.shadow
    assert (shadowed.vendor, shadowed.status) == ("alpha_eu", "answered")
    assert [(a.vendor, a.instance_of) for a in shadowed.attempts] == [("alpha_eu", "alpha")]
    assert rig.calls == {"alpha": 1, "alpha_eu": 1}
