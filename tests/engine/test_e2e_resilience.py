"""Resilience end to end: outages, breakers, rate limits and deadlines against the simulators.

Faults are injected into the real simulators (``box.app(vendor).faults``); the engine sees
them only on the wire. Real time, small windows, and no assertion on how long anything took
beyond one generous sanity bound.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from engine.e2e_support import (
    LINKFACE,
    TENCENT,
    SimCounter,
    attempts_by,
    both_captures,
    make_engine,
    policies,
    skip_reasons,
)
from kycmux import BreakerState, Engine, Outcome, PluginHost
from kycmux.simkit import Sandbox
from kycmux.synthetic import DemoSet

pytestmark = pytest.mark.anyio

OPEN_SECONDS = 1.5
# Two failures in a row open Linkface's breaker; no retries, so each decision is one call.
OUTAGE_SETTINGS = {
    "breaker": {"window": 30.0, "failure_ratio": 0.5, "min_calls": 2, "open_seconds": OPEN_SECONDS},
    "retry": {"max_attempts": 1},
}


async def _wait_until_probe_is_due(engine: Engine, vendor: str) -> None:
    """Sleep (in small steps) until the open breaker would admit a probe."""
    for _ in range(200):
        if engine.breaker(vendor).retry_after() == 0:
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"{vendor}'s breaker never became due for a probe")


async def test_outage_fails_over_opens_the_breaker_and_one_probe_closes_it(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    linkface_app = box.app(LINKFACE)
    faults_before = linkface_app.stats.faults.get("http_5xx", 0)
    transitions: list[tuple[str, BreakerState, BreakerState]] = []
    async with make_engine(box, sim_host, policies(linkface=OUTAGE_SETTINGS)) as engine:
        engine.on_breaker_transition(lambda v, old, new, at: transitions.append((v, old, new)))

        # The outage: Linkface answers 503; each decision fails over to Tencent.
        outage = linkface_app.faults.inject("http_5xx=503", duration=60)
        linkface = SimCounter(box, LINKFACE)
        during = [
            await engine.verify(both_captures(demo, subject_id=f"outage-{i}"), policy="sdk_first")
            for i in range(2)
        ]
        for decision in during:
            assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
            calls = decision.record.attempts
            assert [(a.vendor, a.role, a.error_class, a.http_status) for a in calls] == [
                (LINKFACE, "primary", "vendor_unavailable", 503),
                (TENCENT, "failover", None, 200),
            ]
        assert linkface.served() == 2
        assert linkface_app.stats.faults["http_5xx"] - faults_before == 2
        assert engine.breaker(LINKFACE).state is BreakerState.OPEN
        assert transitions == [(LINKFACE, BreakerState.CLOSED, BreakerState.OPEN)]

        # While open: Linkface is skipped without a call, Tencent answers.
        linkface = SimCounter(box, LINKFACE)
        refused = await engine.verify(both_captures(demo, subject_id="open"), policy="sdk_first")
        assert refused.outcome is Outcome.ACCEPT
        skipped = skip_reasons(refused.record)
        assert skipped[(LINKFACE, "liveness")] == "circuit_open"
        assert skipped[(LINKFACE, "face_match")] == "circuit_open"
        assert attempts_by(refused.record, LINKFACE) == []
        assert [a.vendor for a in refused.record.attempts] == [TENCENT]
        assert linkface.served() == 0

        # The outage ends; once open_seconds have passed, one probe goes out and succeeds.
        assert linkface_app.faults.remove(outage)
        await _wait_until_probe_is_due(engine, LINKFACE)
        linkface = SimCounter(box, LINKFACE)
        probe = await engine.verify(both_captures(demo, subject_id="probe"), policy="sdk_first")
        assert probe.outcome is Outcome.ACCEPT
        assert [(a.vendor, a.error_class) for a in probe.record.attempts] == [(LINKFACE, None)]
        assert linkface.served() == 1
        assert engine.breaker(LINKFACE).state is BreakerState.CLOSED
        assert transitions[1:] == [
            (LINKFACE, BreakerState.OPEN, BreakerState.HALF_OPEN),
            (LINKFACE, BreakerState.HALF_OPEN, BreakerState.CLOSED),
        ]

        # Closed again: Linkface is the primary as before.
        after = await engine.verify(both_captures(demo, subject_id="after"), policy="sdk_first")
        assert [a.vendor for a in after.record.attempts] == [LINKFACE]
        assert linkface.served() == 2
    assert engine.breaker(TENCENT).state is BreakerState.CLOSED


RATE_SETTINGS: dict[str, Any] = {
    "rate_limit": {"pause_on_limit": 0.1},
    "retry": {"max_attempts": 2, "base_delay": 0.01},
}


async def test_rate_limited_once_is_retried_after_the_pause(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    tencent_app = box.app(TENCENT)
    limited_before = tencent_app.stats.faults.get("rate_limited", 0)
    tencent_app.faults.inject("rate_limited", count=1)
    tencent, linkface = SimCounter(box, TENCENT), SimCounter(box, LINKFACE)
    async with make_engine(box, sim_host, policies(tencent_legacy=RATE_SETTINGS)) as engine:
        decision = await engine.verify(both_captures(demo), policy="video_first")

    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    calls = [(a.vendor, a.role, a.error_class, a.vendor_code) for a in decision.record.attempts]
    assert calls == [
        (TENCENT, "primary", "rate_limited", "15"),
        (TENCENT, "retry", None, "0"),
    ]
    assert tencent.served() == 2
    assert tencent_app.stats.faults["rate_limited"] - limited_before == 1
    assert linkface.served() == 0


async def test_rate_limited_throughout_fails_over(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    tencent_app = box.app(TENCENT)
    tencent_app.faults.inject("rate_limited", count=50)
    tencent, linkface = SimCounter(box, TENCENT), SimCounter(box, LINKFACE)
    async with make_engine(box, sim_host, policies(tencent_legacy=RATE_SETTINGS)) as engine:
        decision = await engine.verify(both_captures(demo), policy="video_first")

    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    calls = [(a.vendor, a.role, a.error_class) for a in decision.record.attempts]
    assert calls == [
        (TENCENT, "primary", "rate_limited"),
        (TENCENT, "retry", "rate_limited"),
        (LINKFACE, "failover", None),
    ]
    assert {c.check: c.vendors for c in decision.record.checks} == {
        "liveness": (LINKFACE,),
        "face_match": (LINKFACE,),
    }
    assert tencent.served() == 2
    assert linkface.served() == 1
    # Rate limits say nothing against the vendor's health.
    async with make_engine(box, sim_host) as fresh:
        assert fresh.breaker(TENCENT).state is BreakerState.CLOSED


DEADLINE = 1.0


async def test_hanging_vendor_alone_ends_in_error_by_the_deadline(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    tables = policies()
    tables["sdk_only"] = {
        "deadline": DEADLINE,
        "liveness": {"vendors": [LINKFACE]},
        "face_match": {"vendors": [LINKFACE], "max_far": 1e-4},
    }
    box.app(LINKFACE).faults.inject("hang=30", count=1)
    linkface = SimCounter(box, LINKFACE)
    async with make_engine(box, sim_host, tables) as engine:
        decision = await engine.verify(both_captures(demo), policy="sdk_only")

    assert decision.outcome is Outcome.ERROR
    assert {c.verdict for c in decision.record.checks} == {"error"}
    (call,) = decision.record.attempts
    # The whole request went out and no answer came: the vendor may bill it.
    assert call.vendor == LINKFACE
    assert call.possibly_billed
    assert call.http_status is None
    assert linkface.served() == 1
    # A sanity bound only: the 30 s hang did not hold the decision.
    assert decision.record.duration_ms < 10 * DEADLINE * 1000


async def test_hanging_vendor_times_out_and_fails_over(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    settings = {"attempt_timeout": 0.3, "retry": {"max_attempts": 3, "base_delay": 0.01}}
    tables = policies(tencent_legacy=settings)
    box.app(TENCENT).faults.inject("hang=30", count=1)
    tencent, linkface = SimCounter(box, TENCENT), SimCounter(box, LINKFACE)
    async with make_engine(box, sim_host, tables) as engine:
        decision = await engine.verify(both_captures(demo), policy="video_first")

    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    first, second = decision.record.attempts
    assert (first.vendor, first.error_class, first.possibly_billed) == (
        TENCENT,
        "possibly_billed",
        True,
    )
    assert first.reason == "read_timeout"
    assert (second.vendor, second.role, second.error_class) == (LINKFACE, "failover", None)
    # Possibly billed: never blindly retried on the same vendor, despite max_attempts = 3.
    assert tencent.served() == 1
    assert linkface.served() == 1


async def test_hedge_asks_the_next_vendor_and_cancels_the_slow_one(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    tables = policies()
    tables["hedged"] = {**tables["video_first"], "hedge_after": 0.2}
    box.app(TENCENT).faults.inject("latency=3", count=1)
    tencent, linkface = SimCounter(box, TENCENT), SimCounter(box, LINKFACE)
    async with make_engine(box, sim_host, tables) as engine:
        decision = await engine.verify(both_captures(demo), policy="hedged")

    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    assert {c.check: c.vendors for c in decision.record.checks} == {
        "liveness": (LINKFACE,),
        "face_match": (LINKFACE,),
    }
    calls = {a.vendor: a for a in decision.record.attempts}
    assert set(calls) == {TENCENT, LINKFACE}
    assert (calls[LINKFACE].role, calls[LINKFACE].error_class) == ("hedge", None)
    # The slow call lost the race: cancelled in flight, so it may still be billed.
    assert (calls[TENCENT].role, calls[TENCENT].reason) == ("primary", "cancelled")
    assert calls[TENCENT].possibly_billed
    assert tencent.served() == 1
    assert linkface.served() == 1
