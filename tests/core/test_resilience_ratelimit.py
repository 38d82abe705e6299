"""RateLimiter on the fake clock: rate and burst, pauses, deadlines, the in-flight bound."""

from __future__ import annotations

import asyncio

import pytest

from kycmux.resilience import Deadline, InFlightSlot, RateLimiter, RateLimitSettings
from kycmux.testing import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(monotonic_start=0.0)


def limiter(clock: FakeClock, **settings: float | None) -> RateLimiter:
    return RateLimiter("alpha", RateLimitSettings(**settings), clock)  # type: ignore[arg-type]


async def times_of(clock: FakeClock, limiter: RateLimiter, n: int) -> list[float]:
    """Start ``n`` concurrent acquires and note when each got its token."""
    got: list[float] = []

    async def one() -> None:
        assert await limiter.acquire()
        got.append(clock.monotonic())

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await clock.run_until_idle()
    await asyncio.gather(*tasks)
    return got


def test_settings_defaults_and_validation() -> None:
    settings = RateLimitSettings()
    assert (settings.rate, settings.max_in_flight, settings.pause_on_limit) == (None, 64, 1.0)
    for bad in ({"rate": 0}, {"rate": float("inf")}, {"burst": 0}, {"max_in_flight": 0}):
        with pytest.raises((ValueError, TypeError)):
            RateLimitSettings(**bad)
    with pytest.raises(ValueError, match="pause_on_limit"):
        RateLimitSettings(pause_on_limit=-1)


async def test_burst_goes_at_once_then_the_rate_applies(clock: FakeClock) -> None:
    limits = limiter(clock, rate=10.0, burst=3)
    got = await times_of(clock, limits, 6)
    assert got == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])


async def test_tokens_refill_up_to_burst_only(clock: FakeClock) -> None:
    limits = limiter(clock, rate=2.0, burst=2)
    await times_of(clock, limits, 2)
    clock.advance(100.0)
    assert limits.tokens == 2.0
    start = clock.monotonic()
    got = await times_of(clock, limits, 3)
    assert [t - start for t in got] == pytest.approx([0.0, 0.0, 0.5])


async def test_acquire_fails_fast_when_the_token_comes_after_the_deadline(
    clock: FakeClock,
) -> None:
    limits = limiter(clock, rate=1.0, burst=1)
    assert await limits.acquire(Deadline(clock, 5.0))
    assert not await limits.acquire(Deadline(clock, 0.5))
    assert not await limits.acquire(Deadline(clock, 1.0))  # arrives exactly as it expires
    assert clock.elapsed == 0.0  # refused without waiting
    # A refusal reserves nothing: the next caller's token is still due at 1 s.
    assert await times_of(clock, limits, 1) == [1.0]


async def test_acquire_with_an_expired_deadline_is_refused(clock: FakeClock) -> None:
    limits = limiter(clock)
    assert not await limits.acquire(Deadline(clock, 0.0))


async def test_acquire_waits_when_the_token_comes_in_time(clock: FakeClock) -> None:
    limits = limiter(clock, rate=1.0, burst=1)
    assert await limits.acquire()
    task = asyncio.create_task(limits.acquire(Deadline(clock, 2.0)))
    await clock.run_until_idle()
    assert task.result() is True
    assert clock.monotonic() == 1.0


async def test_no_rate_means_no_waiting(clock: FakeClock) -> None:
    limits = limiter(clock, rate=None)
    for _ in range(1000):
        assert await limits.acquire(Deadline(clock, 0.001))
    assert clock.elapsed == 0.0


async def test_pause_holds_every_token_until_it_ends(clock: FakeClock) -> None:
    limits = limiter(clock, rate=10.0, burst=5)
    limits.pause(2.0)
    assert limits.paused_for() == 2.0
    got = await times_of(clock, limits, 3)
    # One request as the pause ends, then the rate: no burst at a vendor that pushed back.
    assert got == pytest.approx([2.0, 2.1, 2.2])


async def test_pause_without_a_duration_uses_pause_on_limit(clock: FakeClock) -> None:
    limits = limiter(clock, pause_on_limit=3.0)
    limits.pause()
    assert limits.paused_for() == 3.0
    assert not await limits.acquire(Deadline(clock, 2.0))
    assert await times_of(clock, limits, 1) == [3.0]


async def test_pauses_extend_and_never_shorten(clock: FakeClock) -> None:
    limits = limiter(clock)
    limits.pause(5.0)
    limits.pause(1.0)
    assert limits.paused_for() == 5.0
    with pytest.raises(ValueError, match="pause"):
        limits.pause(float("nan"))


async def test_a_pause_reaches_callers_already_waiting(clock: FakeClock) -> None:
    limits = limiter(clock, rate=10.0, burst=1)
    assert await limits.acquire()
    waiter = asyncio.create_task(limits.acquire())
    doomed = asyncio.create_task(limits.acquire(Deadline(clock, 1.0)))
    await asyncio.sleep(0)
    clock.advance(0.05)
    limits.pause(5.0)
    await clock.run_until_idle()
    assert waiter.result() is True
    assert doomed.result() is False  # the pause outlasts its deadline
    assert clock.monotonic() == pytest.approx(5.05)


async def test_a_cancelled_waiter_gives_its_reservation_back(clock: FakeClock) -> None:
    limits = limiter(clock, rate=1.0, burst=1)
    assert await limits.acquire()
    cancelled = asyncio.create_task(limits.acquire())
    await asyncio.sleep(0)
    assert limits.tokens == -1.0
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert limits.tokens == 0.0
    assert await times_of(clock, limits, 1) == [1.0]


async def test_in_flight_slots_are_bounded_and_handed_over_in_order(clock: FakeClock) -> None:
    limits = limiter(clock, max_in_flight=2)
    first, second = await limits.acquire_slot(), await limits.acquire_slot()
    assert first is not None
    assert second is not None
    assert limits.in_flight == 2
    order: list[str] = []

    async def wait_for_slot(name: str) -> InFlightSlot | None:
        slot = await limits.acquire_slot()
        order.append(name)
        return slot

    waiters = [asyncio.create_task(wait_for_slot(n)) for n in ("a", "b", "c")]
    await asyncio.sleep(0)
    assert order == []
    first.release()
    first.release()  # twice is harmless
    await asyncio.sleep(0)
    assert order == ["a"]
    with second:
        pass
    await asyncio.sleep(0)
    assert order == ["a", "b"]
    assert limits.in_flight == 2
    a = waiters[0].result()
    assert a is not None
    a.release()
    await asyncio.gather(*waiters)
    assert order == ["a", "b", "c"]


async def test_slot_wait_gives_up_at_the_deadline(clock: FakeClock) -> None:
    limits = limiter(clock, max_in_flight=1)
    held = await limits.acquire_slot()
    assert held is not None
    task = asyncio.create_task(limits.acquire_slot(Deadline(clock, 1.5)))
    await clock.run_until_idle()
    assert task.result() is None
    assert clock.monotonic() == 1.5
    held.release()
    assert limits.in_flight == 0  # the slot went back to the pool, not to the gone waiter
    assert await limits.acquire_slot(Deadline(clock, 0.0)) is not None


async def test_slot_wait_with_an_expired_deadline_is_refused_at_once(clock: FakeClock) -> None:
    limits = limiter(clock, max_in_flight=1)
    assert await limits.acquire_slot() is not None
    assert await limits.acquire_slot(Deadline(clock, 0.0)) is None


async def test_a_cancelled_slot_waiter_leaves_the_queue(clock: FakeClock) -> None:
    limits = limiter(clock, max_in_flight=1)
    held = await limits.acquire_slot()
    assert held is not None
    cancelled = asyncio.create_task(limits.acquire_slot())
    patient = asyncio.create_task(limits.acquire_slot())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    held.release()
    slot = await patient
    assert slot is not None
    assert limits.in_flight == 1


async def test_admit_takes_a_slot_and_a_token(clock: FakeClock) -> None:
    limits = limiter(clock, rate=1.0, burst=1, max_in_flight=4)
    slot = await limits.admit(Deadline(clock, 1.0))
    assert slot is not None
    assert limits.in_flight == 1
    assert await limits.admit(Deadline(clock, 0.5)) is None  # no token in time
    assert limits.in_flight == 1  # the slot taken for it was given back
    slot.release()
    assert limits.in_flight == 0
