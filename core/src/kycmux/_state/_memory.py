"""``SharedState`` in one process: the default, and every engine's fallback.

Built from the resilience primitives (``CircuitBreaker``, ``RateLimiter``, ``RetryBudget``,
``SubjectLockout``) on an ``InMemoryStateStore``. No method awaits anything, so each one is
atomic with respect to the other tasks of the event loop.
"""

from __future__ import annotations

import math

import attrs

from kycmux._config._config import VendorResilience
from kycmux._resilience._breaker import (
    BreakerStats,
    CircuitBreaker,
    Outcome,
    Permit,
    TransitionListener,
)
from kycmux._resilience._clock import Clock, SystemClock
from kycmux._resilience._lockout import Lock, LockoutSettings, SubjectLockout
from kycmux._resilience._ratelimit import RateLimiter
from kycmux._resilience._retry import RetryBudget
from kycmux._resilience._state import InMemoryStateStore, StateStore
from kycmux._state._contract import Admission, Refusal, SubjectEvent, SubjectStatus

__all__ = ["MemoryState"]

# Counts and locks do not depend on the settings, only on the keys: any settings read them.
_ANY = LockoutSettings()


@attrs.define(eq=False)
class _Ticket:
    permit: Permit
    limiter: RateLimiter
    token: bool


def _default_store(state: MemoryState) -> StateStore:
    return InMemoryStateStore(state.clock)


@attrs.define(eq=False)
class MemoryState:
    """Lockout counts, breakers, rate tokens and retry budgets of one process.

    Each vendor's primitives are built on first use from the settings the engine passes, and
    are reachable (``breaker``, ``limiter``, ``budget``) for status pages and tests.

    Attributes:
        clock: The clock every primitive reads.
        store: The key-value store breakers and lockout counts are kept in.
        namespace: Unused in one process; kept for the ``SharedState`` contract.
    """

    clock: Clock = attrs.field(factory=SystemClock)
    store: StateStore = attrs.field(default=attrs.Factory(_default_store, takes_self=True))
    namespace: str = "kycmux"
    _breakers: dict[str, CircuitBreaker] = attrs.field(init=False, factory=dict)
    _limiters: dict[str, RateLimiter] = attrs.field(init=False, factory=dict)
    _budgets: dict[str, RetryBudget] = attrs.field(init=False, factory=dict)
    _lockouts: dict[LockoutSettings, SubjectLockout] = attrs.field(init=False, factory=dict)
    _listeners: list[TransitionListener] = attrs.field(init=False, factory=list)

    @property
    def shared(self) -> bool:
        return False

    def on_transition(self, listener: TransitionListener) -> None:
        self._listeners.append(listener)
        for breaker in self._breakers.values():
            breaker.add_listener(listener)

    # the primitives ---------------------------------------------------------------------

    def breaker(self, vendor: str, settings: VendorResilience) -> CircuitBreaker:
        """The vendor's breaker (built with ``settings.breaker`` on first use)."""
        if vendor not in self._breakers:
            self._breakers[vendor] = CircuitBreaker.from_settings(
                vendor,
                settings.breaker,
                clock=self.clock,
                store=self.store,
                listeners=self._listeners,
            )
        return self._breakers[vendor]

    def limiter(self, vendor: str, settings: VendorResilience) -> RateLimiter:
        """The vendor's rate limiter: tokens, pauses and in-flight slots."""
        if vendor not in self._limiters:
            self._limiters[vendor] = RateLimiter(vendor, settings.rate_limit, self.clock)
        return self._limiters[vendor]

    def budget(self, vendor: str, settings: VendorResilience) -> RetryBudget:
        """The vendor's retry budget."""
        if vendor not in self._budgets:
            self._budgets[vendor] = settings.retry_budget.budget(self.clock)
        return self._budgets[vendor]

    def lockout(self, settings: LockoutSettings) -> SubjectLockout:
        """The lockout counter for ``settings`` (subjects are keyed hashes already)."""
        if settings not in self._lockouts:
            # Subjects arrive as keyed hashes already: hashing them again would only cost.
            self._lockouts[settings] = SubjectLockout(settings, self.clock, self.store, None)
        return self._lockouts[settings]

    # subjects ---------------------------------------------------------------------------

    async def subject(self, subject: str) -> SubjectStatus:
        lockout = self.lockout(_ANY)
        return SubjectStatus(lockout.lock(subject), lockout.counted(subject))

    async def count(
        self, subject: str, event: SubjectEvent, settings: LockoutSettings
    ) -> Lock | None:
        lockout, event = self.lockout(settings), SubjectEvent(event)
        if event is SubjectEvent.SUCCESS:
            lockout.record_success(subject)
            return None
        if event is SubjectEvent.FAILURE:
            locked = lockout.record_failure(subject)
        else:
            locked = lockout.record_capture_failure(subject)
        return None if locked is None else lockout.lock(subject)

    async def unlock(self, subject: str) -> None:
        self.lockout(_ANY).unlock(subject)

    # vendors ----------------------------------------------------------------------------

    async def admit(
        self, vendor: str, settings: VendorResilience, *, first: bool, max_wait: float
    ) -> Admission:
        breaker = self.breaker(vendor, settings)
        permit = breaker.acquire()
        if permit is None:
            return Admission.refused(Refusal.CIRCUIT_OPEN, breaker.retry_after())
        limiter = self.limiter(vendor, settings)
        wait = limiter.reserve(max_wait)
        if wait is None:
            permit.cancel()
            return Admission.refused(Refusal.CLIENT_RATE_LIMIT, limiter.paused_for())
        if first:
            self.budget(vendor, settings).deposit()
        ticket = _Ticket(permit, limiter, settings.rate_limit.rate is not None)
        return Admission(wait=wait, ticket=ticket)

    async def settle(
        self, vendor: str, settings: VendorResilience, admission: Admission, outcome: Outcome
    ) -> None:
        ticket = _ticket(admission)
        if not ticket.permit.settled:
            ticket.permit.record(Outcome(outcome))

    async def release(self, vendor: str, settings: VendorResilience, admission: Admission) -> None:
        ticket = _ticket(admission)
        if ticket.permit.settled:
            return
        ticket.permit.cancel()
        if ticket.token:
            ticket.limiter.refund()

    async def retry(self, vendor: str, settings: VendorResilience) -> bool:
        return self.budget(vendor, settings).withdraw()

    async def pause(self, vendor: str, settings: VendorResilience, seconds: float | None) -> None:
        if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
            seconds = None
        self.limiter(vendor, settings).pause(seconds)

    async def breaker_stats(self, vendor: str, settings: VendorResilience) -> BreakerStats:
        return self.breaker(vendor, settings).stats()

    async def reset_breaker(self, vendor: str, settings: VendorResilience) -> None:
        self.breaker(vendor, settings).reset()

    async def aclose(self) -> None:
        """Nothing to release."""


def _ticket(admission: Admission) -> _Ticket:
    if not isinstance(admission.ticket, _Ticket):
        raise ValueError("this admission was not given by this store")
    return admission.ticket
