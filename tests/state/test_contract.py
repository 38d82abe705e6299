"""The ``SharedState`` contract, asserted alike on ``MemoryState`` and ``RedisState``.

Every test here runs on both stores (the ``state`` fixture), on a fake clock. The last test
feeds random sequences of calls and clock moves to one of each and asserts they answer alike.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kycmux import VendorResilience
from kycmux.resilience import (
    BreakerSettings,
    BreakerState,
    Lock,
    LockoutSettings,
    LockReason,
    Outcome,
    RateLimitSettings,
    RetryBudgetSettings,
)
from kycmux.state import Admission, MemoryState, RedisState, Refusal, SharedState, SubjectEvent
from kycmux.testing import FakeClock
from support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FAILURE, CAPTURE, SUCCESS = SubjectEvent.FAILURE, SubjectEvent.CAPTURE, SubjectEvent.SUCCESS
V = "alpha"
WHO = "hmac-sha256:0123456789abcdef0123456789abcdef"
LOCKOUT = LockoutSettings(limit=3, cooldown=60.0, memory=120.0, capture_limit=4)
# One-second buckets on whole-second times keep window edges where the tests expect them.
BREAKER = BreakerSettings(
    window=10.0, failure_ratio=0.5, min_calls=4, open_seconds=15.0, buckets=10, probe_lease=30.0
)
RES = VendorResilience(
    breaker=BREAKER,
    rate_limit=RateLimitSettings(rate=2.0, burst=3, pause_on_limit=1.0),
    retry_budget=RetryBudgetSettings(ratio=0.5, min_per_second=0.0),
)
UNLIMITED = attrs.evolve(RES, rate_limit=RateLimitSettings(rate=None, pause_on_limit=2.0))

Transition = tuple[str, BreakerState, BreakerState, float]
Op = tuple[Any, ...]


async def admit(
    state: SharedState,
    res: VendorResilience = UNLIMITED,
    *,
    first: bool = True,
    max_wait: float = math.inf,
) -> Admission:
    return await state.admit(V, res, first=first, max_wait=max_wait)


async def granted(state: SharedState, res: VendorResilience = UNLIMITED) -> Admission:
    admission = await admit(state, res)
    assert admission.granted, admission
    return admission


async def record(state: SharedState, *outcomes: Outcome, res: VendorResilience = UNLIMITED) -> None:
    for outcome in outcomes:
        await state.settle(V, res, await granted(state, res), outcome)


async def open_breaker(state: SharedState, res: VendorResilience = UNLIMITED) -> None:
    await record(state, *[Outcome.FAILURE] * BREAKER.min_calls, res=res)
    assert (await state.breaker_stats(V, res)).state is OPEN


def listen(state: SharedState) -> list[Transition]:
    seen: list[Transition] = []
    state.on_transition(lambda *t: seen.append(t))
    return seen


# lockout ------------------------------------------------------------------------------------


async def test_failures_lock_at_the_limit_and_the_lock_resets_the_count(
    state: SharedState,
) -> None:
    assert await state.count(WHO, FAILURE, LOCKOUT) is None
    assert await state.count(WHO, FAILURE, LOCKOUT) is None
    status = await state.subject(WHO)
    assert (status.lock, status.counted) == (None, True)

    lock = await state.count(WHO, FAILURE, LOCKOUT)

    assert lock == Lock(60.0, LockReason.DEFINITIVE_FAILURES)
    status = await state.subject(WHO)
    assert (status.lock, status.counted) == (lock, False)


async def test_unusable_captures_lock_at_capture_limit(state: SharedState) -> None:
    for _ in range(LOCKOUT.capture_limit - 1):
        assert await state.count(WHO, CAPTURE, LOCKOUT) is None
    assert await state.count(WHO, CAPTURE, LOCKOUT) == Lock(60.0, LockReason.CAPTURE_RETRIES)
    assert (await state.subject(WHO)).lock == Lock(60.0, LockReason.CAPTURE_RETRIES)


async def test_a_success_clears_both_counts(state: SharedState) -> None:
    for event in (FAILURE, FAILURE, CAPTURE):
        await state.count(WHO, event, LOCKOUT)
    assert await state.count(WHO, SUCCESS, LOCKOUT) is None
    assert (await state.subject(WHO)).counted is False
    assert await state.count(WHO, FAILURE, LOCKOUT) is None
    assert await state.count(WHO, FAILURE, LOCKOUT) is None  # the count started again


async def test_unlock_clears_lock_and_counts(state: SharedState) -> None:
    for _ in range(LOCKOUT.limit):
        await state.count(WHO, FAILURE, LOCKOUT)
    await state.count(WHO, CAPTURE, LOCKOUT)
    await state.unlock(WHO)
    status = await state.subject(WHO)
    assert (status.lock, status.counted) == (None, False)


async def test_the_lock_ends_after_cooldown(state: SharedState, clock: FakeClock) -> None:
    for _ in range(LOCKOUT.limit):
        await state.count(WHO, FAILURE, LOCKOUT)
    clock.advance(59.5)
    assert (await state.subject(WHO)).lock == Lock(0.5, LockReason.DEFINITIVE_FAILURES)
    clock.advance(0.5)
    assert (await state.subject(WHO)).lock is None


@pytest.mark.parametrize(
    ("event", "kept"), [(FAILURE, LOCKOUT.memory), (CAPTURE, LOCKOUT.cooldown)]
)
async def test_counts_lapse_after_their_memory(
    state: SharedState, clock: FakeClock, event: SubjectEvent, kept: float
) -> None:
    await state.count(WHO, event, LOCKOUT)
    clock.advance(kept - 1)
    assert (await state.subject(WHO)).counted
    await state.count(WHO, event, LOCKOUT)  # each count keeps it `kept` seconds more
    clock.advance(kept - 1)
    assert (await state.subject(WHO)).counted
    clock.advance(1)
    assert not (await state.subject(WHO)).counted
    limit = LOCKOUT.limit if event is FAILURE else LOCKOUT.capture_limit
    for _ in range(limit - 1):  # the count starts again from nothing
        assert await state.count(WHO, event, LOCKOUT) is None


async def test_subjects_are_counted_apart(state: SharedState) -> None:
    for _ in range(LOCKOUT.limit):
        await state.count(WHO, FAILURE, LOCKOUT)
    other = await state.subject(WHO.replace("0", "f"))
    assert (other.lock, other.counted) == (None, False)


async def test_an_empty_subject_is_refused(state: SharedState) -> None:
    with pytest.raises(ValueError, match="subject"):
        await state.subject("")
    with pytest.raises(ValueError, match="subject"):
        await state.count("", FAILURE, LOCKOUT)


# breaker ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "state_after"),
    [
        ([Outcome.FAILURE] * 3, CLOSED),  # under min_calls
        ([Outcome.SUCCESS, Outcome.SUCCESS, Outcome.SUCCESS, Outcome.FAILURE], CLOSED),
        ([Outcome.SUCCESS, Outcome.FAILURE, Outcome.SUCCESS, Outcome.FAILURE], OPEN),
        ([Outcome.NEUTRAL] * 6 + [Outcome.FAILURE] * 3, CLOSED),  # neutral never counts
        ([Outcome.SUCCESS] * 8 + [Outcome.FAILURE] * 7, CLOSED),
        ([Outcome.SUCCESS] * 7 + [Outcome.FAILURE] * 7, OPEN),
    ],
)
async def test_the_breaker_opens_at_the_ratio_with_min_calls(
    state: SharedState, clock: FakeClock, outcomes: list[Outcome], state_after: BreakerState
) -> None:
    seen = listen(state)
    await record(state, *outcomes)
    stats = await state.breaker_stats(V, UNLIMITED)
    assert stats.state is state_after
    if state_after is OPEN:
        assert seen == [(V, CLOSED, OPEN, clock.start)]
        assert (stats.calls, stats.failures, stats.retry_after) == (0, 0, 15.0)
    else:
        counted = [o for o in outcomes if o is not Outcome.NEUTRAL]
        failures = counted.count(Outcome.FAILURE)
        assert (stats.calls, stats.failures, stats.retry_after) == (len(counted), failures, 0)
        assert seen == []


async def test_outcomes_age_out_of_the_window(state: SharedState, clock: FakeClock) -> None:
    await record(state, Outcome.FAILURE, Outcome.FAILURE, Outcome.FAILURE)
    clock.advance(BREAKER.window)
    await record(state, Outcome.FAILURE)
    stats = await state.breaker_stats(V, UNLIMITED)
    assert (stats.state, stats.calls, stats.failures) == (CLOSED, 1, 1)


async def test_an_open_breaker_refuses_until_open_seconds_pass(
    state: SharedState, clock: FakeClock
) -> None:
    await open_breaker(state)
    clock.advance(10.0)
    refused = await admit(state)
    assert (refused.refusal, refused.retry_after) == (Refusal.CIRCUIT_OPEN, 5.0)
    assert (await state.breaker_stats(V, UNLIMITED)).retry_after == 5.0


async def test_exactly_one_probe_goes_out(state: SharedState, clock: FakeClock) -> None:
    await open_breaker(state)
    seen = listen(state)
    clock.advance(BREAKER.open_seconds)
    probe = await granted(state)
    others = [await admit(state) for _ in range(3)]
    assert {(a.refusal, a.retry_after) for a in others} == {(Refusal.CIRCUIT_OPEN, 30.0)}
    assert seen == [(V, OPEN, HALF_OPEN, clock.start + 15.0)]
    stats = await state.breaker_stats(V, UNLIMITED)
    assert (stats.state, stats.retry_after) == (HALF_OPEN, 30.0)
    assert probe.granted


@pytest.mark.parametrize(
    ("outcome", "after"),
    [(Outcome.SUCCESS, CLOSED), (Outcome.NEUTRAL, CLOSED), (Outcome.FAILURE, OPEN)],
)
async def test_the_probe_closes_or_reopens(
    state: SharedState, clock: FakeClock, outcome: Outcome, after: BreakerState
) -> None:
    await open_breaker(state)
    clock.advance(BREAKER.open_seconds)
    probe = await granted(state)
    seen = listen(state)
    clock.advance(1.0)
    await state.settle(V, UNLIMITED, probe, outcome)
    stats = await state.breaker_stats(V, UNLIMITED)
    assert (stats.state, stats.calls, stats.failures) == (after, 0, 0)
    assert seen == [(V, HALF_OPEN, after, clock.start + 16.0)]
    assert stats.retry_after == (15.0 if after is OPEN else 0.0)
    assert (await admit(state)).granted is (after is CLOSED)


async def test_releasing_the_probe_frees_its_slot(state: SharedState, clock: FakeClock) -> None:
    await open_breaker(state)
    clock.advance(BREAKER.open_seconds)
    probe = await granted(state)
    await state.release(V, UNLIMITED, probe)
    stats = await state.breaker_stats(V, UNLIMITED)
    assert (stats.state, stats.retry_after) == (HALF_OPEN, 0.0)
    second = await granted(state)
    assert not (await admit(state)).granted
    await state.settle(V, UNLIMITED, probe, Outcome.FAILURE)  # released: no effect
    await state.settle(V, UNLIMITED, second, Outcome.SUCCESS)
    assert (await state.breaker_stats(V, UNLIMITED)).state is CLOSED


async def test_a_lapsed_probe_lease_lets_another_probe(
    state: SharedState, clock: FakeClock
) -> None:
    await open_breaker(state)
    clock.advance(BREAKER.open_seconds)
    stale = await granted(state)
    clock.advance(BREAKER.probe_lease - 1)
    assert (await admit(state)).refusal is Refusal.CIRCUIT_OPEN
    clock.advance(1)
    fresh = await granted(state)
    await state.settle(V, UNLIMITED, stale, Outcome.FAILURE)  # its lease is gone: ignored
    assert (await state.breaker_stats(V, UNLIMITED)).state is HALF_OPEN
    await state.settle(V, UNLIMITED, fresh, Outcome.SUCCESS)
    assert (await state.breaker_stats(V, UNLIMITED)).state is CLOSED


async def test_outcomes_of_an_older_generation_are_ignored(
    state: SharedState, clock: FakeClock
) -> None:
    in_flight = [await granted(state) for _ in range(3)]
    await open_breaker(state)
    for admission in in_flight:
        await state.settle(V, UNLIMITED, admission, Outcome.SUCCESS)
    stats = await state.breaker_stats(V, UNLIMITED)
    assert (stats.state, stats.retry_after) == (OPEN, 15.0)
    await state.reset_breaker(V, UNLIMITED)
    old = await granted(state)
    await state.reset_breaker(V, UNLIMITED)  # a fresh generation again
    await state.settle(V, UNLIMITED, old, Outcome.FAILURE)
    stats = await state.breaker_stats(V, UNLIMITED)
    assert (stats.state, stats.calls, stats.failures) == (CLOSED, 0, 0)


async def test_reset_closes_with_an_empty_window(state: SharedState, clock: FakeClock) -> None:
    await record(state, Outcome.FAILURE, Outcome.SUCCESS)
    await state.reset_breaker(V, UNLIMITED)
    assert (await state.breaker_stats(V, UNLIMITED)).calls == 0
    await open_breaker(state)
    seen = listen(state)
    await state.reset_breaker(V, UNLIMITED)
    assert seen == [(V, OPEN, CLOSED, clock.start)]
    assert (await admit(state)).granted


async def test_settling_twice_counts_once(state: SharedState) -> None:
    admission = await granted(state)
    await state.settle(V, UNLIMITED, admission, Outcome.FAILURE)
    await state.settle(V, UNLIMITED, admission, Outcome.FAILURE)
    await state.release(V, UNLIMITED, admission)
    assert (await state.breaker_stats(V, UNLIMITED)).failures == 1


async def test_a_listener_that_raises_breaks_nothing(state: SharedState) -> None:
    def boom(*_: Any) -> None:
        raise RuntimeError("observer bug")

    state.on_transition(boom)
    seen = listen(state)
    await open_breaker(state)
    assert [t[1:3] for t in seen] == [(CLOSED, OPEN)]


# rate ---------------------------------------------------------------------------------------


async def test_a_burst_then_waits_that_grow(state: SharedState) -> None:
    waits = [(await granted(state, RES)).wait for _ in range(6)]
    assert waits == [0.0, 0.0, 0.0, 0.5, 1.0, 1.5]


async def test_tokens_come_back_at_the_rate(state: SharedState, clock: FakeClock) -> None:
    for _ in range(3):
        await granted(state, RES)
    clock.advance(1.0)  # two tokens back
    waits = [(await granted(state, RES)).wait for _ in range(3)]
    assert waits == [0.0, 0.0, 0.5]


async def test_past_max_wait_nothing_is_kept(state: SharedState) -> None:
    for _ in range(4):
        await granted(state, RES)  # the fourth waits 0.5
    refused = await admit(state, RES, max_wait=1.0)
    assert (refused.refusal, refused.retry_after) == (Refusal.CLIENT_RATE_LIMIT, 0.0)
    assert (await admit(state, RES, max_wait=1.0 + 1e-6)).wait == 1.0


async def test_a_refusal_by_rate_keeps_no_probe(state: SharedState, clock: FakeClock) -> None:
    await open_breaker(state, RES)
    clock.advance(BREAKER.open_seconds)
    await state.pause(V, RES, 5.0)
    refused = await admit(state, RES, max_wait=1.0)
    assert (refused.refusal, refused.retry_after) == (Refusal.CLIENT_RATE_LIMIT, 5.0)
    stats = await state.breaker_stats(V, RES)
    assert (stats.state, stats.retry_after) == (HALF_OPEN, 0.0)  # the probe slot is free
    probe = await admit(state, RES)
    assert (probe.refusal, probe.wait) == (None, 5.0)
    assert (await admit(state, RES)).refusal is Refusal.CIRCUIT_OPEN


async def test_a_pause_delays_and_only_extends(state: SharedState, clock: FakeClock) -> None:
    await state.pause(V, RES, 5.0)
    clock.advance(1.0)
    await state.pause(V, RES, 2.0)  # it would end before the first: the first stands
    refused = await admit(state, RES, max_wait=3.0)
    assert (refused.refusal, refused.retry_after) == (Refusal.CLIENT_RATE_LIMIT, 4.0)
    # Nothing accumulated meanwhile: one token at the pause's end, then the rate.
    waits = [(await granted(state, RES)).wait for _ in range(3)]
    assert waits == [4.0, 4.5, 5.0]


@pytest.mark.parametrize("seconds", [None, math.nan, -1.0, math.inf])
async def test_a_pause_without_a_usable_length_uses_pause_on_limit(
    state: SharedState, seconds: float | None
) -> None:
    await state.pause(V, UNLIMITED, seconds)
    assert (await granted(state)).wait == 2.0


async def test_without_a_rate_only_pauses_delay(state: SharedState, clock: FakeClock) -> None:
    assert {(await granted(state)).wait for _ in range(50)} == {0.0}
    await state.pause(V, UNLIMITED, 3.0)
    clock.advance(1.0)
    assert [(await granted(state)).wait for _ in range(3)] == [2.0] * 3


async def test_releasing_an_admission_refunds_its_token(state: SharedState) -> None:
    admissions = [await granted(state, RES) for _ in range(3)]
    await state.release(V, RES, admissions[0])
    await state.release(V, RES, admissions[0])  # once only
    assert [(await granted(state, RES)).wait for _ in range(2)] == [0.0, 0.5]


async def test_an_admission_from_another_store_is_refused(state: SharedState) -> None:
    stranger = Admission(ticket=object())
    with pytest.raises(ValueError, match="not given by this store"):
        await state.settle(V, RES, stranger, Outcome.SUCCESS)
    with pytest.raises(ValueError, match="not given by this store"):
        await state.release(V, RES, stranger)


# retry budget -------------------------------------------------------------------------------


async def test_first_attempts_buy_retries(state: SharedState) -> None:
    assert await state.retry(V, RES) is False
    await granted(state, RES)
    await admit(state, RES, first=False)
    assert await state.retry(V, RES) is False  # 0.5 of a token
    await granted(state, RES)
    assert await state.retry(V, RES) is True
    assert await state.retry(V, RES) is False


async def test_the_budget_holds_at_most_ten(state: SharedState, clock: FakeClock) -> None:
    for _ in range(30):
        await granted(state)
    assert [await state.retry(V, UNLIMITED) for _ in range(11)] == [True] * 10 + [False]


async def test_the_floor_allows_retries_per_second(state: SharedState, clock: FakeClock) -> None:
    floored = attrs.evolve(RES, retry_budget=RetryBudgetSettings(ratio=0.1, min_per_second=2.0))
    assert [await state.retry(V, floored) for _ in range(3)] == [True, True, False]
    clock.advance(0.5)
    assert [await state.retry(V, floored) for _ in range(2)] == [True, False]
    clock.advance(10.0)  # the floor never holds more than max(1, min_per_second)
    assert [await state.retry(V, floored) for _ in range(3)] == [True, True, False]


async def test_vendors_are_kept_apart(state: SharedState) -> None:
    await open_breaker(state, RES)
    await state.pause(V, RES, 9.0)
    assert (await state.admit("beta", RES, first=True, max_wait=0.0)).wait == 0.0
    assert (await state.breaker_stats("beta", RES)).state is CLOSED


# the same answers -----------------------------------------------------------------------------

SUBJECTS = (WHO, "hmac-sha256:ffffffffffffffffffffffffffffffff")
VENDORS = {
    "rated": attrs.evolve(
        RES,
        breaker=attrs.evolve(BREAKER, min_calls=3, open_seconds=4.0, probe_lease=6.0),
        retry_budget=RetryBudgetSettings(ratio=0.3, min_per_second=0.5),
    ),
    "free": attrs.evolve(UNLIMITED, breaker=attrs.evolve(BREAKER, min_calls=2, buckets=4)),
}
SHORT = LockoutSettings(limit=2, cooldown=5.0, memory=8.0, capture_limit=3)

VENDOR = st.sampled_from(sorted(VENDORS))
SUBJECT = st.sampled_from(SUBJECTS)
# Short clock moves mostly: the long ones reset every window, bucket and cool-down at once.
ADVANCE = st.tuples(st.just("advance"), st.integers(0, 12).map(lambda q: q / 4))
ADMIT = st.tuples(
    st.just("admit"), VENDOR, st.booleans(), st.sampled_from([0.0, 0.5, 2.0, math.inf])
)
OUTCOME = st.sampled_from([Outcome.FAILURE, Outcome.FAILURE, Outcome.SUCCESS, Outcome.NEUTRAL])
SETTLE = st.tuples(st.just("settle"), st.integers(0, 7), OUTCOME)
COUNT = st.tuples(st.just("count"), SUBJECT, st.sampled_from(list(SubjectEvent)))
OPS: dict[str, st.SearchStrategy[Op]] = {
    "advance": ADVANCE,
    "jump": st.tuples(st.just("advance"), st.sampled_from([5.0, 10.0])),
    "subject": st.tuples(st.just("subject"), SUBJECT),
    "count": COUNT,
    "unlock": st.tuples(st.just("unlock"), SUBJECT),
    "admit": ADMIT,
    "call": st.tuples(st.just("call"), VENDOR, OUTCOME),
    "settle": SETTLE,
    "release": st.tuples(st.just("release"), st.integers(0, 7)),
    "retry": st.tuples(st.just("retry"), VENDOR),
    "pause": st.tuples(st.just("pause"), VENDOR, st.sampled_from([None, 0.0, 1.5, 5.0])),
    "stats": st.tuples(st.just("stats"), VENDOR),
    "reset": st.tuples(st.just("reset"), VENDOR),
}
# How often each kind comes (one_of would weigh every branch alike, repeated or not).
WEIGHTS = {"call": 6, "advance": 5, "admit": 3, "settle": 3, "count": 3, "retry": 2, "subject": 2}
ops = st.sampled_from([kind for kind in OPS for _ in range(WEIGHTS.get(kind, 1))]).flatmap(
    OPS.__getitem__
)


def _answer(value: Any) -> Any:
    """What a call said, in a form two stores' answers can be compared by."""
    if isinstance(value, Admission):
        return (value.refusal, round(value.wait, 9), round(value.retry_after, 9))
    if isinstance(value, Lock):
        return (round(value.remaining, 9), value.reason)
    if hasattr(value, "lock") and hasattr(value, "counted"):
        return (_answer(value.lock), value.counted)
    if hasattr(value, "retry_after") and hasattr(value, "state"):
        return (value.state, value.calls, value.failures, round(value.retry_after, 9))
    return value


@attrs.define
class _Run:
    """One store, its clock, the admissions it has out and the transitions it reported."""

    store: SharedState
    clock: FakeClock
    out: list[tuple[str, Admission]] = attrs.field(factory=list)
    seen: list[Transition] = attrs.field(factory=list)

    async def do(self, op: Op) -> Any:
        name, *args = op
        if name == "advance":
            self.clock.advance(args[0])
            return None
        if name in ("subject", "unlock"):
            method: Callable[..., Any] = getattr(self.store, name)
            return _answer(await method(args[0]))
        if name == "count":
            return _answer(await self.store.count(args[0], args[1], SHORT))
        if name in ("settle", "release"):
            if not self.out:
                return None
            vendor, admission = self.out.pop(args[0] % len(self.out))
            if name == "settle":
                await self.store.settle(vendor, VENDORS[vendor], admission, args[1])
            else:
                await self.store.release(vendor, VENDORS[vendor], admission)
            return None
        vendor, res = args[0], VENDORS[args[0]]
        if name == "call":  # the usual round: admit, call at once, settle
            admission = await self.store.admit(vendor, res, first=True, max_wait=math.inf)
            if admission.granted:
                await self.store.settle(vendor, res, admission, args[1])
            return _answer(admission)
        if name == "admit":
            admission = await self.store.admit(vendor, res, first=args[1], max_wait=args[2])
            if admission.granted:
                self.out.append((vendor, admission))
            return _answer(admission)
        if name == "retry":
            return await self.store.retry(vendor, res)
        if name == "pause":
            return await self.store.pause(vendor, res, args[1])
        if name == "stats":
            return _answer(await self.store.breaker_stats(vendor, res))
        return await self.store.reset_breaker(vendor, res)


async def _compare(
    url: str, namespace: str, clocks: tuple[FakeClock, FakeClock], sequence: list[Op]
) -> None:
    memory = _Run(MemoryState(clock=clocks[0]), clocks[0])
    shared = _Run(
        RedisState.from_url(url, clock=clocks[1], namespace=namespace, timeout=5.0), clocks[1]
    )
    for run in (memory, shared):
        run.store.on_transition(lambda *t, run=run: run.seen.append(t))
    try:
        for step, op in enumerate(sequence):
            expected, got = await memory.do(op), await shared.do(op)
            assert got == expected, (step, op)
            assert shared.seen == memory.seen, (step, op)
        for vendor, res in VENDORS.items():
            assert _answer(await shared.store.breaker_stats(vendor, res)) == _answer(
                await memory.store.breaker_stats(vendor, res)
            )
    finally:
        await shared.store.aclose()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(ops, min_size=20, max_size=80))
def test_memory_and_redis_answer_alike(
    redis_server: RedisServer,
    new_clock: Callable[[], FakeClock],
    new_namespace: Callable[[], str],
    sequence: list[Op],
) -> None:
    redis_server.start()
    clocks = (new_clock(), new_clock())
    asyncio.run(_compare(redis_server.url, new_namespace(), clocks, sequence))
