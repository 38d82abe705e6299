"""Rate limits and quotas, for simulators that enforce their vendor's."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["Quota", "TokenBucket"]


def _positive(_inst: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {value!r}")


def _count(_inst: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be an integer >= 0, got {value!r}")


@attrs.define
class TokenBucket:
    """A token bucket: ``burst`` requests at once, refilled at ``rate_per_s``. Thread-safe.

    Starts full. ``clock`` is a monotonic clock in seconds (tests pass a fake one).

    Attributes:
        rate_per_s: Tokens added per second.
        burst: Bucket size: the most requests allowed at once.
    """

    rate_per_s: float = attrs.field(converter=float, validator=_positive)
    burst: int = attrs.field(validator=_count)
    _clock: Callable[[], float] = attrs.field(default=time.monotonic, alias="clock")
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _tokens: float = attrs.field(init=False)
    _updated: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self._tokens = float(self.burst)
        self._updated = self._clock()

    def try_acquire(self, tokens: int = 1) -> bool:
        """Take ``tokens`` if available now; False (taking nothing) if not."""
        with self._lock:
            self._refill()
            if self._tokens + 1e-9 < tokens:
                return False
            self._tokens -= tokens
            return True

    def retry_after(self, tokens: int = 1) -> float:
        """Seconds until ``tokens`` will be available (0 when they are now)."""
        with self._lock:
            self._refill()
            missing = tokens - self._tokens
            return max(0.0, missing / self.rate_per_s)

    @property
    def available(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
        self._updated = now


@attrs.define
class Quota:
    """A count of calls allowed in total (a vendor's purchased quota). Thread-safe.

    Attributes:
        limit: Calls allowed until ``reset()``.
    """

    limit: int = attrs.field(validator=_count)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _used: int = attrs.field(init=False, default=0)

    def try_consume(self, calls: int = 1) -> bool:
        """Count ``calls`` if the quota allows them all; False (counting none) if not."""
        with self._lock:
            if self._used + calls > self.limit:
                return False
            self._used += calls
            return True

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    @property
    def remaining(self) -> int:
        with self._lock:
            return self.limit - self._used

    @property
    def exhausted(self) -> bool:
        return self.remaining <= 0

    def reset(self) -> None:
        with self._lock:
            self._used = 0
