"""Lock a subject out after too many consecutive definitive failures, across all vendors."""

from __future__ import annotations

import enum
import secrets
from typing import Literal

import attrs

from kycmux._model._privacy import keyed_hash
from kycmux._model._rules import AT_LEAST_ONE_WHOLE, POSITIVE_SECONDS, one_of
from kycmux._resilience._clock import Clock, SystemClock
from kycmux._resilience._state import InMemoryStateStore, StateStore

__all__ = ["Lock", "LockReason", "LockoutSettings", "SubjectLockout"]


@attrs.frozen
class LockoutSettings:
    """How many failures lock a subject out, and for how long.

    Attributes:
        limit: Consecutive definitive failures (not live, not the same person...) that lock
            the subject; 5, the limit NIST SP 800-63B sets for biometric attempts.
        cooldown: Seconds the subject stays locked; afterwards the count starts again at 0.
        memory: Seconds a count survives without a new failure, so idle subjects do not fill
            the store; failures further apart than this are not "consecutive".
        capture_limit: Unusable captures (``retry_capture``: wrong digits, bad liveness data,
            no face...) that lock the subject when each comes within ``cooldown`` of the one
            before. Higher than ``limit``, since honest users fumble captures; but each
            attempt is sent, and may be billed, so a client cannot loop for ever.
        unavailable: What a decision does when the shared state store holding the counts
            does not answer: ``closed`` (default) refuses it with outcome ``error`` and
            reason ``lockout_unavailable``, since skipping a security control is worse than
            a retry; ``open`` decides without the lockout and says so in the record.
    """

    limit: int = attrs.field(default=5, validator=AT_LEAST_ONE_WHOLE)
    cooldown: float = attrs.field(default=900.0, converter=float, validator=POSITIVE_SECONDS)
    memory: float = attrs.field(default=86_400.0, converter=float, validator=POSITIVE_SECONDS)
    capture_limit: int = attrs.field(default=10, validator=AT_LEAST_ONE_WHOLE)
    unavailable: Literal["closed", "open"] = attrs.field(
        default="closed", validator=one_of("closed", "open")
    )


class LockReason(enum.StrEnum):
    """Why a subject is locked.

    Attributes:
        DEFINITIVE_FAILURES: ``limit`` consecutive definitive failures.
        CAPTURE_RETRIES: ``capture_limit`` unusable captures within the cool-down window.
    """

    DEFINITIVE_FAILURES = "definitive_failures"
    CAPTURE_RETRIES = "capture_retries"


@attrs.frozen
class Lock:
    """A subject's lock.

    Attributes:
        remaining: Seconds until it ends.
        reason: Which limit was reached.
    """

    remaining: float
    reason: LockReason


def _default_store(lockout: SubjectLockout) -> StateStore:
    return InMemoryStateStore(lockout.clock)


@attrs.define(eq=False)
class SubjectLockout:
    """Counts consecutive definitive failures per subject, whichever vendor gave them.

    ``check`` before a decision (``SubjectLockedError`` if it returns a number),
    ``record_failure`` after a definitive negative, ``record_success`` after a pass.

    Subjects are stored under a keyed hash of their id, never the id itself (callers may use
    something personal as the id). The key is random per instance unless given: give the same
    secret ``hash_key`` to every process that shares ``store``. The lock's end is wall-clock
    time, so processes sharing the store agree on it.

    Attributes:
        settings: Limit and durations.
        clock: The clock.
        store: Where counts and locks live (default: a private in-memory store on ``clock``).
        hash_key: The HMAC key for subject ids (never shown in the repr); ``None`` when the
            ids given are keyed hashes already (the engine's own), so they are not hashed twice.
    """

    settings: LockoutSettings = attrs.field(factory=LockoutSettings)
    clock: Clock = attrs.field(factory=SystemClock)
    store: StateStore = attrs.field(default=attrs.Factory(_default_store, takes_self=True))
    hash_key: bytes | None = attrs.field(factory=lambda: secrets.token_bytes(32), repr=False)

    def check(self, subject: str) -> float | None:
        """Seconds until ``subject`` is unlocked, or ``None`` if it is not locked."""
        lock = self.lock(subject)
        return None if lock is None else lock.remaining

    def lock(self, subject: str) -> Lock | None:
        """The subject's lock, or ``None`` if it is not locked."""
        value = self.store.get(self._key(subject, "lock"))
        if value is None:
            return None
        left = float(value["until"]) - self.clock.time()
        why = LockReason(value.get("reason", LockReason.DEFINITIVE_FAILURES))
        return Lock(left, why) if left > 0 else None

    def record_failure(self, subject: str) -> float | None:
        """Count a definitive failure; returns the lock's duration if this one locked it."""
        count = self.store.incr(self._key(subject, "count"), 1, self.settings.memory)
        if count < self.settings.limit:
            return None
        return self._lock(subject, "count", LockReason.DEFINITIVE_FAILURES)

    def record_capture_failure(self, subject: str) -> float | None:
        """Count an unusable capture; returns the lock's duration if this one locked it."""
        count = self.store.incr(self._key(subject, "captures"), 1, self.settings.cooldown)
        if count < self.settings.capture_limit:
            return None
        return self._lock(subject, "captures", LockReason.CAPTURE_RETRIES)

    def record_success(self, subject: str) -> None:
        """A pass: the failures before it no longer count as consecutive."""
        self.store.delete(self._key(subject, "count"))
        self.store.delete(self._key(subject, "captures"))

    def _lock(self, subject: str, counter: str, reason: LockReason) -> float:
        cooldown = self.settings.cooldown
        until = self.clock.time() + cooldown
        self.store.set(self._key(subject, "lock"), {"until": until, "reason": reason}, cooldown)
        self.store.delete(self._key(subject, counter))
        return cooldown

    def failures(self, subject: str) -> int:
        """Consecutive failures counted so far (0 right after a lock starts)."""
        count = self.store.get(self._key(subject, "count"))
        return int(count) if count is not None else 0

    def counted(self, subject: str) -> bool:
        """Failures or unusable captures are counted for ``subject`` (a pass would clear them)."""
        return any(self.store.get(self._key(subject, what)) for what in ("count", "captures"))

    def unlock(self, subject: str) -> None:
        """Clear the subject's lock and counts (an operator's override)."""
        for what in ("lock", "count", "captures"):
            self.store.delete(self._key(subject, what))

    def _key(self, subject: str, what: str) -> str:
        if not subject:
            raise ValueError("subject id must not be empty")
        hashed = subject if self.hash_key is None else keyed_hash(self.hash_key, subject)
        return f"kycmux:lockout:{hashed}:{what}"
