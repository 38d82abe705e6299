"""Engines sharing a real Redis: what replicas agree on, and what happens when Redis fails.

Each test has its own ``redis-server`` (stopping, pausing and slowing it must not touch other
tests). Engines are "replicas": one ``RedisState`` client each, on one server and namespace.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kycmux import Engine, Evidence, Outcome, VendorResilience
from kycmux.resilience import BreakerSettings, BreakerState, LockoutSettings, RateLimitSettings
from kycmux.state import RedisState
from kycmux.testing import Rig, answer, make_rig, policy
from support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-1")


def replicas(
    rig: Rig,
    server: RedisServer,
    count: int = 2,
    resilience: dict[str, VendorResilience] | None = None,
    **options: object,
) -> list[tuple[Engine, RedisState]]:
    """``count`` engines, each with its own Redis client, on one server and namespace."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    made = []
    for _ in range(count):
        state = RedisState.from_url(server.url, namespace=namespace, clock=rig.clock, timeout=0.5)
        engine = rig.engine(policy(**options), resilience=resilience, state=state)
        made.append((engine, state))
    return made


async def test_a_subject_locked_on_one_replica_is_locked_on_the_other(
    server: RedisServer, evidence: Evidence
) -> None:
    rig = make_rig()
    (first, _), (second, _) = replicas(rig, server)
    for _ in range(5):
        rig.script("alpha", answer("SPOOF"))
        assert (await first.verify(evidence)).outcome is Outcome.REJECT
    calls = dict(rig.calls)
    locked = await second.verify(evidence)
    assert (locked.outcome, locked.reasons) == (Outcome.REJECT, ("subject_locked",))
    assert rig.calls == calls
    # Another subject is not affected.
    other = await second.verify(Evidence(selfie=evidence.selfie, subject_id="subject-2"))
    assert other.outcome is Outcome.ACCEPT
    await first.aclose()
    await second.aclose()


async def test_a_breaker_opened_by_one_replica_is_open_for_the_other(
    server: RedisServer, evidence: Evidence
) -> None:
    rig = make_rig()
    guards = {"alpha": VendorResilience(breaker=BreakerSettings(min_calls=2, open_seconds=60))}
    engines = [engine for engine, _ in replicas(rig, server, 2, guards)]
    rig.script("alpha", *[httpx.Response(503) for _ in range(3)])
    async with rig.clock.autojump(idle_for=0.05):  # the retries' backoff, on the fake clock
        await engines[0].verify(evidence)  # alpha fails (with retries) and opens; beta answers
    stats = await engines[1].breaker_stats("alpha")  # read from the shared store
    assert stats.state is BreakerState.OPEN
    alpha_calls = rig.calls["alpha"]
    decision = await engines[1].verify(Evidence(selfie=evidence.selfie, subject_id="s-2"))
    assert decision.outcome is Outcome.ACCEPT  # from beta
    assert rig.calls["alpha"] == alpha_calls  # the other replica never called alpha
    assert [a.vendor for a in decision.record.attempts] == ["beta"]
    assert "circuit_open" in str(decision.record.to_dict())
    for engine in engines:
        await engine.aclose()


async def test_a_rate_limit_holds_across_replicas(server: RedisServer, evidence: Evidence) -> None:
    rig = make_rig()
    guards = {"alpha": VendorResilience(rate_limit=RateLimitSettings(rate=0.5, burst=1))}
    engines = [engine for engine, _ in replicas(rig, server, 2, guards, deadline=1.0)]
    first = await engines[0].verify(evidence)
    assert [a.vendor for a in first.record.attempts] == ["alpha"]
    # The next token is 2 s away, past this decision's deadline: alpha is not asked.
    second = await engines[1].verify(Evidence(selfie=evidence.selfie, subject_id="s-2"))
    assert [a.vendor for a in second.record.attempts] == ["beta"]
    assert rig.calls == {"alpha": 1, "beta": 1}
    for engine in engines:
        await engine.aclose()


async def test_a_pause_the_vendor_ordered_holds_across_replicas(
    server: RedisServer, evidence: Evidence
) -> None:
    rig = make_rig()
    guards = {"alpha": VendorResilience(rate_limit=RateLimitSettings(pause_on_limit=30))}
    engines = [engine for engine, _ in replicas(rig, server, 2, guards, deadline=2.0)]
    rig.script("alpha", answer("LIMIT"))
    async with rig.clock.autojump(idle_for=0.05):
        first = await engines[0].verify(evidence)  # alpha says "too many", beta answers
    assert first.record.attempts[0].vendor == "alpha"
    alpha_calls = rig.calls["alpha"]
    second = await engines[1].verify(Evidence(selfie=evidence.selfie, subject_id="s-2"))
    assert rig.calls["alpha"] == alpha_calls  # the other replica holds off too
    assert [a.vendor for a in second.record.attempts] == ["beta"]
    for engine in engines:
        await engine.aclose()


@pytest.mark.parametrize("unavailable", ["closed", "open"])
async def test_a_stopped_redis(server: RedisServer, evidence: Evidence, unavailable: str) -> None:
    rig = make_rig()
    lockout = LockoutSettings(unavailable=unavailable)  # type: ignore[arg-type]
    ((engine, _),) = replicas(rig, server, 1, lockout=lockout)
    server.stop()
    began = time.monotonic()
    decision = await engine.verify(evidence)
    assert time.monotonic() - began < 2.0
    if unavailable == "closed":
        assert (decision.outcome, decision.reasons) == (Outcome.ERROR, ("lockout_unavailable",))
        assert rig.calls == {"alpha": 0, "beta": 0}
    else:
        assert decision.outcome is Outcome.ACCEPT
        assert set(decision.record.degraded) == {"lockout", "breaker_and_rate_limit"}
    assert engine.state_fallbacks["subject"] == 1
    await engine.aclose()


async def test_a_paused_redis_costs_a_bounded_wait_then_recovers(
    server: RedisServer, evidence: Evidence
) -> None:
    rig = make_rig()
    ((engine, _),) = replicas(rig, server, 1, lockout=LockoutSettings(unavailable="open"))
    assert (await engine.verify(evidence)).record.degraded == ()
    with server.paused():
        began = time.monotonic()
        decision = await engine.verify(evidence)
        waited = time.monotonic() - began
    assert waited < 2.0  # one state_timeout (0.5 s), then this process's own state
    assert decision.outcome is Outcome.ACCEPT
    assert "lockout" in decision.record.degraded
    rig.clock.advance(1.0)  # the quiet period after a failure
    assert (await engine.verify(evidence)).record.degraded == ()
    await engine.aclose()


async def test_a_slow_redis_is_not_waited_for(server: RedisServer, evidence: Evidence) -> None:
    rig = make_rig()
    ((engine, _),) = replicas(rig, server, 1, lockout=LockoutSettings(unavailable="open"))
    await engine.verify(evidence)  # connected
    # DEBUG SLEEP blocks the server itself: every client's command waits behind it.
    sleeper = threading.Thread(target=lambda: server.client().execute_command("DEBUG", "SLEEP", 1))
    sleeper.start()
    await asyncio.sleep(0.05)
    began = time.monotonic()
    decision = await engine.verify(evidence)
    waited = time.monotonic() - began
    sleeper.join()
    assert waited < 0.9
    assert decision.outcome is Outcome.ACCEPT
    assert "lockout" in decision.record.degraded
    await engine.aclose()


async def test_a_restarted_redis_is_used_again(server: RedisServer, evidence: Evidence) -> None:
    rig = make_rig()
    ((engine, _),) = replicas(rig, server, 1)
    await engine.verify(evidence)
    server.restart()
    rig.clock.advance(1.0)
    decision = await engine.verify(evidence)
    # The first call after the restart may meet a dead pooled connection; by the next it
    # has reconnected.
    if decision.record.degraded:
        rig.clock.advance(1.0)
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    assert decision.record.degraded == ()
    await engine.aclose()


async def test_redis_holds_no_personal_data(server: RedisServer, png_file: Path) -> None:
    rig = make_rig()
    ((engine, _),) = replicas(rig, server, 1)
    person = Evidence(selfie=png_file, id_number="11010519491231002X", id_name="Zhang San")
    rig.script("alpha", answer("SPOOF"))
    await engine.verify(person)
    with server.client() as client:
        dump = b" ".join(
            key + b" " + str(client.dump(key)).encode() for key in client.scan_iter(count=1000)
        )
    assert dump  # the lockout count is there
    for canary in (b"11010519491231002X", b"Zhang", b"subject-1"):
        assert canary not in dump
    await engine.aclose()


async def test_an_operator_unlocks_a_subject_on_every_replica(
    server: RedisServer, evidence: Evidence
) -> None:
    rig = make_rig()
    (first, _), (second, _) = replicas(rig, server)
    for _ in range(5):
        rig.script("alpha", answer("SPOOF"))
        await first.verify(evidence)
    assert (await second.verify(evidence)).reasons == ("subject_locked",)
    await first.unlock("subject-1")
    assert (await second.verify(evidence)).outcome is Outcome.ACCEPT
    stats = await second.breaker_stats("alpha")
    assert stats.state is BreakerState.CLOSED
    assert stats.calls >= 1  # read from the shared store
    for engine in (first, second):
        await engine.aclose()
