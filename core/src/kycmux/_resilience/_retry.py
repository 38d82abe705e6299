"""Retry timing (exponential backoff with jitter) and a budget that stops retry storms."""

from __future__ import annotations

import enum
from typing import Protocol

import attrs

from kycmux._model._rules import AT_LEAST_ONE, AT_LEAST_ONE_WHOLE, NON_NEGATIVE, POSITIVE
from kycmux._resilience._clock import Clock, SystemClock

__all__ = ["Jitter", "RandomSource", "RetryBudget", "RetryBudgetSettings", "RetryPolicy"]

# Ten deposits of 0.1 sum to 0.9999999999999999; they are meant to buy one retry.
_EPSILON = 1e-9


class RandomSource(Protocol):
    """Where jitter comes from: ``random.Random`` (seeded in tests) fits."""

    def random(self) -> float:
        """A float in [0, 1)."""
        ...


class Jitter(enum.StrEnum):
    """How a backoff delay is randomised.

    Attributes:
        FULL: Uniform between 0 and the exponential cap (spreads retries best; the AWS
            architecture blog's "full jitter").
        EQUAL: Half the cap, plus uniform up to the other half (never retries too soon).
        NONE: Exactly the exponential cap (for tests and explanations).
    """

    FULL = "full"
    EQUAL = "equal"
    NONE = "none"


@attrs.frozen
class RetryPolicy:
    """How often and how soon one vendor is asked again after a retryable failure.

    Attempt ``n`` (1 = the first) that failed is followed, if anything, by a delay drawn from
    ``[0, min(max_delay, base_delay * multiplier ** (n - 1))]`` under full jitter.

    Attributes:
        max_attempts: Attempts in all, the first included (1 = never retry).
        base_delay: The exponential cap after the first attempt, seconds.
        max_delay: The cap never grows past this, seconds.
        multiplier: Growth of the cap per attempt.
        jitter: How the delay is drawn below the cap.
        min_attempt_time: Seconds an attempt needs at the least; a retry is not scheduled
            unless this much is left after its delay.
    """

    max_attempts: int = attrs.field(default=3, validator=AT_LEAST_ONE_WHOLE)
    base_delay: float = attrs.field(default=0.1, converter=float, validator=NON_NEGATIVE)
    max_delay: float = attrs.field(default=2.0, converter=float, validator=NON_NEGATIVE)
    multiplier: float = attrs.field(default=2.0, converter=float, validator=AT_LEAST_ONE)
    jitter: Jitter = attrs.field(default=Jitter.FULL, converter=Jitter)
    min_attempt_time: float = attrs.field(default=0.1, converter=float, validator=NON_NEGATIVE)

    def __attrs_post_init__(self) -> None:
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must be >= base_delay")

    def cap(self, attempt: int) -> float:
        """The un-jittered delay after failed attempt ``attempt``."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        try:
            grown = self.base_delay * self.multiplier ** (attempt - 1)
        except OverflowError:
            return self.max_delay
        return min(self.max_delay, grown)

    def delay(self, attempt: int, rng: RandomSource) -> float:
        """The delay before the attempt after failed attempt ``attempt``, jittered."""
        cap = self.cap(attempt)
        if self.jitter is Jitter.FULL:
            return rng.random() * cap
        if self.jitter is Jitter.EQUAL:
            return cap / 2 + rng.random() * cap / 2
        return cap

    def next_delay(
        self,
        attempt: int,
        remaining: float,
        rng: RandomSource,
        *,
        retry_after: float | None = None,
    ) -> float | None:
        """The delay before retrying after failed attempt ``attempt``, or ``None`` to stop.

        :param attempt: The attempt that just failed (1 = the first).
        :param remaining: Seconds left in the decision's deadline.
        :param rng: The jitter source.
        :param retry_after: A wait the vendor asked for; the delay is never shorter.
        :return: ``None`` when ``max_attempts`` are used up, or when the delay plus
            ``min_attempt_time`` would not fit in ``remaining``.
        """
        if attempt >= self.max_attempts:
            return None
        wait = self.delay(attempt, rng)
        if retry_after is not None and retry_after > wait:
            wait = retry_after
        if wait + self.min_attempt_time > remaining:
            return None
        return wait


@attrs.frozen
class RetryBudgetSettings:
    """The retry budget of one vendor (``[vendors.<name>.resilience] retry_budget``).

    Attributes:
        ratio: Retries allowed per first attempt (0.2: at most 20 % more load in an outage).
        min_per_second: Retries per second allowed regardless, so a quiet service retries.
    """

    ratio: float = attrs.field(default=0.2, converter=float, validator=POSITIVE)
    min_per_second: float = attrs.field(default=10.0, converter=float, validator=NON_NEGATIVE)

    def budget(self, clock: Clock) -> RetryBudget:
        return RetryBudget(ratio=self.ratio, min_per_second=self.min_per_second, clock=clock)


@attrs.define(eq=False)
class RetryBudget:
    """A token bucket that keeps retries a fraction of first attempts.

    Each first attempt deposits ``ratio`` tokens (up to ``cap``); each retry must withdraw a
    whole one. On top of that, ``min_per_second`` retries per second are always allowed (a
    separate allowance of up to ``max(1, min_per_second)`` that refills on ``clock``), so a
    quiet service can still retry. In an outage where every call fails, retries thus add at
    most ``ratio`` (plus the small floor) to the load instead of multiplying it.

    One budget per vendor, shared by every decision in the process. Synchronous, so atomic
    under asyncio.

    Attributes:
        ratio: Tokens deposited by each first attempt.
        cap: Most tokens the budget holds.
        min_per_second: Retries per second allowed regardless of deposits (0: none).
        clock: The clock the floor allowance refills on.
    """

    ratio: float = attrs.field(default=0.2, converter=float, validator=POSITIVE)
    cap: float = attrs.field(default=10.0, converter=float, validator=AT_LEAST_ONE)
    min_per_second: float = attrs.field(default=1.0, converter=float, validator=NON_NEGATIVE)
    clock: Clock = attrs.field(factory=SystemClock)
    _tokens: float = attrs.field(init=False, default=0.0)
    _floor: float = attrs.field(init=False)
    _floor_at: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._floor = self._floor_cap
        self._floor_at = self.clock.monotonic()

    @property
    def _floor_cap(self) -> float:
        return max(1.0, self.min_per_second) if self.min_per_second > 0 else 0.0

    @property
    def tokens(self) -> float:
        """Deposited tokens available (not counting the per-second floor)."""
        return self._tokens

    def deposit(self) -> None:
        """Record a first attempt."""
        self._tokens = min(self.cap, self._tokens + self.ratio)

    def withdraw(self) -> bool:
        """Take the right to one retry; ``False`` means do not retry (fail over instead)."""
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(self._tokens - 1.0, 0.0)
            return True
        self._refill_floor()
        if self._floor >= 1.0:
            self._floor -= 1.0
            return True
        return False

    def _refill_floor(self) -> None:
        now = self.clock.monotonic()
        elapsed = max(now - self._floor_at, 0.0)
        self._floor = min(self._floor_cap, self._floor + elapsed * self.min_per_second)
        self._floor_at = now
