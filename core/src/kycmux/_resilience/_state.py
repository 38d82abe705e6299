"""A tiny key-value interface for the state breakers and the lockout counter keep.

Everything the breakers and the lockout remember goes through ``StateStore``, so a store
shared by several processes (Redis, a database) can replace the in-memory one without touching
their logic: they only rely on the atomicity of each single operation (``incr`` and
``compare_and_set`` in particular), never on two operations running back to back.
"""

from __future__ import annotations

import json
import math
from typing import Any, Protocol, runtime_checkable

import attrs

from kycmux._resilience._clock import Clock, SystemClock

__all__ = ["InMemoryStateStore", "StateStore"]

_SWEEP_EVERY = 1024


@runtime_checkable
class StateStore(Protocol):
    """Atomic single-key operations on JSON-compatible values, with optional expiry.

    Values are what JSON can hold (dicts with string keys, lists, strings, numbers, booleans);
    a networked store keeps them serialised, so tuples come back as lists. ``None`` is not a
    value: reading a missing or expired key gives ``None``. ``ttl`` is in seconds; ``None``
    means the key never expires.
    """

    def get(self, key: str) -> Any | None:
        """The value of ``key``, or ``None`` if it is missing or expired."""
        ...

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` under ``key``, replacing any value and expiry it had."""
        ...

    def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Add ``amount`` to the integer under ``key`` (missing counts as 0); return the sum.

        With ``ttl`` the key's expiry is set to ``ttl`` from now; without it the expiry the key
        had is kept.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...

    def compare_and_set(
        self, key: str, expected: Any | None, new: Any | None, ttl: float | None = None
    ) -> bool:
        """Replace the value of ``key`` by ``new`` if it currently equals ``expected``.

        ``expected=None`` means "the key is missing"; ``new=None`` deletes the key. Returns
        whether the swap happened.
        """
        ...


def _check_json(value: Any) -> None:
    # json.dumps alone would quietly turn non-string keys into strings.
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"value is not JSON-compatible: key {key!r} is not a string")
            _check_json(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_json(item)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"value is not JSON-compatible: {value!r}")
    elif value is not None and not isinstance(value, str | int | float):
        raise ValueError(f"value is not JSON-compatible: a {type(value).__name__}")


def _canonical(value: Any) -> Any:
    """The value as a networked store would give it back (tuples become lists), copied."""
    if value is None:
        raise ValueError("None is not a storable value; delete the key instead")
    _check_json(value)
    return json.loads(json.dumps(value))


def _copied(value: Any) -> Any:
    """A stored value (canonical already: checked and copied on the way in), copied again so
    the caller cannot change what is kept; much cheaper than a second JSON round trip, which
    every breaker and lockout read paid."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value  # a string, number or boolean: immutable


def _check_ttl(ttl: float | None) -> None:
    if ttl is not None and not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl must be a positive number of seconds or None, got {ttl!r}")


@attrs.define(eq=False)
class _Entry:
    value: Any
    expires_at: float | None


@attrs.define(eq=False)
class InMemoryStateStore:
    """A ``StateStore`` in a dict, for one process. Expiry follows the injected clock.

    Every operation is a plain synchronous function, so with a single event loop each one is
    atomic with respect to other tasks. Values are copied in and out through JSON, exactly as a
    networked store would hold them, so code written against it behaves the same there.

    Attributes:
        clock: The clock expiry is measured on (its ``monotonic`` reading).
    """

    clock: Clock = attrs.field(factory=SystemClock)
    _entries: dict[str, _Entry] = attrs.field(init=False, factory=dict)
    _writes: int = attrs.field(init=False, default=0)

    def __len__(self) -> int:
        """Number of live (unexpired) keys."""
        self._sweep()
        return len(self._entries)

    def keys(self) -> list[str]:
        """Every key held right now, expired ones included until a sweep drops them (to see
        what the store keeps, in tests and when debugging)."""
        return list(self._entries)

    def get(self, key: str) -> Any | None:
        entry = self._live(key)
        return None if entry is None else _copied(entry.value)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        _check_ttl(ttl)
        self._put(key, _canonical(value), ttl)

    def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        _check_ttl(ttl)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError("amount must be an int")
        entry = self._live(key)
        current = 0 if entry is None else entry.value
        if isinstance(current, bool) or not isinstance(current, int):
            raise TypeError(f"cannot increment a non-integer value under {key!r}")
        total = current + amount
        if entry is not None and ttl is None:
            entry.value = total
        else:
            self._put(key, total, ttl)
        return total

    def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    def compare_and_set(
        self, key: str, expected: Any | None, new: Any | None, ttl: float | None = None
    ) -> bool:
        _check_ttl(ttl)
        entry = self._live(key)
        current = None if entry is None else entry.value
        if current != (None if expected is None else _canonical(expected)):
            return False
        if new is None:
            self.delete(key)
        else:
            self._put(key, _canonical(new), ttl)
        return True

    def ttl(self, key: str) -> float | None:
        """Seconds until ``key`` expires; ``None`` if it is missing or never expires."""
        entry = self._live(key)
        if entry is None or entry.expires_at is None:
            return None
        return entry.expires_at - self.clock.monotonic()

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and self._expired(entry, self.clock.monotonic()):
            del self._entries[key]
            return None
        return entry

    @staticmethod
    def _expired(entry: _Entry, now: float) -> bool:
        return entry.expires_at is not None and entry.expires_at <= now

    def _put(self, key: str, value: Any, ttl: float | None) -> None:
        expires_at = None if ttl is None else self.clock.monotonic() + ttl
        self._entries[key] = _Entry(value, expires_at)
        self._writes += 1
        # Keys nobody reads again (old breaker buckets, idle subjects) must not pile up.
        if self._writes % _SWEEP_EVERY == 0:
            self._sweep()

    def _sweep(self) -> None:
        now = self.clock.monotonic()
        for key in [k for k, e in self._entries.items() if self._expired(e, now)]:
            del self._entries[key]
