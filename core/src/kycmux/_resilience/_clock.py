"""The clock every resilience primitive reads, injected so tests never really sleep."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["Clock", "SystemClock", "held"]


@runtime_checkable
class Clock(Protocol):
    """Where the engine's primitives get the time from and how they wait.

    Durations (deadlines, token refills, sleeps) use ``monotonic``; state that may be shared
    with other processes through a ``StateStore`` (breaker open-until, lockout until) uses
    ``time``, since monotonic readings of two processes cannot be compared.

    A clock may also offer ``hold()``, a context manager the engine enters while real work
    runs on a thread (plugin hooks): a fake clock must not jump ahead while it does, or every
    test would see its deadlines expire during a parse. See ``held``.
    """

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""
        ...

    def time(self) -> float:
        """Wall-clock time, UNIX seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` of this clock (``0`` or less: just yield)."""
        ...


@attrs.frozen
class SystemClock:
    """The real clock: ``time.monotonic``, ``time.time`` and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


@contextlib.contextmanager
def held(clock: object) -> Iterator[None]:
    """Enter ``clock.hold()`` if the clock has one (``FakeClock`` does; real time needs none)."""
    hold = getattr(clock, "hold", None)
    if hold is None:
        yield
        return
    with hold():
        yield
