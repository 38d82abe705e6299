"""Deadlines on the injected clock, and a timeout scope that waits on that clock."""

from __future__ import annotations

import asyncio
import math
from types import TracebackType
from typing import Any

import attrs

from kycmux._resilience._clock import Clock, SystemClock

__all__ = ["ClockTimeout", "Deadline", "SharedTimeout", "clock_timeout"]


def _non_negative(_inst: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if math.isnan(value) or value < 0:
        raise ValueError(f"{attribute.name} must be >= 0 seconds")


@attrs.frozen
class Deadline:
    """A point in time, ``seconds`` from when it was made, on ``clock``'s monotonic scale.

    ``Deadline(clock, 5.0)`` is the whole budget of a decision; each attempt takes
    ``timeout_for_attempt(cap)`` of what is left. ``math.inf`` seconds never expires.

    Attributes:
        clock: The clock it is measured on.
        seconds: The budget it was made with.
        at: The monotonic reading at which it expires.
    """

    clock: Clock = attrs.field(eq=False)
    seconds: float = attrs.field(converter=float, validator=_non_negative)
    at: float = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: self.clock.monotonic() + self.seconds, takes_self=True),
    )

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(self.at - self.clock.monotonic(), 0.0)

    @property
    def expired(self) -> bool:
        return self.clock.monotonic() >= self.at

    def timeout_for_attempt(self, cap: float) -> float:
        """The timeout one attempt may use: ``min(cap, remaining())``."""
        return min(cap, self.remaining())


class _TaskScope:
    """What every timeout scope shares: the task it bounds, cancelling it when time is up, and
    turning only its own cancellation into ``TimeoutError`` on the way out."""

    __slots__ = ("_cancelling", "_task", "expired")

    def __init__(self) -> None:
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0
        self.expired = False

    def _bind(self) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a timeout scope must be used inside an asyncio task")
        self._task = task
        self._cancelling = task.cancelling()

    def _fire(self) -> None:
        self.expired = True
        assert self._task is not None
        self._task.cancel()

    def _settle(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, seconds: float
    ) -> None:
        if not self.expired or exc_type is not asyncio.CancelledError or self._task is None:
            return
        # Only our own cancellation becomes a timeout; anyone else's goes on propagating.
        if self._task.uncancel() <= self._cancelling:
            raise TimeoutError(f"timed out after {seconds:g} s") from exc


class ClockTimeout(_TaskScope):
    """An ``async with`` scope cancelled after ``seconds`` of ``clock``; raises ``TimeoutError``.

    Like ``asyncio.timeout`` but the time is waited for on the injected clock, so a fake clock
    can expire it. The scope runs a small watcher task that sleeps on the clock and then
    cancels the task running the body; the cancellation is turned into ``TimeoutError`` on the
    way out, unless someone else also cancelled the task (that cancellation propagates). Must
    be entered by the task whose work it bounds.

    Attributes:
        expired: The timeout fired (whether or not the body had finished by then).
    """

    __slots__ = ("_clock", "_seconds", "_watcher")

    def __init__(self, clock: Clock, seconds: float) -> None:
        if math.isnan(seconds):
            raise ValueError("timeout seconds must be a number")
        super().__init__()
        self._clock = clock
        self._seconds = seconds
        self._watcher: asyncio.Task[None] | asyncio.TimerHandle | None = None

    async def __aenter__(self) -> ClockTimeout:
        self._bind()
        if math.isinf(self._seconds):
            return self
        loop = asyncio.get_running_loop()
        if isinstance(self._clock, SystemClock):
            # Real time: a loop timer does what the watcher task would, at a fraction of the
            # cost (every attempt opens a few of these scopes).
            self._watcher = loop.call_later(max(self._seconds, 0.0), self._fire)
        else:
            self._watcher = loop.create_task(self._watch())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        self._settle(exc_type, exc, self._seconds)

    async def _watch(self) -> None:
        await self._clock.sleep(self._seconds)
        self._fire()


def clock_timeout(clock: Clock, seconds: float) -> ClockTimeout:
    """Bound the body of an ``async with`` to ``seconds`` of ``clock`` (see ``ClockTimeout``)."""
    return ClockTimeout(clock, seconds)


class SharedTimeout:
    """Timeout scopes entered one after another (never two at once), all ending at one
    ``deadline``: on the real clock they share one loop timer instead of one each.

    A decision bounds its planning and then its calls by its deadline: two scopes, each of
    which would schedule (and cancel) a timer of its own for the same instant. Each ``scope()``
    behaves as ``clock_timeout(clock, deadline.remaining())`` entered at that moment: the
    shared timer fires at ``deadline.at`` and cancels the task in the scope open then; if the
    deadline passed while none was open, the next scope times out at once, as a scope entered
    with nothing left would. On any other clock (a fake one in tests) each scope is a
    ``ClockTimeout`` of its own, as before. ``cancel()`` when no scope will follow.
    """

    __slots__ = ("_active", "_deadline", "_passed", "_timer")

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._timer: asyncio.TimerHandle | None = None
        self._active: _SharedScope | None = None
        self._passed = False

    def scope(self) -> ClockTimeout | _SharedScope:
        """The next scope, bounded by the deadline (``TimeoutError`` on the way out)."""
        clock = self._deadline.clock
        if not isinstance(clock, SystemClock) or self._active is not None:
            return ClockTimeout(clock, self._deadline.remaining())
        return _SharedScope(self)

    def cancel(self) -> None:
        """No scope follows: let the timer go."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _open(self, scope: _SharedScope) -> None:
        self._active = scope
        if self._passed:  # nothing left: time out at the next turn of the loop, as before
            self._passed = False
            self._timer = asyncio.get_running_loop().call_later(0.0, self._fire)
        elif self._timer is None and not math.isinf(self._deadline.at):
            self._timer = asyncio.get_running_loop().call_later(
                self._deadline.remaining(), self._fire
            )

    def _close(self) -> None:
        self._active = None

    def _fire(self) -> None:
        self._timer = None
        if self._active is None:
            self._passed = True
        else:
            self._active.fire()


class _SharedScope(_TaskScope):
    """One scope of a ``SharedTimeout`` (its ``ClockTimeout`` counterpart, minus the timer)."""

    __slots__ = ("_owner",)

    def __init__(self, owner: SharedTimeout) -> None:
        super().__init__()
        self._owner = owner

    async def __aenter__(self) -> _SharedScope:
        self._bind()
        self._owner._open(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner._close()
        self._settle(exc_type, exc, self._owner._deadline.seconds)

    def fire(self) -> None:
        self._fire()
