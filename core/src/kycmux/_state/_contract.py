"""The async contract for state that every replica of a service must agree on.

An engine keeps four kinds of state that, in a service with several replicas, mean nothing
unless they are shared: subject lockout (a security control), each vendor's circuit breaker,
its rate limit (with the pauses the vendor orders) and its retry budget. ``SharedState`` is
the one door to all of it. Each method is one round trip to the store and atomic there, so
a decision's happy path costs three: ``subject`` before it, ``admit`` and ``settle`` around
its vendor call (``count`` after a pass only when the subject had failures counted).

Implementations: ``MemoryState`` (one process; the default, and every engine's fallback) and
``RedisState`` (``kycmux.state.redis``; several processes and machines). Subjects reach the
store as keyed hashes only; the engine hashes them with ``[engine] record_key``.

Each store reads time from its own clock (wall-clock seconds), so replicas sharing a store
must keep their clocks in step (NTP): lock ends, breaker cool-downs and rate tokens are
compared against it.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol, runtime_checkable

import attrs

from kycmux._config._config import VendorResilience
from kycmux._resilience._breaker import BreakerStats, Outcome, TransitionListener
from kycmux._resilience._lockout import Lock, LockoutSettings

__all__ = ["Admission", "Refusal", "SharedState", "SubjectEvent", "SubjectStatus"]


class SubjectEvent(enum.StrEnum):
    """What a decision said about its subject, for the lockout counts.

    Attributes:
        FAILURE: A definitive negative (REJECT): counts toward ``limit``.
        CAPTURE: An unusable capture (RETRY_CAPTURE): counts toward ``capture_limit``.
        SUCCESS: A pass (ACCEPT): the failures before it are no longer consecutive.
    """

    FAILURE = "failure"
    CAPTURE = "capture"
    SUCCESS = "success"


@attrs.frozen
class SubjectStatus:
    """A subject's standing before a decision.

    Attributes:
        lock: The lock, if the subject is locked now.
        counted: Failures or unusable captures are counted for it (a pass must clear them);
            when false, a pass needs no write at all.
    """

    lock: Lock | None = None
    counted: bool = False


class Refusal(enum.StrEnum):
    """Why ``admit`` refused a call (the reason in the attempt's classification).

    Attributes:
        CIRCUIT_OPEN: The vendor's breaker is open, or its half-open probe is out.
        CLIENT_RATE_LIMIT: No rate token (or end of a vendor-ordered pause) before the
            decision's deadline.
    """

    CIRCUIT_OPEN = "circuit_open"
    CLIENT_RATE_LIMIT = "client_rate_limit"


@attrs.frozen
class Admission:
    """The answer to ``admit``: go (after ``wait`` seconds) or not.

    Attributes:
        refusal: Why the call may not go; ``None`` when it may.
        wait: Seconds to wait before sending (a reserved rate token, or a pause's end).
        retry_after: For a refusal, seconds until one may succeed (0 if unknown).
        ticket: The store's own handle on the breaker permit; give the admission back to
            the same store's ``settle`` or ``release``.
    """

    refusal: Refusal | None = None
    wait: float = 0.0
    retry_after: float = 0.0
    ticket: Any = attrs.field(default=None, repr=False, eq=False)

    @property
    def granted(self) -> bool:
        return self.refusal is None

    @classmethod
    def refused(cls, why: Refusal, retry_after: float = 0.0) -> Admission:
        return cls(refusal=why, retry_after=retry_after)


@runtime_checkable
class SharedState(Protocol):
    """Where lockout counts, breakers, rate limits and retry budgets live (async).

    Every method is atomic in the store. A store that cannot answer raises
    ``StateUnavailableError``; the engine bounds every call with ``[engine] state_timeout``
    and then falls back (breakers, limits, budgets to its own ``MemoryState``; lockout as the
    policy's ``lockout.unavailable`` says).

    Attributes:
        namespace: The prefix of every key (two deployments on one server must differ).
        shared: The state is seen by other processes (a shared store requires
            ``record_key``, so that every replica hashes a subject the same way).
    """

    @property
    def namespace(self) -> str: ...

    @property
    def shared(self) -> bool: ...

    def on_transition(self, listener: TransitionListener) -> None:
        """Call ``listener(vendor, old, new, at)`` on each breaker transition made here."""
        ...

    # subjects ---------------------------------------------------------------------------

    async def subject(self, subject: str) -> SubjectStatus:
        """The lock and whether counts exist for ``subject`` (a keyed hash)."""
        ...

    async def count(
        self, subject: str, event: SubjectEvent, settings: LockoutSettings
    ) -> Lock | None:
        """Count ``event`` for ``subject``; the new lock if this one locked it.

        FAILURE adds one to the consecutive-failure count (kept ``settings.memory`` seconds)
        and locks for ``settings.cooldown`` at ``settings.limit``; CAPTURE adds one to the
        capture count (kept ``settings.cooldown`` seconds) and locks at
        ``settings.capture_limit``; SUCCESS clears both counts. A lock resets its count.
        """
        ...

    async def unlock(self, subject: str) -> None:
        """Clear the subject's lock and counts (an operator's override)."""
        ...

    # vendors ----------------------------------------------------------------------------

    async def admit(
        self, vendor: str, settings: VendorResilience, *, first: bool, max_wait: float
    ) -> Admission:
        """Leave to call ``vendor`` once: its breaker, then a rate token, in one step.

        The breaker refuses (``CIRCUIT_OPEN``) while open or while the half-open probe is
        out; otherwise a permit is taken (the probe slot, when half-open). Then a rate token
        is reserved: ``wait`` says when it is due (never before a vendor-ordered pause ends);
        one due at or after ``max_wait`` seconds is refused (``CLIENT_RATE_LIMIT``) and
        nothing is kept. ``first`` (the first attempt of a call, not a retry) deposits into
        the vendor's retry budget.
        """
        ...

    async def settle(
        self, vendor: str, settings: VendorResilience, admission: Admission, outcome: Outcome
    ) -> None:
        """Report how an admitted call went (its breaker outcome); once per admission."""
        ...

    async def release(self, vendor: str, settings: VendorResilience, admission: Admission) -> None:
        """Give back an admission that produced no outcome (cancelled before or while
        sending): a half-open probe slot is freed at once."""
        ...

    async def retry(self, vendor: str, settings: VendorResilience) -> bool:
        """Withdraw one retry from the vendor's budget; ``False``: do not retry."""
        ...

    async def pause(self, vendor: str, settings: VendorResilience, seconds: float | None) -> None:
        """The vendor said "too many requests": send it nothing for ``seconds`` (default
        ``rate_limit.pause_on_limit``); pauses only ever extend."""
        ...

    async def breaker_stats(self, vendor: str, settings: VendorResilience) -> BreakerStats:
        """The vendor's breaker as the store holds it."""
        ...

    async def reset_breaker(self, vendor: str, settings: VendorResilience) -> None:
        """Force the vendor's breaker closed with an empty window (an operator's override)."""
        ...

    async def aclose(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...
