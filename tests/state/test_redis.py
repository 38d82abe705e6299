"""What only ``RedisState`` does: replicas sharing state, failures, privacy, round trips.

The contract itself is asserted in ``test_contract`` on both stores; here several
``RedisState`` instances (each on a client of its own, as separate replicas would be) talk to
one real server, which is also stopped, frozen and restarted under them.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator

import attrs
import pytest
import redis.asyncio as aioredis

from kycmux import Secret, VendorResilience
from kycmux.exceptions import StateUnavailableError
from kycmux.resilience import (
    BreakerSettings,
    BreakerState,
    LockoutSettings,
    LockReason,
    Outcome,
    RateLimitSettings,
    RetryBudgetSettings,
)
from kycmux.state import Admission, RedisState, Refusal, SharedState, SubjectEvent
from kycmux.testing import FakeClock
from support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

V = "alpha"
WHO = "hmac-sha256:0123456789abcdef0123456789abcdef"
LOCKOUT = LockoutSettings(limit=3, cooldown=60.0, memory=120.0, capture_limit=4)
RES = VendorResilience(
    breaker=BreakerSettings(window=10.0, min_calls=4, open_seconds=15.0, probe_lease=30.0),
    rate_limit=RateLimitSettings(rate=2.0, burst=3, pause_on_limit=1.0),
    retry_budget=RetryBudgetSettings(ratio=0.5, min_per_second=0.0),
)
# Seconds a call to a dead or frozen server may take; the bound asserted is generous on
# purpose (a correctness bound, not a performance one).
TIMEOUT = 0.2
WITHIN = 1.0


@attrs.define
class Replicas:
    """Several stores on one server and namespace, each with its own client."""

    url: str
    clock: FakeClock
    ns: str
    states: list[RedisState] = attrs.field(factory=list)

    def new(self, *, ns: str | None = None, timeout: float = 5.0) -> RedisState:
        state = RedisState.from_url(
            self.url, clock=self.clock, namespace=ns or self.ns, timeout=timeout
        )
        self.states.append(state)
        return state

    async def close(self) -> None:
        for state in self.states:
            await state.aclose()


@pytest.fixture
async def replicas(
    redis_url: str, clock: FakeClock, new_namespace: Callable[[], str]
) -> AsyncIterator[Replicas]:
    group = Replicas(redis_url, clock, new_namespace())
    yield group
    await group.close()


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of the test's own, to stop, freeze and restart."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


async def open_breaker(state: SharedState) -> None:
    for _ in range(RES.breaker.min_calls):
        admission = await state.admit(V, RES, first=True, max_wait=math.inf)
        await state.settle(V, RES, admission, Outcome.FAILURE)


# replicas -----------------------------------------------------------------------------------


async def test_replicas_share_the_lockout(replicas: Replicas) -> None:
    one, two = replicas.new(), replicas.new()
    await one.count(WHO, SubjectEvent.FAILURE, LOCKOUT)
    await two.count(WHO, SubjectEvent.FAILURE, LOCKOUT)
    assert (await one.subject(WHO)).counted
    lock = await one.count(WHO, SubjectEvent.FAILURE, LOCKOUT)
    assert lock is not None
    assert lock.reason is LockReason.DEFINITIVE_FAILURES
    assert (await two.subject(WHO)).lock == lock
    await two.unlock(WHO)
    assert (await one.subject(WHO)).lock is None


async def test_replicas_share_breaker_rate_and_budget(replicas: Replicas) -> None:
    one, two = replicas.new(), replicas.new()
    seen_one: list[object] = []
    seen_two: list[object] = []
    one.on_transition(lambda *t: seen_one.append(t[1:3]))
    two.on_transition(lambda *t: seen_two.append(t[1:3]))

    await open_breaker(one)  # four tokens of three: the bucket is one in debt

    refused = await two.admit(V, RES, first=True, max_wait=math.inf)
    assert (refused.refusal, refused.retry_after) == (Refusal.CIRCUIT_OPEN, 15.0)
    assert (await two.breaker_stats(V, RES)).state is BreakerState.OPEN
    assert seen_one == [(BreakerState.CLOSED, BreakerState.OPEN)]
    assert seen_two == []  # listeners hear of transitions their own store made
    assert await two.retry(V, RES)  # four first attempts on `one` deposited two retries
    assert await one.retry(V, RES)
    assert not await two.retry(V, RES)

    await one.reset_breaker(V, RES)
    await one.pause(V, RES, 4.0)
    # The pause ends at 4 s; the bucket, a token in debt, has the next one at 5 s.
    assert (await two.admit(V, RES, first=False, max_wait=math.inf)).wait == 5.0


async def test_one_probe_among_concurrent_replicas(replicas: Replicas) -> None:
    states = [replicas.new() for _ in range(4)]
    transitions: list[object] = []
    for state in states:
        state.on_transition(lambda *t: transitions.append(t[1:3]))
    free = attrs.evolve(RES, rate_limit=RateLimitSettings(rate=None))
    for _ in range(RES.breaker.min_calls):
        admission = await states[0].admit(V, free, first=True, max_wait=math.inf)
        await states[0].settle(V, free, admission, Outcome.FAILURE)
    replicas.clock.advance(RES.breaker.open_seconds)
    transitions.clear()

    answers = await asyncio.gather(
        *(states[i % 4].admit(V, free, first=True, max_wait=math.inf) for i in range(20))
    )

    assert sum(a.granted for a in answers) == 1
    assert {a.refusal for a in answers if not a.granted} == {Refusal.CIRCUIT_OPEN}
    assert transitions == [(BreakerState.OPEN, BreakerState.HALF_OPEN)]


async def test_a_probe_taken_by_an_admit_nobody_heard_is_freed(replicas: Replicas) -> None:
    """The admit's caller is cancelled after the script was sent: the probe it may have
    taken is released by its token, not held for probe_lease across every replica."""
    here, there = replicas.new(), replicas.new()
    free = attrs.evolve(RES, rate_limit=RateLimitSettings(rate=None))
    for _ in range(RES.breaker.min_calls):
        admission = await here.admit(V, free, first=True, max_wait=math.inf)
        await here.settle(V, free, admission, Outcome.FAILURE)
    replicas.clock.advance(RES.breaker.open_seconds)
    unheard = asyncio.ensure_future(here.admit(V, free, first=True, max_wait=math.inf))
    await asyncio.sleep(0)  # the command is on the wire
    unheard.cancel()
    with pytest.raises(asyncio.CancelledError):
        await unheard
    for _ in range(50):  # the release goes out in the background
        probe = await there.admit(V, free, first=True, max_wait=math.inf)
        if probe.granted:
            break
        await asyncio.sleep(0.01)
    assert probe.granted  # without the release: refused until probe_lease (30 s) ends
    assert (await there.breaker_stats(V, free)).state is BreakerState.HALF_OPEN


async def test_namespaces_keep_deployments_apart(replicas: Replicas) -> None:
    blue, green = replicas.new(ns="blue"), replicas.new(ns="green")
    for _ in range(LOCKOUT.limit):
        await blue.count(WHO, SubjectEvent.FAILURE, LOCKOUT)
    await open_breaker(blue)
    await blue.pause(V, RES, 30.0)
    assert (await blue.subject(WHO)).lock is not None
    assert (await green.subject(WHO)).lock is None
    assert (await green.breaker_stats(V, RES)).state is BreakerState.CLOSED
    assert (await green.admit(V, RES, first=True, max_wait=0.0)).wait == 0.0


# privacy ------------------------------------------------------------------------------------

_KEY = re.compile(
    r"(?P<ns>t[0-9a-f]{12}):(s:\{(?P<who>[^}]*)\}:(lock|count|captures)"
    r"|v:\{alpha\}:(breaker|rate|budget|w:\d+:\d+))"
)
# Numbers, the enums' values, and a probe's random token: nothing else is stored.
_VALUE = re.compile(
    r"|-?\d+(\.\d+)?(e[-+]\d+)?|inf|[0-9a-f]{16}"
    r"|closed|open|half_open|definitive_failures|capture_retries"
)


async def test_redis_holds_nothing_but_keyed_hashes_and_numbers(
    replicas: Replicas, redis_server: RedisServer
) -> None:
    state = replicas.new()
    for _ in range(LOCKOUT.limit):
        await state.count(WHO, SubjectEvent.FAILURE, LOCKOUT)
    await state.count(WHO, SubjectEvent.CAPTURE, LOCKOUT)
    await open_breaker(state)
    replicas.clock.advance(RES.breaker.open_seconds)
    await state.admit(V, RES, first=True, max_wait=math.inf)  # the probe, with its token
    await state.retry(V, RES)

    with redis_server.client() as client:
        keys = sorted(k.decode() for k in client.scan_iter())
        values = [(k, v) for k in keys for v in client.hgetall(k).values()]
    assert keys
    matches = [_KEY.fullmatch(key) for key in keys]
    assert all(matches), keys
    assert {m["who"] for m in matches if m and m["who"]} == {WHO}
    assert all(_VALUE.fullmatch(v.decode()) for _, v in values), values


async def test_neither_repr_nor_errors_show_the_password() -> None:
    with RedisServer(password="right") as server:
        assert await _answers(server.url)
        url = f"redis://:s3cret@127.0.0.1:{server.port}/0"
        for given in (url, Secret(url)):
            state = RedisState.from_url(given, namespace="n", timeout=TIMEOUT)
            assert repr(state) == "RedisState(namespace='n')"
            with pytest.raises(StateUnavailableError) as caught:
                await state.subject(WHO)
            await state.aclose()
            assert caught.value.why == "AuthenticationError"
            assert "s3cret" not in str(caught.value)
            assert str(server.port) not in str(caught.value)
            assert caught.value.__cause__ is None
            assert caught.value.__context__ is None
    for bad in ("http://:s3cret@127.0.0.1/0", "redis://:s3cret@127.0.0.1:port/0"):
        with pytest.raises(ValueError, match="state URL") as refused:
            RedisState.from_url(bad)
        assert "s3cret" not in str(refused.value)


async def _answers(url: str) -> bool:
    state = RedisState.from_url(url, timeout=5.0)
    try:
        return not (await state.subject(WHO)).counted
    finally:
        await state.aclose()


def test_rediss_urls_connect_over_tls() -> None:
    state = RedisState.from_url("rediss://:pw@127.0.0.1:6380/0", timeout=TIMEOUT)
    assert state.client.tls is True
    plain = RedisState.from_url("redis://127.0.0.1:6380/0")
    assert plain.client.tls is False
    assert repr(state.client) == "Pipe(...)"


# failures -----------------------------------------------------------------------------------


async def _unavailable_within(state: RedisState, bound: float) -> StateUnavailableError:
    started = time.monotonic()
    with pytest.raises(StateUnavailableError) as caught:
        await state.breaker_stats(V, RES)
    assert time.monotonic() - started < bound
    assert caught.value.operation == "breaker_stats"
    return caught.value


async def test_a_stopped_server_is_unavailable_until_it_is_back(
    own_server: RedisServer, clock: FakeClock
) -> None:
    state = RedisState.from_url(own_server.url, clock=clock, timeout=TIMEOUT)
    try:
        await open_breaker(state)
        own_server.stop()
        error = await _unavailable_within(state, WITHIN)
        assert error.why == "ConnectionError"
        own_server.start()  # same port, empty, and no scripts loaded
        before = state.round_trips
        assert (await state.breaker_stats(V, RES)).state is BreakerState.CLOSED
        assert state.round_trips == before + 2  # EVALSHA, then EVAL with the source
    finally:
        await state.aclose()


async def test_a_frozen_server_times_out_and_the_pool_recovers(
    own_server: RedisServer, clock: FakeClock
) -> None:
    state = RedisState.from_url(own_server.url, clock=clock, timeout=TIMEOUT)
    try:
        await state.count(WHO, SubjectEvent.FAILURE, LOCKOUT)
        with own_server.paused():
            error = await _unavailable_within(state, TIMEOUT + WITHIN)
            assert error.why == "TimeoutError"
            await _unavailable_within(state, TIMEOUT + WITHIN)
        # The timed-out connections were dropped: no late answer is read as this one's.
        for _ in range(3):
            assert (await state.subject(WHO)).counted
            assert (await state.breaker_stats(V, RES)).state is BreakerState.CLOSED
    finally:
        await state.aclose()


async def test_cancellation_propagates_and_leaves_the_pool_usable(
    own_server: RedisServer, clock: FakeClock
) -> None:
    state = RedisState.from_url(own_server.url, clock=clock, timeout=5.0)
    try:
        await state.count(WHO, SubjectEvent.FAILURE, LOCKOUT)
        with own_server.paused():
            task = asyncio.create_task(state.subject(WHO))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        for _ in range(3):
            assert (await state.subject(WHO)).counted
            assert (await state.breaker_stats(V, RES)).state is BreakerState.CLOSED
    finally:
        await state.aclose()


async def test_an_error_reply_is_unavailable_without_its_words(replicas: Replicas) -> None:
    state = replicas.new()
    await state.client.execute_command("SET", f"{state.namespace}:s:{{{WHO}}}:lock", "not a hash")
    with pytest.raises(StateUnavailableError) as caught:
        await state.subject(WHO)
    assert (caught.value.operation, caught.value.why) == ("subject", "ResponseError")
    assert "WRONGTYPE" not in str(caught.value)


# round trips and clients --------------------------------------------------------------------


async def test_each_call_is_one_round_trip(replicas: Replicas) -> None:
    state = replicas.new()
    free = attrs.evolve(RES, rate_limit=RateLimitSettings(rate=2.0, burst=100))

    async def every_method() -> list[tuple[str, int]]:
        costs = []

        async def cost(name: str, call: object) -> object:
            before = state.round_trips
            assert asyncio.iscoroutine(call)
            result = await call
            costs.append((name, state.round_trips - before))
            return result

        await cost("subject", state.subject(WHO))
        await cost("count", state.count(WHO, SubjectEvent.FAILURE, LOCKOUT))
        await cost("unlock", state.unlock(WHO))
        first = await cost("admit", state.admit(V, free, first=True, max_wait=math.inf))
        assert isinstance(first, Admission)
        await cost("settle", state.settle(V, free, first, Outcome.FAILURE))
        second = await cost("admit", state.admit(V, free, first=False, max_wait=math.inf))
        assert isinstance(second, Admission)
        await cost("release", state.release(V, free, second))
        await cost("retry", state.retry(V, free))
        await cost("pause", state.pause(V, free, 0.0))
        await cost("breaker_stats", state.breaker_stats(V, free))
        await cost("reset_breaker", state.reset_breaker(V, free))
        await cost("settle again", state.settle(V, free, first, Outcome.FAILURE))
        return costs

    # A script the server does not know yet costs EVALSHA, then EVAL with its source.
    cold = [n for _, n in await every_method()]
    assert cold == [2, 2, 1, 2, 2, 1, 2, 2, 2, 2, 2, 0]
    warm = await every_method()
    assert [n for _, n in warm] == [1] * 11 + [0], warm


async def test_a_callers_client_is_used_and_left_open(
    redis_url: str, clock: FakeClock, new_namespace: Callable[[], str]
) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        state = RedisState(client, namespace=new_namespace(), clock=clock)
        assert state.shared
        for _ in range(LOCKOUT.limit):
            await state.count(WHO, SubjectEvent.FAILURE, LOCKOUT)
        assert (await state.subject(WHO)).lock is not None  # text replies are read too
        await state.aclose()
        assert await client.ping()
    finally:
        await client.aclose()


def test_settings_of_the_store_are_checked() -> None:
    client = aioredis.Redis()
    for bad in ("", "two words"):
        with pytest.raises(ValueError, match="namespace"):
            RedisState(client, namespace=bad)
    for timeout in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="timeout"):
            RedisState(client, timeout=timeout)
