"""Deadlines on the injected clock, and a timeout scope that waits on that clock."""

from __future__ import annotations

import asyncio
import math
from types import TracebackType
from typing import Any

import attrs

from kycmux._resilience._clock import Clock, SystemClock

__all__ = ["ClockTimeout", "Deadline", "clock_timeout"]


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


class ClockTimeout:
    """An ``async with`` scope cancelled after ``seconds`` of ``clock``; raises ``TimeoutError``.

    Like ``asyncio.timeout`` but the time is waited for on the injected clock, so a fake clock
    can expire it. The scope runs a small watcher task that sleeps on the clock and then
    cancels the task running the body; the cancellation is turned into ``TimeoutError`` on the
    way out, unless someone else also cancelled the task (that cancellation propagates). Must
    be entered by the task whose work it bounds.

    Attributes:
        expired: The timeout fired (whether or not the body had finished by then).
    """

    def __init__(self, clock: Clock, seconds: float) -> None:
        if math.isnan(seconds):
            raise ValueError("timeout seconds must be a number")
        self._clock = clock
        self._seconds = seconds
        self._task: asyncio.Task[Any] | None = None
        self._watcher: asyncio.Task[None] | asyncio.TimerHandle | None = None
        self._cancelling = 0
        self.expired = False

    async def __aenter__(self) -> ClockTimeout:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("clock_timeout must be used inside an asyncio task")
        self._task = task
        self._cancelling = task.cancelling()
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
        if not self.expired or exc_type is not asyncio.CancelledError or self._task is None:
            return
        # Only our own cancellation becomes a timeout; anyone else's goes on propagating.
        if self._task.uncancel() <= self._cancelling:
            raise TimeoutError(f"timed out after {self._seconds:g} s") from exc

    async def _watch(self) -> None:
        await self._clock.sleep(self._seconds)
        self._fire()

    def _fire(self) -> None:
        self.expired = True
        assert self._task is not None
        self._task.cancel()


def clock_timeout(clock: Clock, seconds: float) -> ClockTimeout:
    """Bound the body of an ``async with`` to ``seconds`` of ``clock`` (see ``ClockTimeout``)."""
    return ClockTimeout(clock, seconds)
