"""Deadline arithmetic and clock_timeout on the fake clock."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from kycmux._resilience._deadline import SharedTimeout
from kycmux.resilience import Deadline, SystemClock, clock_timeout
from kycmux.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(monotonic_start=100.0)


def test_remaining_and_expired_follow_the_clock(clock: FakeClock) -> None:
    deadline = Deadline(clock, 5.0)
    assert deadline.at == 105.0
    assert (deadline.remaining(), deadline.expired) == (5.0, False)
    clock.advance(3.0)
    assert deadline.remaining() == 2.0
    clock.advance(2.0)
    assert (deadline.remaining(), deadline.expired) == (0.0, True)
    clock.advance(1.0)
    assert deadline.remaining() == 0.0


def test_timeout_for_attempt_is_the_smaller_of_cap_and_remaining(clock: FakeClock) -> None:
    deadline = Deadline(clock, 10.0)
    assert deadline.timeout_for_attempt(3.0) == 3.0
    clock.advance(8.0)
    assert deadline.timeout_for_attempt(3.0) == 2.0


def test_infinite_deadlines(clock: FakeClock) -> None:
    forever = Deadline(clock, math.inf)
    clock.advance(1e9)
    assert not forever.expired
    assert forever.timeout_for_attempt(7.0) == 7.0


@pytest.mark.parametrize("seconds", [-1.0, float("nan")])
def test_negative_budgets_are_refused(clock: FakeClock, seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds"):
        Deadline(clock, seconds)


@pytest.mark.anyio
async def test_clock_timeout_raises_when_the_body_hangs(clock: FakeClock) -> None:
    async def hanging_vendor() -> None:
        await asyncio.Event().wait()

    async with clock.autojump():
        with pytest.raises(TimeoutError):
            async with clock_timeout(clock, 30.0) as scope:
                await hanging_vendor()
    assert scope.expired
    assert clock.elapsed == 30.0


@pytest.mark.anyio
async def test_clock_timeout_lets_a_quick_body_finish(clock: FakeClock) -> None:
    async with clock.autojump():
        async with clock_timeout(clock, 30.0) as scope:
            await clock.sleep(29.0)
        await clock.sleep(10.0)  # the cancelled watcher does not fire later
    assert not scope.expired
    assert clock.elapsed == 39.0


@pytest.mark.anyio
async def test_an_outer_cancellation_is_not_turned_into_a_timeout(clock: FakeClock) -> None:
    entered = asyncio.Event()

    async def guarded() -> None:
        async with clock_timeout(clock, 30.0):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(guarded())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.anyio
async def test_nested_timeouts_report_the_one_that_fired(clock: FakeClock) -> None:
    async with clock.autojump(), clock_timeout(clock, 100.0) as outer:
        with pytest.raises(TimeoutError):
            async with clock_timeout(clock, 5.0) as inner:
                await clock.sleep(50.0)
        await clock.sleep(1.0)
    assert inner.expired
    assert not outer.expired
    assert clock.elapsed == 6.0


@pytest.mark.anyio
async def test_clock_timeout_on_the_system_clock() -> None:
    with pytest.raises(TimeoutError):
        async with clock_timeout(SystemClock(), 0.0):
            await asyncio.Event().wait()


@pytest.mark.anyio
async def test_an_outer_cancellation_wins_over_a_simultaneous_timeout(clock: FakeClock) -> None:
    entered = asyncio.Event()

    async def guarded() -> None:
        async with clock_timeout(clock, 1.0):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(guarded())
    await entered.wait()
    clock.advance(1.0)
    await asyncio.sleep(0)  # the watcher runs and cancels the task for the timeout...
    task.cancel()  # ...and before the task resumes, someone else cancels it too
    with pytest.raises(asyncio.CancelledError):
        await task


# SharedTimeout: a decision's planning and then its calls, bounded by one deadline.


def _counting_timers(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    loop = asyncio.get_running_loop()
    made: list[float] = []
    call_later = loop.call_later

    def counted(delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        made.append(delay)
        return call_later(delay, callback, *args)

    monkeypatch.setattr(loop, "call_later", counted)
    return made


@pytest.mark.anyio
async def test_scopes_in_turn_share_one_timer_that_still_fires_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = _counting_timers(monkeypatch)
    shared = SharedTimeout(Deadline(SystemClock(), 0.05))
    async with shared.scope() as planning:
        await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with shared.scope() as calling:
            await asyncio.Event().wait()
    assert len(made) == 1  # one loop timer for both scopes
    assert (planning.expired, calling.expired) == (False, True)


@pytest.mark.anyio
async def test_a_deadline_passed_between_scopes_times_the_next_one_out_at_once() -> None:
    shared = SharedTimeout(Deadline(SystemClock(), 0.001))
    async with shared.scope():
        pass
    await asyncio.sleep(0.05)  # the deadline passes with no scope open
    with pytest.raises(TimeoutError):
        async with shared.scope():
            await asyncio.Event().wait()


@pytest.mark.anyio
async def test_an_outer_cancellation_of_a_shared_scope_is_not_a_timeout() -> None:
    shared = SharedTimeout(Deadline(SystemClock(), 30.0))
    entered = asyncio.Event()

    async def guarded() -> None:
        async with shared.scope():
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(guarded())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    shared.cancel()


@pytest.mark.anyio
async def test_a_cancelled_shared_timeout_leaves_no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = SharedTimeout(Deadline(SystemClock(), 30.0))
    async with shared.scope():
        pass
    handle = shared._timer
    assert handle is not None
    shared.cancel()
    assert handle.cancelled()
    assert shared._timer is None


@pytest.mark.anyio
async def test_on_a_fake_clock_each_scope_times_out_at_the_deadline(clock: FakeClock) -> None:
    shared = SharedTimeout(Deadline(clock, 30.0))
    async with clock.autojump():
        async with shared.scope() as planning:
            await clock.sleep(10.0)
        with pytest.raises(TimeoutError):
            async with shared.scope() as calling:
                await clock.sleep(50.0)
    assert (planning.expired, calling.expired) == (False, True)
    assert clock.elapsed == 30.0  # the deadline, not 30 s after the second scope began
