"""A shared store with a bound on every call and this process's own state behind it.

``Guarded`` is what the engine talks to. With no shared store it is just the local
``MemoryState``. With one (Redis), every call is bounded by ``timeout`` seconds; a store that
fails or is slow makes breakers, rate limits and retry budgets fall back to the local state,
with a warning (at most one per operation per ``quiet`` seconds) and a count in
``fallbacks``, and the store is left alone for ``quiet`` seconds before it is tried again, so
an outage costs each decision nothing more than the first timeout. Lockout never falls back:
``subject`` and ``count`` raise ``StateUnavailableError`` and the engine applies the policy's
``lockout.unavailable`` (fail closed by default).

Which parts fell back during one decision is collected in a ``Degraded`` set the engine puts
in a context variable for the decision, and written into its record.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs

from kycmux._config._config import VendorResilience
from kycmux._resilience._breaker import BreakerStats, Outcome, TransitionListener
from kycmux._resilience._clock import Clock
from kycmux._resilience._lockout import Lock, LockoutSettings
from kycmux._state._contract import Admission, SharedState, SubjectEvent, SubjectStatus
from kycmux._state._memory import MemoryState
from kycmux.exceptions import StateUnavailableError

__all__ = ["DEGRADED", "Guarded"]

log = logging.getLogger("kycmux.state")

T = TypeVar("T")

DEGRADED: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "kycmux_degraded", default=None
)
"""The parts of shared state that fell back to local during the current decision."""

# What each operation protects, as named in records ("breaker", "rate_limit"...).
_PART = {
    "admit": "breaker_and_rate_limit",
    "settle": "breaker_outcome",
    "release": "breaker_outcome",
    "retry": "retry_budget",
    "pause": "rate_limit",
    "subject": "lockout",
    "count": "lockout_count",
}


_GROUP = {"subject": "lockout", "count": "lockout"}
_CONSEQUENCE = {
    "subject": "lockout applies the policy's lockout.unavailable",
    "count": "this outcome is not counted toward the lockout",
    "settle": "the call's outcome is not in the shared breaker",
    "release": "the permit is left to lapse in the shared store",
}


class _Cut(StateUnavailableError):
    """No answer because the decision's own time ran out: the store is not taken as down."""


@attrs.frozen
class _Issued:
    """An admission and the store that gave it (settled there, wherever later calls go)."""

    store: SharedState
    admission: Admission


@attrs.define(eq=False)
class Guarded:
    """The engine's door to shared state: bounded calls, local fallback, counted.

    Attributes:
        local: This process's state: the whole state without a shared store, the fallback
            with one.
        shared: The shared store, if any.
        clock: The clock the quiet period is measured on.
        timeout: Seconds any one call to the shared store may take.
        quiet: Seconds the shared store is left alone after it failed.
        fallbacks: Calls answered locally because the shared store failed, by operation.
    """

    local: MemoryState
    shared: SharedState | None = None
    clock: Clock | None = None
    timeout: float = 0.5
    quiet: float = 1.0
    fallbacks: collections.Counter[str] = attrs.field(init=False, factory=collections.Counter)
    # Per group ("lockout", "vendor"): a slow vendor call must not switch the lockout off.
    _down_until: dict[str, float] = attrs.field(init=False, factory=dict)
    _warned: dict[str, float] = attrs.field(init=False, factory=dict)
    _background: set[asyncio.Future[None]] = attrs.field(init=False, factory=set)

    @property
    def is_shared(self) -> bool:
        return self.shared is not None and self.shared.shared

    def on_transition(self, listener: TransitionListener) -> None:
        self.local.on_transition(listener)
        if self.shared is not None:
            self.shared.on_transition(listener)

    # subjects: no fallback ----------------------------------------------------------------

    async def subject(self, subject: str, within: float | None = None) -> SubjectStatus:
        """The subject's standing; ``within`` seconds at most (and ``timeout``)."""
        if self.shared is None:
            return await self.local.subject(subject)
        return await self._strict("subject", self.shared.subject(subject), within)

    async def count(
        self, subject: str, event: SubjectEvent, settings: LockoutSettings
    ) -> Lock | None:
        if self.shared is None:
            return await self.local.count(subject, event, settings)
        return await self._strict("count", self.shared.count(subject, event, settings))

    async def unlock(self, subject: str) -> None:
        store = self.local if self.shared is None else self.shared
        await self._bounded("unlock", store.unlock(subject))
        if self.shared is not None:
            await self.local.unlock(subject)

    async def breaker_stats(self, vendor: str, settings: VendorResilience) -> BreakerStats:
        store = self.local if self.shared is None else self.shared
        return await self._bounded("breaker_stats", store.breaker_stats(vendor, settings))

    # vendors: local fallback --------------------------------------------------------------

    async def admit(
        self, vendor: str, settings: VendorResilience, *, first: bool, max_wait: float
    ) -> Admission:
        async def admit(store: SharedState) -> Admission:
            given = await store.admit(vendor, settings, first=first, max_wait=max_wait)
            return attrs.evolve(given, ticket=_Issued(store, given))

        return await self._either("admit", admit)

    async def settle(
        self, vendor: str, settings: VendorResilience, admission: Admission, outcome: Outcome
    ) -> None:
        """Report a call's outcome. A shared store's settlement goes on in the background:
        nothing in the decision waits on the breaker's window."""
        issued = _issued(admission)
        call = issued.store.settle(vendor, settings, issued.admission, outcome)
        if issued.store is self.local:
            await self._at(issued.store, "settle", call)
        else:
            self._soon(issued.store, "settle", call)

    async def release(self, vendor: str, settings: VendorResilience, admission: Admission) -> None:
        """Give an admission back. A shared store's release goes on in the background: it
        follows a cancellation, and the cancelled decision's time may be up already."""
        issued = _issued(admission)
        call = issued.store.release(vendor, settings, issued.admission)
        if issued.store is self.local:
            await self._at(issued.store, "release", call)
        else:
            self._soon(issued.store, "release", call)

    def _soon(self, store: SharedState, operation: str, call: Awaitable[None]) -> None:
        """``call`` in the background; nobody waits, so no bound of ours (the store's own
        applies; ``drain`` bounds the wait for what is left)."""
        task = asyncio.ensure_future(self._quietly(operation, call))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _quietly(self, operation: str, call: Awaitable[None]) -> None:
        try:
            await call
        except Exception as exc:  # any failure of the store: counted and logged, never raised
            self._fell_back(operation, StateUnavailableError(operation, type(exc).__name__))

    async def drain(self) -> None:
        """Wait (``timeout`` at most) for settlements and releases still in the background."""
        if self._background:
            await asyncio.wait(self._background, timeout=self.timeout)

    async def retry(self, vendor: str, settings: VendorResilience) -> bool:
        return await self._either("retry", lambda store: store.retry(vendor, settings))

    async def pause(self, vendor: str, settings: VendorResilience, seconds: float | None) -> None:
        # This process's limiter always learns of the pause (shadows ask it for capacity, and
        # it is the fallback), so only the shared store is left to tell.
        await self.local.pause(vendor, settings, seconds)
        if self.shared is None:
            return
        if self._quiet("pause"):
            self._fell_back("pause", None)
            return
        await self._at(self.shared, "pause", self.shared.pause(vendor, settings, seconds))

    async def aclose(self) -> None:
        await self.drain()
        if self.shared is not None:
            await self.shared.aclose()

    # the mechanism ------------------------------------------------------------------------

    async def _either(self, operation: str, call: Callable[[SharedState], Awaitable[T]]) -> T:
        """``call`` on the shared store, bounded; on the local state if that fails."""
        shared = self.shared
        if shared is None:
            return await call(self.local)
        if self._quiet(operation):
            self._fell_back(operation, None)
            return await call(self.local)
        try:
            return await self._bounded(operation, call(shared))
        except StateUnavailableError as exc:
            self._fell_back(operation, exc)
            return await call(self.local)

    async def _at(self, store: SharedState, operation: str, call: Awaitable[None]) -> None:
        """Settle where the admission came from; a lost settlement is counted, not raised
        (the call itself went through; only the breaker misses one outcome)."""
        try:
            await (call if store is self.local else self._bounded(operation, call))
        except StateUnavailableError as exc:
            self._fell_back(operation, exc)

    async def _strict(self, operation: str, call: Awaitable[T], within: float | None = None) -> T:
        # A count is always tried: a definitive failure left uncounted weakens the lockout.
        if operation != "count" and self._quiet(operation):
            _close(call)
            self._fell_back(operation, None)
            raise StateUnavailableError(operation, "store failing; not asked for a while")
        try:
            return await self._bounded(operation, call, within)
        except StateUnavailableError as exc:
            self._fell_back(operation, exc)
            raise

    async def _bounded(self, operation: str, call: Awaitable[T], within: float | None = None) -> T:
        """``call`` within ``timeout`` (and ``within``); whatever goes wrong in a shared store
        (a reply it cannot read, a bug) is the store being unavailable, never the decision's
        own failure: the fallback and the lockout's fail-closed apply to it."""
        limit = self.timeout if within is None else max(min(self.timeout, within), 0.0)
        try:
            async with asyncio.timeout(limit):
                return await call
        except TimeoutError:
            if limit < self.timeout:  # the decision's deadline cut it short, not the store
                raise _Cut(operation, f"no time left in the decision ({limit:g} s)") from None
            why = f"no answer within {limit:g} s"
        except StateUnavailableError:
            raise
        except Exception as exc:
            why = type(exc).__name__
        # Outside the handler: the store's own words (an address, a reply) stay behind.
        raise StateUnavailableError(operation, why)

    def _quiet(self, operation: str) -> bool:
        return self._now() < self._down_until.get(_GROUP.get(operation, "vendor"), float("-inf"))

    def _fell_back(self, operation: str, exc: StateUnavailableError | None) -> None:
        now = self._now()
        if exc is not None and not isinstance(exc, _Cut):
            # A lockout call failing says the store is down for everything; a vendor call
            # failing (a slow settle) must not switch the lockout off.
            group = _GROUP.get(operation, "vendor")
            for down in ("lockout", "vendor") if group == "lockout" else (group,):
                self._down_until[down] = now + self.quiet
        self.fallbacks[operation] += 1
        degraded = DEGRADED.get()
        if degraded is not None:
            degraded.add(_PART[operation])
        if now - self._warned.get(operation, float("-inf")) >= self.quiet:
            self._warned[operation] = now
            why = exc.why if exc is not None else "it failed moments ago"
            log.warning(
                "shared state store unavailable for %s (%s); %s",
                operation,
                why,
                _CONSEQUENCE.get(operation, "using this process's own state"),
            )

    def _now(self) -> float:
        return self.local.clock.monotonic() if self.clock is None else self.clock.monotonic()


def _issued(admission: Admission) -> _Issued:
    if not isinstance(admission.ticket, _Issued):
        raise ValueError("this admission was not given by this engine's state")
    return admission.ticket


def _close(call: Awaitable[object]) -> None:
    close = getattr(call, "close", None)
    if close is not None:
        close()  # a coroutine never awaited must be closed, or Python warns
