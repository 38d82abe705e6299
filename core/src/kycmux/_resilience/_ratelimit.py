"""Client-side rate limiting per vendor: a token bucket, vendor-ordered pauses, in-flight cap."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
from types import TracebackType

import attrs

from kycmux._model._rules import AT_LEAST_ONE_WHOLE, NON_NEGATIVE, number
from kycmux._resilience._clock import Clock, SystemClock
from kycmux._resilience._deadline import Deadline, clock_timeout

__all__ = ["DEFAULT_MAX_IN_FLIGHT", "InFlightSlot", "RateLimitSettings", "RateLimiter"]

# Float refills can leave 0.9999999999 of a token where a whole one was meant.
_EPSILON = 1e-9


_rate = number("must be a positive number per second or None", lambda v: v > 0, optional=True)


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


DEFAULT_MAX_IN_FLIGHT = 64
"""Calls to one vendor this process lets be outstanding at once, unless configured."""


@attrs.frozen
class RateLimitSettings:
    """How fast and how many at once kycmux may call one vendor.

    Attributes:
        rate: Requests per second on average (token refill rate); ``None``: no rate limit.
        burst: Tokens the bucket holds: requests that may go out back to back after a lull.
        max_in_flight: Requests to this vendor that may be outstanding at once (default
            ``DEFAULT_MAX_IN_FLIGHT``, 64: the default transport keeps up to 256 connections,
            and a lower cap silently queued callers; ``kycmux vendors`` shows each vendor's).
        pause_on_limit: Seconds to send nothing after the vendor answers "rate limited"
            without saying how long to wait.
    """

    rate: float | None = attrs.field(default=None, converter=_optional_float, validator=_rate)
    burst: int = attrs.field(default=5, validator=AT_LEAST_ONE_WHOLE)
    max_in_flight: int = attrs.field(default=DEFAULT_MAX_IN_FLIGHT, validator=AT_LEAST_ONE_WHOLE)
    pause_on_limit: float = attrs.field(default=1.0, converter=float, validator=NON_NEGATIVE)


@attrs.define(eq=False)
class InFlightSlot:
    """One of a vendor's ``max_in_flight`` slots; give it back with ``release()``.

    Usable as a context manager (``with slot:``) that releases on exit; releasing twice does
    nothing.
    """

    _limiter: RateLimiter
    _released: bool = attrs.field(init=False, default=False)

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limiter._release_slot()

    def __enter__(self) -> InFlightSlot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


@attrs.define(eq=False)
class RateLimiter:
    """The client-side limits on calls to one vendor, waiting on the injected clock.

    Tokens: a bucket of ``burst`` tokens refilled at ``rate`` per second. ``acquire`` takes a
    token, waiting for one if needed: a waiting caller reserves its token at once (the bucket
    goes negative), so callers are served in arrival order and a caller that is cancelled
    gives its reservation back. A caller whose token would only come at or after its deadline
    gets ``False`` at once instead of waiting in vain.

    Pauses: ``pause(seconds)`` (the vendor said "too many requests") lets no token out until
    the pause ends, including to callers already waiting; afterwards one request may go at
    once and the rest follow at ``rate`` (nothing accumulates during the pause, so no burst
    hits a vendor that just pushed back).

    In-flight cap: ``acquire_slot`` takes one of ``max_in_flight`` slots, waiting in arrival
    order until one is released or the deadline passes. ``admit`` takes a slot and then a
    token, the usual way to start a request.

    All bookkeeping happens between awaits, so concurrent tasks on one loop see it atomically.

    Attributes:
        vendor: The vendor limited.
        settings: The limits.
        clock: The clock waited on.
    """

    vendor: str
    settings: RateLimitSettings = attrs.field(factory=RateLimitSettings)
    clock: Clock = attrs.field(factory=SystemClock)
    _tokens: float = attrs.field(init=False)
    _updated: float = attrs.field(init=False)
    _paused_until: float = attrs.field(init=False, default=-math.inf)
    _free: int = attrs.field(init=False)
    _waiters: collections.deque[asyncio.Future[None]] = attrs.field(
        init=False, factory=collections.deque
    )

    def __attrs_post_init__(self) -> None:
        self._tokens = float(self.settings.burst)
        self._updated = self.clock.monotonic()
        self._free = self.settings.max_in_flight

    @property
    def in_flight(self) -> int:
        """Slots currently taken."""
        return self.settings.max_in_flight - self._free

    @property
    def tokens(self) -> float:
        """Tokens in the bucket now (negative while callers wait on reservations)."""
        self._refill(self.clock.monotonic())
        return self._tokens

    def paused_for(self) -> float:
        """Seconds left in the current pause (0 if none)."""
        return max(self._paused_until - self.clock.monotonic(), 0.0)

    def has_capacity(self) -> bool:
        """A request could start now without waiting: no pause, a free slot, a token.

        For optional traffic (shadow calls) that must never queue ahead of, or behind,
        the calls a decision depends on.
        """
        if self.paused_for() > 0 or self._free <= 0 or self._waiters:
            return False
        return self.settings.rate is None or self.tokens >= 1

    def pause(self, seconds: float | None = None) -> None:
        """Send nothing for ``seconds`` (default ``settings.pause_on_limit``); pauses extend."""
        seconds = self.settings.pause_on_limit if seconds is None else seconds
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"pause seconds must be a finite number >= 0, got {seconds!r}")
        now = self.clock.monotonic()
        self._refill(now)
        self._paused_until = max(self._paused_until, now + seconds)
        if self.settings.rate is not None:
            self._tokens = min(self._tokens, 1.0)
            self._updated = max(self._updated, self._paused_until)

    def reserve(self, max_wait: float = math.inf) -> float | None:
        """Reserve a token without waiting: seconds until it is due (0: now), or ``None``
        when it would only come at or after ``max_wait`` seconds (nothing is kept then).

        The caller waits that long itself, and calls ``refund`` if it gives up waiting.
        """
        now = self.clock.monotonic()
        wait = self._ready_at(now) - now
        if wait > 0 and wait >= max_wait:
            return None
        if self.settings.rate is not None:
            self._tokens -= 1.0
        return max(wait, 0.0)

    def refund(self) -> None:
        """Give back a token ``reserve`` handed out that will not be used."""
        self._refund()

    async def acquire(self, deadline: Deadline | None = None) -> bool:
        """Take a token, waiting on the clock; ``False`` if none comes before ``deadline``."""
        if deadline is not None and deadline.expired:
            return False
        wait = self.reserve(math.inf if deadline is None else deadline.remaining())
        if wait is None:
            return False
        if wait <= 0:
            return True
        try:
            await self.clock.sleep(wait)
            return await self._sit_out_pause(deadline)
        except BaseException:
            self._refund()
            raise

    async def acquire_slot(self, deadline: Deadline | None = None) -> InFlightSlot | None:
        """Take an in-flight slot, waiting in order; ``None`` if none frees before ``deadline``."""
        if self._free > 0:
            self._free -= 1
            return InFlightSlot(self)
        if deadline is not None and deadline.expired:
            return None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            if deadline is None:
                await waiter
            else:
                async with clock_timeout(self.clock, deadline.remaining()):
                    await waiter
        except TimeoutError:
            self._abandon(waiter)
            return None
        except BaseException:
            self._abandon(waiter)
            raise
        return InFlightSlot(self)

    async def admit(self, deadline: Deadline | None = None) -> InFlightSlot | None:
        """A slot and a token, both before ``deadline``, or ``None`` (nothing kept)."""
        slot = await self.acquire_slot(deadline)
        if slot is None:
            return None
        try:
            if await self.acquire(deadline):
                return slot
        except BaseException:
            slot.release()
            raise
        slot.release()
        return None

    def _refill(self, now: float) -> None:
        if self.settings.rate is None or now <= self._updated:
            return
        gained = (now - self._updated) * self.settings.rate
        self._tokens = min(float(self.settings.burst), self._tokens + gained)
        self._updated = now

    def _ready_at(self, now: float) -> float:
        """When the next token (after those reserved) is free, pauses included."""
        self._refill(now)
        ready = max(now, self._paused_until)
        if self.settings.rate is not None and self._tokens < 1.0 - _EPSILON:
            ready = max(ready, self._updated + (1.0 - self._tokens) / self.settings.rate)
        return ready

    async def _sit_out_pause(self, deadline: Deadline | None) -> bool:
        # A pause that came in while this caller waited applies to it as well.
        while (now := self.clock.monotonic()) < self._paused_until:
            if deadline is not None and self._paused_until >= deadline.at:
                self._refund()
                return False
            await self.clock.sleep(self._paused_until - now)
        return True

    def _refund(self) -> None:
        if self.settings.rate is not None:
            self._refill(self.clock.monotonic())
            self._tokens = min(float(self.settings.burst), self._tokens + 1.0)

    def _release_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the longest waiter
                return
        self._free += 1

    def _abandon(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done() and not waiter.cancelled():
            self._release_slot()  # it was handed a slot just as it gave up: pass it on
            return
        waiter.cancel()
        with contextlib.suppress(ValueError):  # already popped by a release
            self._waiters.remove(waiter)
