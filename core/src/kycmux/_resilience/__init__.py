"""Resilience primitives the decision engine is built from.

All of them read time from an injected ``Clock`` (``kycmux.testing.FakeClock`` in tests) and
keep shareable state in a ``StateStore``:

- ``CircuitBreaker`` per vendor (``BreakerSettings``): stop calling a failing vendor, probe it
  with exactly one call once it may have recovered.
- ``RetryPolicy`` and ``RetryBudget``: when to retry the same vendor, and a cap on how many
  retries there are overall so they cannot amplify an outage.
- ``RateLimiter`` per vendor (``RateLimitSettings``): a token bucket, pauses ordered by the
  vendor, and a bound on requests in flight.
- ``SubjectLockout`` (``LockoutSettings``): lock a person out after consecutive definitive
  failures, or after too many unusable captures in a row.
- ``Deadline`` and ``clock_timeout``: the decision's time budget, and timeouts on the clock.
"""

from __future__ import annotations

from kycmux._resilience._breaker import (
    BreakerSettings,
    BreakerState,
    BreakerStats,
    CircuitBreaker,
    Outcome,
    Permit,
    TransitionListener,
    outcome_for,
)
from kycmux._resilience._clock import Clock, SystemClock, held
from kycmux._resilience._deadline import ClockTimeout, Deadline, clock_timeout
from kycmux._resilience._lockout import Lock, LockoutSettings, LockReason, SubjectLockout
from kycmux._resilience._ratelimit import InFlightSlot, RateLimiter, RateLimitSettings
from kycmux._resilience._retry import (
    Jitter,
    RandomSource,
    RetryBudget,
    RetryBudgetSettings,
    RetryPolicy,
)
from kycmux._resilience._state import InMemoryStateStore, StateStore

__all__ = [
    "BreakerSettings",
    "BreakerState",
    "BreakerStats",
    "CircuitBreaker",
    "Clock",
    "ClockTimeout",
    "Deadline",
    "InFlightSlot",
    "InMemoryStateStore",
    "Jitter",
    "Lock",
    "LockReason",
    "LockoutSettings",
    "Outcome",
    "Permit",
    "RandomSource",
    "RateLimitSettings",
    "RateLimiter",
    "RetryBudget",
    "RetryBudgetSettings",
    "RetryPolicy",
    "StateStore",
    "SubjectLockout",
    "SystemClock",
    "TransitionListener",
    "clock_timeout",
    "held",
    "outcome_for",
]
