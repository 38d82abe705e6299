"""FakeClock: ordering of wake-ups, stepwise ticks, run_until_idle and autojump; SystemClock."""

from __future__ import annotations

import asyncio

import pytest

from kycmux.resilience import Clock, SystemClock
from kycmux.testing import FakeClock

pytestmark = pytest.mark.anyio


def test_fake_clock_starts_where_told_and_advances_both_clocks() -> None:
    clock = FakeClock(start=1_000.0, monotonic_start=5.0)
    assert (clock.time(), clock.monotonic()) == (1_000.0, 5.0)
    clock.advance(2.5)
    assert (clock.time(), clock.monotonic(), clock.elapsed) == (1_002.5, 7.5, 2.5)
    assert FakeClock().time() == 1_700_000_000.0


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(FakeClock(), Clock)
    assert isinstance(SystemClock(), Clock)


def test_advance_refuses_to_go_backwards_or_to_infinity() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1.0)
    with pytest.raises(ValueError, match="finite"):
        clock.advance(float("inf"))


async def test_sleep_waits_until_advance_passes_its_time() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(1.0))
    await asyncio.sleep(0)
    assert clock.sleepers == 1
    clock.advance(0.999)
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(0.001)
    await asyncio.sleep(0)
    assert sleeper.done()


async def test_small_advances_add_up_exactly() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(1.0))
    await asyncio.sleep(0)
    for _ in range(10):
        clock.advance(0.1)
    await asyncio.sleep(0)
    assert sleeper.done()


async def test_advance_wakes_due_sleepers_in_wake_up_order() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [
        asyncio.create_task(nap("c", 3.0)),
        asyncio.create_task(nap("a", 1.0)),
        asyncio.create_task(nap("b1", 2.0)),
        asyncio.create_task(nap("b2", 2.0)),
        asyncio.create_task(nap("late", 10.0)),
    ]
    await asyncio.sleep(0)
    clock.advance(5.0)
    await asyncio.gather(*tasks[:4])
    assert woke == ["a", "b1", "b2", "c"]
    assert not tasks[4].done()
    tasks[4].cancel()


async def test_sleep_zero_only_yields() -> None:
    clock = FakeClock()
    await clock.sleep(0)
    await clock.sleep(-3)
    assert clock.sleepers == 0
    assert clock.elapsed == 0


async def test_cancelled_sleep_is_forgotten() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(5.0))
    await asyncio.sleep(0)
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert clock.sleepers == 0
    assert clock.next_wakeup() is None


async def test_tick_lets_each_task_see_its_own_wake_up_time() -> None:
    clock = FakeClock(monotonic_start=0.0)
    seen: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        seen.append((name, clock.monotonic()))
        await clock.sleep(seconds)  # re-sleeps relative to its own wake-up
        seen.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(nap("a", 1.0)), asyncio.create_task(nap("b", 1.5))]
    await clock.tick(3.0)
    assert seen == [("a", 1.0), ("b", 1.5), ("a", 2.0), ("b", 3.0)]
    assert clock.monotonic() == 3.0
    await asyncio.gather(*tasks)


async def test_plain_advance_shows_every_woken_task_the_final_time() -> None:
    clock = FakeClock(monotonic_start=0.0)
    seen: list[float] = []

    async def nap(seconds: float) -> None:
        await clock.sleep(seconds)
        seen.append(clock.monotonic())

    tasks = [asyncio.create_task(nap(1.0)), asyncio.create_task(nap(2.0))]
    await asyncio.sleep(0)
    clock.advance(4.0)
    await asyncio.gather(*tasks)
    assert seen == [4.0, 4.0]


async def test_run_until_idle_jumps_through_chained_sleeps() -> None:
    clock = FakeClock(monotonic_start=0.0)
    log: list[float] = []

    async def backoff() -> str:
        for delay in (0.1, 0.2, 0.4, 30.0):
            await clock.sleep(delay)
            log.append(clock.monotonic())
        return "done"

    task = asyncio.create_task(backoff())
    await clock.run_until_idle()
    assert task.done()
    assert task.result() == "done"
    assert log == pytest.approx([0.1, 0.3, 0.7, 30.7])


async def test_run_until_idle_stops_before_until() -> None:
    clock = FakeClock(monotonic_start=0.0)
    task = asyncio.create_task(clock.sleep(10.0))
    first = asyncio.create_task(clock.sleep(2.0))
    await clock.run_until_idle(until=5.0)
    assert first.done()
    assert not task.done()
    assert clock.monotonic() == 2.0
    task.cancel()


async def test_run_until_idle_gives_up_on_an_endless_sleeper() -> None:
    clock = FakeClock()

    async def forever() -> None:
        while True:
            await clock.sleep(1.0)

    task = asyncio.create_task(forever())
    with pytest.raises(RuntimeError, match="not idle after 50"):
        await clock.run_until_idle(max_jumps=50)
    task.cancel()


async def test_autojump_runs_a_long_timeout_instantly() -> None:
    clock = FakeClock(monotonic_start=0.0)
    never = asyncio.Event()

    async def slow_vendor() -> None:
        await clock.sleep(600.0)
        never.set()

    async with clock.autojump():
        await slow_vendor()
        assert never.is_set()
        await clock.sleep(5.0)
    assert clock.monotonic() == 605.0


async def test_autojump_waits_for_sleepers_that_appear_later() -> None:
    clock = FakeClock(monotonic_start=0.0)
    gate = asyncio.Event()

    async def late_sleeper() -> float:
        await gate.wait()
        await clock.sleep(3.0)
        return clock.monotonic()

    async with clock.autojump():
        task = asyncio.create_task(late_sleeper())
        await asyncio.sleep(0)
        assert clock.elapsed == 0  # nothing to jump to while the task waits on the event
        gate.set()
        assert await task == 3.0


async def test_autojump_does_not_jump_while_a_task_can_run() -> None:
    clock = FakeClock(monotonic_start=0.0)
    steps = 0

    async def busy() -> None:
        nonlocal steps
        for _ in range(200):
            steps += 1
            await asyncio.sleep(0)

    async with clock.autojump():
        sleeper = asyncio.create_task(clock.sleep(1.0))
        await busy()
        # The sleeper's wake-up time is reached only once busy() stopped yielding.
        assert not sleeper.done()
        await sleeper
    assert steps == 200


async def test_drivers_cannot_be_nested() -> None:
    clock = FakeClock()
    async with clock.autojump():
        with pytest.raises(RuntimeError, match="already driven"):
            await clock.tick(1.0)


async def test_autojump_with_idle_for_lets_real_io_finish_first() -> None:
    clock = FakeClock(monotonic_start=0.0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def echo() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return line

    async with server, clock.autojump(idle_for=0.25):
        race = asyncio.create_task(clock.sleep(30.0))
        assert await echo() == b"ping\n"
        assert clock.elapsed == 0  # the loopback answer came before any jump
        await race
        assert clock.elapsed == 30.0


async def test_system_clock_reads_the_real_time() -> None:
    clock = SystemClock()
    before = clock.monotonic()
    await clock.sleep(0)
    assert clock.monotonic() >= before
    assert clock.time() > 1_600_000_000


async def test_negative_infinity_yields_and_infinity_waits_forever() -> None:
    clock = FakeClock()
    await clock.sleep(float("-inf"))
    forever = asyncio.create_task(clock.sleep(float("inf")))
    await asyncio.sleep(0)
    clock.advance(1e9)
    await asyncio.sleep(0)
    assert not forever.done()
    forever.cancel()
    with pytest.raises(asyncio.CancelledError):
        await forever


async def test_cancelled_sleepers_do_not_pile_up() -> None:
    clock = FakeClock()
    tasks = [asyncio.create_task(clock.sleep(30.0)) for _ in range(100)]
    await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert clock.queued == 0
