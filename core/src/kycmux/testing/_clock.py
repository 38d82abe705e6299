"""Helpers for testing code built on kycmux: a fake clock for the engine's timing.

``FakeClock`` stands in for the real clock wherever kycmux takes a ``clock`` (engine, circuit
breakers, rate limiters, retry budget, lockout, deadlines). Time only moves when the test says
so, or, inside ``autojump``/``run_until_idle``, whenever every task is waiting, so tests of
deadlines, backoff and hanging vendors run instantly and always the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
from collections.abc import AsyncIterator, Iterator

import attrs

__all__ = ["FakeClock"]

_NS = 1_000_000_000
# Without the event loop's ready queue to look at, this many yields is taken as "settled".
_FALLBACK_YIELDS = 64


def _to_ns(seconds: float) -> int:
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"seconds must be finite, got {seconds!r}")
    return round(seconds * _NS)


@attrs.define(eq=False)
class _Sleeper:
    wake_ns: int
    seq: int
    future: asyncio.Future[None]

    def sort_key(self) -> tuple[int, int]:
        return (self.wake_ns, self.seq)


@attrs.define(eq=False)
class FakeClock:
    """A clock that moves only when told to; satisfies the ``Clock`` protocol.

    Time is kept internally in whole nanoseconds, so ``advance(0.1)`` ten times wakes a
    ``sleep(1.0)`` exactly. ``monotonic()`` starts at ``monotonic_start`` and ``time()`` at
    ``start``; both move together.

    Driving it:

    - ``advance(seconds)`` (plain call): moves both clocks at once and wakes every sleeper whose
      wake-up time is now reached, in wake-up order (ties: in the order ``sleep`` was called).
      The woken tasks run when the caller next yields to the event loop, in that order, and
      all see the advanced time.
    - ``await tick(seconds)``: the same distance, but one wake-up at a time: time stops at each
      sleeper's wake-up time and the woken tasks run (and may sleep again, or wake others)
      before time moves on. Use it when tasks must each see their own wake-up time.
    - ``await run_until_idle(until=None)``: repeatedly wait until no task can run, then jump to
      the next wake-up; returns once no task can run and no sleeper is left (or the next one is
      past ``until``, a monotonic reading). A task sleeping in a loop forever makes this raise
      ``RuntimeError`` after ``max_jumps`` wake-ups instead of hanging.
    - ``async with clock.autojump():`` runs that jumping in a background task for the body of
      the block, so the test can simply ``await`` the code under test.

    "No task can run" means the event loop has no ready callbacks besides the driver itself: a
    task waiting on real I/O (a loopback server) or a real timer counts as waiting. If such a
    wait should end before fake time jumps, give ``idle_for``: before each jump the driver then
    also sleeps ``idle_for`` real seconds, and jumps only if afterwards the loop is idle again
    and no task slept on or was woken by the fake clock meanwhile (otherwise it starts over).
    ``idle_for=0.25`` lets a loopback server that does answer answer first, while a hanging one
    still hits its fake timeout within a quarter of a real second. Idleness is read from the
    standard asyncio loop's ready queue; on a loop without one it is approximated by yielding
    many times.

    Work the engine runs on threads (plugin hooks) is entered with ``hold()``: drivers wait for
    it before they jump, for at most ``hold_limit`` real seconds each time.

    Only one driver (``tick``, ``run_until_idle``, ``autojump``) may run at a time: each would
    see the other as a runnable task and never find the loop idle; a second one raises
    ``RuntimeError``. ``advance`` may be called anywhere.

    ``sleep(0)`` (or less) just yields, like ``asyncio.sleep(0)``. A cancelled sleep is
    forgotten. Sleepers must all belong to one event loop.

    Attributes:
        start: Wall-clock reading (UNIX seconds) at creation.
        monotonic_start: Monotonic reading at creation.
        hold_limit: Real seconds a driver waits for a ``hold()`` to end before jumping anyway.
    """

    start: float = 1_700_000_000.0
    monotonic_start: float = 0.0
    _elapsed_ns: int = attrs.field(init=False, default=0)
    _sleepers: list[tuple[tuple[int, int], _Sleeper]] = attrs.field(
        init=False, repr=False, factory=list
    )
    _seq: itertools.count[int] = attrs.field(init=False, repr=False, factory=itertools.count)
    _activity: int = attrs.field(init=False, repr=False, default=0)
    _changed: asyncio.Event | None = attrs.field(init=False, repr=False, default=None)
    _driving: bool = attrs.field(init=False, repr=False, default=False)
    _holds: int = attrs.field(init=False, repr=False, default=0)
    _released: asyncio.Event | None = attrs.field(init=False, repr=False, default=None)
    hold_limit: float = attrs.field(default=5.0, kw_only=True)

    def monotonic(self) -> float:
        return self.monotonic_start + self._elapsed_ns / _NS

    def time(self) -> float:
        return self.start + self._elapsed_ns / _NS

    @property
    def elapsed(self) -> float:
        """Seconds advanced since creation."""
        return self._elapsed_ns / _NS

    @property
    def sleepers(self) -> int:
        """Number of tasks currently sleeping on this clock."""
        return sum(1 for _, s in self._sleepers if not s.future.done())

    @property
    def queued(self) -> int:
        """Wake-ups the clock holds, a cancelled sleep's included until it is forgotten."""
        return len(self._sleepers)

    def next_wakeup(self) -> float | None:
        """Monotonic reading of the earliest pending wake-up, or ``None``."""
        self._drop_done()
        if not self._sleepers:
            return None
        return self.monotonic_start + self._sleepers[0][1].wake_ns / _NS

    async def sleep(self, seconds: float) -> None:
        if math.isnan(seconds):
            raise ValueError("sleep seconds must be a number")
        forever = math.isinf(seconds) and seconds > 0
        # Also yields for positive amounts under half a nanosecond.
        if not forever and (seconds <= 0 or _to_ns(seconds) <= 0):
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = None
        if not forever:
            sleeper = _Sleeper(self._elapsed_ns + _to_ns(seconds), next(self._seq), future)
            entry = (sleeper.sort_key(), sleeper)
            heapq.heappush(self._sleepers, entry)
        self._touch()
        try:
            await future
        finally:
            self._activity += 1
            if entry is not None and future.cancelled():
                # Cancelled timeouts pile up in long tests otherwise.
                self._forget(entry)

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` and wake the sleepers now due, in order."""
        ns = _to_ns(seconds)
        if ns < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds!r} s)")
        self._jump_to(self._elapsed_ns + ns)

    async def tick(self, seconds: float) -> None:
        """Advance by ``seconds`` one wake-up at a time, letting woken tasks run at each."""
        target = self._elapsed_ns + _to_ns(seconds)
        if target < self._elapsed_ns:
            raise ValueError(f"cannot move a clock backwards ({seconds!r} s)")
        with self._driver():
            await self._settle()
            while (wake := self._next_wake_ns()) is not None and wake <= target:
                self._jump_to(wake)
                await self._settle()
            self._jump_to(target)
            await self._settle()

    async def run_until_idle(
        self, *, until: float | None = None, idle_for: float = 0.0, max_jumps: int = 100_000
    ) -> None:
        """Jump from wake-up to wake-up while every task waits; stop when nothing is left.

        :param until: Do not jump past this monotonic reading; time is left at the last
            wake-up reached (not moved to ``until``).
        :param idle_for: Real seconds the loop must stay idle before each jump.
        :param max_jumps: Give up with ``RuntimeError`` after this many jumps.
        """
        limit = None if until is None else _to_ns(until - self.monotonic_start)
        with self._driver():
            for _ in range(max_jumps):
                await self._wait_idle(idle_for)
                wake = self._next_wake_ns()
                if wake is None or (limit is not None and wake > limit):
                    return
                self._jump_to(wake)
        raise RuntimeError(f"still not idle after {max_jumps} clock jumps")

    @contextlib.asynccontextmanager
    async def autojump(self, *, idle_for: float = 0.0) -> AsyncIterator[FakeClock]:
        """Within the block, jump to the next wake-up whenever every task is waiting."""
        with self._driver():
            jumper = asyncio.get_running_loop().create_task(self._autojump(idle_for))
            try:
                yield self
            finally:
                jumper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await jumper
                self._changed = None

    @contextlib.contextmanager
    def _driver(self) -> Iterator[None]:
        # Two drivers would each see the other as runnable and wait for idleness forever.
        if self._driving:
            raise RuntimeError("the clock is already driven by tick/run_until_idle/autojump")
        self._driving = True
        try:
            yield
        finally:
            self._driving = False
            # Its events belong to this loop: a driver on another loop makes its own.
            self._released = self._changed = None

    async def _autojump(self, idle_for: float) -> None:
        while True:
            await self._wait_idle(idle_for)
            wake = self._next_wake_ns()
            if wake is None:
                await self._wait_for_sleeper()
                continue
            self._jump_to(wake)

    async def _wait_idle(self, idle_for: float) -> None:
        while True:
            await self._settle()
            if idle_for <= 0:
                return
            mark = self._activity
            await asyncio.sleep(idle_for)  # real time: lets real I/O and timers catch up
            await self._settle()
            if self._activity == mark:
                return

    async def _wait_for_sleeper(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        self._changed.clear()
        await self._changed.wait()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Real work is running (the engine's plugin hooks on a thread): do not jump meanwhile.

        A driver waits until every hold is released, or ``hold_limit`` real seconds, so a
        hook that never returns still lets fake time reach its timeout.
        """
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            self._activity += 1
            if self._holds == 0 and self._released is not None:
                self._released.set()

    async def _settle(self) -> None:
        """Return once the event loop has nothing ready to run but this task, and no hold."""
        while True:
            await self._settle_loop()
            if self._holds == 0 or not await self._wait_released():
                return

    async def _wait_released(self) -> bool:
        """Wait for the holds to end; False if ``hold_limit`` passed first."""
        if self._released is None:
            self._released = asyncio.Event()
        self._released.clear()
        try:
            # Not ``wait_for``: on 3.11 it can swallow the driver's own cancellation.
            async with asyncio.timeout(self.hold_limit):
                await self._released.wait()
        except TimeoutError:
            return False
        return True

    async def _settle_loop(self) -> None:
        ready = getattr(asyncio.get_running_loop(), "_ready", None)
        if ready is None:
            for _ in range(_FALLBACK_YIELDS):
                await asyncio.sleep(0)
            return
        while True:
            await asyncio.sleep(0)
            if not ready:
                return

    def _touch(self) -> None:
        self._activity += 1
        if self._changed is not None:
            self._changed.set()

    def _forget(self, entry: tuple[tuple[int, int], _Sleeper]) -> None:
        with contextlib.suppress(ValueError):  # already popped by a jump
            self._sleepers.remove(entry)
            heapq.heapify(self._sleepers)

    def _drop_done(self) -> None:
        while self._sleepers and self._sleepers[0][1].future.done():
            heapq.heappop(self._sleepers)

    def _next_wake_ns(self) -> int | None:
        self._drop_done()
        return self._sleepers[0][1].wake_ns if self._sleepers else None

    def _jump_to(self, target_ns: int) -> None:
        self._elapsed_ns = max(self._elapsed_ns, target_ns)
        while self._sleepers and self._sleepers[0][1].wake_ns <= self._elapsed_ns:
            _, sleeper = heapq.heappop(self._sleepers)
            if not sleeper.future.done():
                sleeper.future.set_result(None)
                self._activity += 1
