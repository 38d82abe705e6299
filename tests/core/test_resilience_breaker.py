"""CircuitBreaker: sliding window, open, exactly one half-open probe, listeners, shared state."""

from __future__ import annotations

import asyncio

import pytest

from kycmux import ErrorClass
from kycmux.resilience import (
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    InMemoryStateStore,
    Outcome,
    Permit,
    outcome_for,
)
from kycmux.testing import FakeClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
# One-second buckets on a whole-second clock keep bucket edges where the tests expect them.
SETTINGS = BreakerSettings(window=10.0, failure_ratio=0.5, min_calls=5, open_seconds=15.0)

Transition = tuple[str, BreakerState, BreakerState, float]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def transitions() -> list[Transition]:
    return []


@pytest.fixture
def breaker(clock: FakeClock, transitions: list[Transition]) -> CircuitBreaker:
    store = InMemoryStateStore(clock)
    return CircuitBreaker.from_settings(
        "alpha",
        SETTINGS,
        clock=clock,
        store=store,
        listeners=[lambda *t: transitions.append(t)],
    )


def permit_of(breaker: CircuitBreaker) -> Permit:
    permit = breaker.acquire()
    assert permit is not None
    return permit


def record(breaker: CircuitBreaker, *outcomes: Outcome) -> None:
    for outcome in outcomes:
        permit_of(breaker).record(outcome)


def trip(breaker: CircuitBreaker) -> None:
    record(breaker, *[Outcome.FAILURE] * SETTINGS.min_calls)
    assert breaker.state is OPEN


def test_defaults_are_the_documented_ones() -> None:
    settings = BreakerSettings()
    assert (settings.window, settings.failure_ratio, settings.min_calls) == (30.0, 0.5, 5)
    assert (settings.open_seconds, settings.buckets, settings.bucket_width) == (15.0, 10, 3.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 0},
        {"window": float("inf")},
        {"failure_ratio": 0},
        {"failure_ratio": 1.5},
        {"min_calls": 0},
        {"open_seconds": -1},
        {"buckets": 0},
        {"probe_lease": float("nan")},
    ],
)
def test_settings_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises((ValueError, TypeError)):
        BreakerSettings(**kwargs)  # type: ignore[arg-type]


def test_a_closed_breaker_lets_every_call_through(breaker: CircuitBreaker) -> None:
    permits = [breaker.acquire() for _ in range(50)]
    assert all(p is not None and not p.is_probe for p in permits)
    assert breaker.retry_after() == 0.0


def test_does_not_open_below_min_calls_however_bad(breaker: CircuitBreaker) -> None:
    record(breaker, *[Outcome.FAILURE] * 4)
    assert breaker.state is CLOSED
    record(breaker, Outcome.FAILURE)
    assert breaker.state is OPEN


def test_opens_only_when_the_ratio_is_reached(breaker: CircuitBreaker) -> None:
    record(breaker, Outcome.SUCCESS, Outcome.SUCCESS, Outcome.SUCCESS)
    record(breaker, Outcome.FAILURE, Outcome.FAILURE)
    stats = breaker.stats()
    assert (stats.state, stats.calls, stats.failures) == (CLOSED, 5, 2)  # 0.4 < 0.5
    record(breaker, Outcome.FAILURE)  # 3 of 6 = 0.5
    assert breaker.state is OPEN


def test_old_failures_age_out_of_the_window(breaker: CircuitBreaker, clock: FakeClock) -> None:
    record(breaker, *[Outcome.FAILURE] * 4)
    clock.advance(10.0)
    record(breaker, Outcome.FAILURE)
    assert breaker.state is CLOSED
    assert breaker.stats().calls == 1


def test_failures_still_in_the_window_count(breaker: CircuitBreaker, clock: FakeClock) -> None:
    record(breaker, *[Outcome.FAILURE] * 4)
    clock.advance(8.0)
    record(breaker, Outcome.FAILURE)
    assert breaker.state is OPEN


def test_neutral_outcomes_never_move_the_breaker(breaker: CircuitBreaker) -> None:
    record(breaker, *[Outcome.NEUTRAL] * 100)
    record(breaker, *[Outcome.FAILURE] * 4)
    stats = breaker.stats()
    assert (stats.state, stats.calls, stats.failures) == (CLOSED, 4, 4)


def test_open_refuses_calls_and_says_how_long(breaker: CircuitBreaker, clock: FakeClock) -> None:
    trip(breaker)
    assert breaker.acquire() is None
    assert breaker.retry_after() == 15.0
    clock.advance(5.0)
    assert breaker.acquire() is None
    assert breaker.retry_after() == pytest.approx(10.0)


@pytest.mark.anyio
async def test_half_open_admits_exactly_one_probe_among_concurrent_callers(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    trip(breaker)
    clock.advance(15.0)

    async def caller() -> Permit | None:
        await asyncio.sleep(0)
        return breaker.acquire()

    results = await asyncio.gather(*(caller() for _ in range(25)))
    permits = [p for p in results if p is not None]
    assert len(permits) == 1
    assert permits[0].is_probe
    assert breaker.state is HALF_OPEN
    assert breaker.retry_after() > 0


def test_probe_success_closes_with_an_empty_window(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    trip(breaker)
    clock.advance(15.0)
    permit_of(breaker).record(Outcome.SUCCESS)
    assert breaker.state is CLOSED
    assert breaker.stats().calls == 0
    record(breaker, *[Outcome.FAILURE] * 4)  # the failures that opened it are gone
    assert breaker.state is CLOSED


def test_probe_failure_reopens_for_open_seconds(breaker: CircuitBreaker, clock: FakeClock) -> None:
    trip(breaker)
    clock.advance(20.0)
    permit_of(breaker).record(Outcome.FAILURE)
    assert breaker.state is OPEN
    assert breaker.acquire() is None
    assert breaker.retry_after() == 15.0


def test_neutral_probe_closes_the_breaker(breaker: CircuitBreaker, clock: FakeClock) -> None:
    trip(breaker)
    clock.advance(15.0)
    permit_of(breaker).record(Outcome.NEUTRAL)
    assert breaker.state is CLOSED


@pytest.mark.anyio
async def test_cancelled_probe_frees_the_slot(breaker: CircuitBreaker, clock: FakeClock) -> None:
    trip(breaker)
    clock.advance(15.0)
    probing = asyncio.Event()

    async def probe_call() -> None:
        with permit_of(breaker):
            probing.set()
            await clock.sleep(100.0)  # a hanging vendor

    task = asyncio.create_task(probe_call())
    await probing.wait()
    assert breaker.acquire() is None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    permit = breaker.acquire()
    assert permit is not None
    assert permit.is_probe


def test_explicit_cancel_frees_the_slot_and_is_idempotent(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    trip(breaker)
    clock.advance(15.0)
    probe = permit_of(breaker)
    probe.cancel()
    probe.cancel()
    assert probe.settled
    assert breaker.state is HALF_OPEN
    assert breaker.retry_after() == 0.0
    assert breaker.acquire() is not None


def test_a_permit_records_once(breaker: CircuitBreaker) -> None:
    permit = permit_of(breaker)
    permit.record(Outcome.SUCCESS)
    permit.cancel()  # harmless after record
    with pytest.raises(RuntimeError, match="already settled"):
        permit.record(Outcome.FAILURE)


def test_a_lapsed_probe_lease_lets_another_caller_probe(clock: FakeClock) -> None:
    breaker = CircuitBreaker("alpha", BreakerSettings(min_calls=1, probe_lease=30.0), clock)
    record(breaker, Outcome.FAILURE)
    clock.advance(15.0)
    lost = permit_of(breaker)
    clock.advance(29.0)
    assert breaker.acquire() is None
    clock.advance(1.0)
    second = permit_of(breaker)
    lost.record(Outcome.FAILURE)  # too late: the slot is someone else's now
    assert breaker.state is HALF_OPEN
    second.record(Outcome.SUCCESS)
    assert breaker.state is CLOSED


def test_outcomes_of_calls_from_an_earlier_state_are_ignored(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    stale = [permit_of(breaker) for _ in range(5)]
    trip(breaker)
    clock.advance(15.0)
    permit_of(breaker).record(Outcome.SUCCESS)
    for permit in stale:
        permit.record(Outcome.FAILURE)
    stats = breaker.stats()
    assert (stats.state, stats.calls) == (CLOSED, 0)


def test_listeners_see_every_transition_with_its_time(
    breaker: CircuitBreaker, clock: FakeClock, transitions: list[Transition]
) -> None:
    t0 = clock.time()
    trip(breaker)
    clock.advance(15.0)
    permit_of(breaker).record(Outcome.FAILURE)
    clock.advance(15.0)
    permit_of(breaker).record(Outcome.SUCCESS)
    assert transitions == [
        ("alpha", CLOSED, OPEN, t0),
        ("alpha", OPEN, HALF_OPEN, t0 + 15.0),
        ("alpha", HALF_OPEN, OPEN, t0 + 15.0),
        ("alpha", OPEN, HALF_OPEN, t0 + 30.0),
        ("alpha", HALF_OPEN, CLOSED, t0 + 30.0),
    ]


def test_a_failing_listener_does_not_break_the_breaker(
    breaker: CircuitBreaker, transitions: list[Transition], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("listener bug")

    breaker.add_listener(broken)
    trip(breaker)
    assert transitions[-1][1:3] == (CLOSED, OPEN)
    assert "listener failed for alpha" in caplog.text


def test_breakers_sharing_a_store_share_the_state(clock: FakeClock) -> None:
    store = InMemoryStateStore(clock)
    here = CircuitBreaker.from_settings("alpha", SETTINGS, clock=clock, store=store)
    there = CircuitBreaker.from_settings("alpha", SETTINGS, clock=clock, store=store)
    other_vendor = CircuitBreaker.from_settings("beta", SETTINGS, clock=clock, store=store)
    record(here, Outcome.FAILURE, Outcome.FAILURE, Outcome.FAILURE)
    record(there, Outcome.FAILURE, Outcome.FAILURE)
    assert there.state is OPEN
    assert here.acquire() is None
    assert other_vendor.acquire() is not None
    clock.advance(15.0)
    assert there.acquire() is not None
    assert here.acquire() is None  # the single probe went to the other process


def test_reset_closes_an_open_breaker(breaker: CircuitBreaker) -> None:
    trip(breaker)
    breaker.reset()
    assert breaker.state is CLOSED
    assert breaker.acquire() is not None


@pytest.mark.parametrize(
    ("error_class", "outcome"),
    [
        (None, Outcome.SUCCESS),
        (ErrorClass.VENDOR_UNAVAILABLE, Outcome.FAILURE),
        (ErrorClass.POSSIBLY_BILLED, Outcome.FAILURE),
        (ErrorClass.CREDENTIALS_REJECTED, Outcome.FAILURE),
        (ErrorClass.RATE_LIMITED, Outcome.NEUTRAL),
        (ErrorClass.NOT_LIVE, Outcome.NEUTRAL),
        (ErrorClass.CAPTURE_UNUSABLE, Outcome.NEUTRAL),
        (ErrorClass.REQUEST_INVALID, Outcome.NEUTRAL),
    ],
)
def test_outcome_for_follows_the_taxonomy(error_class: ErrorClass | None, outcome: Outcome) -> None:
    assert outcome_for(error_class) is outcome


def test_default_store_follows_the_breaker_clock(clock: FakeClock) -> None:
    breaker = CircuitBreaker("alpha", BreakerSettings(min_calls=1), clock)
    record(breaker, Outcome.FAILURE)
    assert breaker.acquire() is None
    clock.advance(15.0)
    assert breaker.acquire() is not None


def test_refuses_now_says_what_acquire_would_without_claiming_the_probe(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    assert not breaker.refuses_now()  # never used
    trip(breaker)
    assert breaker.refuses_now()
    assert breaker.acquire() is None
    clock.advance(SETTINGS.open_seconds)
    assert not breaker.refuses_now()  # the probe is due
    assert not breaker.refuses_now()  # asking claimed nothing
    probe = permit_of(breaker)
    assert breaker.state is HALF_OPEN
    assert breaker.refuses_now()  # the probe is out
    assert breaker.acquire() is None
    probe.record(Outcome.SUCCESS)
    assert breaker.state is CLOSED
    assert not breaker.refuses_now()  # closed, with a record
