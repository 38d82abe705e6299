"""A circuit breaker per vendor, its state kept in a ``StateStore``.

Written for kycmux rather than taken from a library because the engine needs two things the
common ones do not give together: calls run concurrently (nothing is serialised through the
breaker), and once half-open exactly one probe goes out while every other caller is refused at
once, not queued behind it.

Every state change is one ``compare_and_set`` on a single record, and the sliding window is a
set of ``incr`` counters, so several processes sharing a networked store share one breaker.
No method awaits, so within one event loop each call is atomic with respect to other tasks.
"""

from __future__ import annotations

import enum
import logging
import math
import secrets
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import attrs

from kycmux._contract._taxonomy import ErrorClass
from kycmux._model._rules import AT_LEAST_ONE_WHOLE, POSITIVE_SECONDS, RATIO
from kycmux._resilience._clock import Clock, SystemClock
from kycmux._resilience._state import InMemoryStateStore, StateStore

__all__ = [
    "BreakerSettings",
    "BreakerState",
    "BreakerStats",
    "CircuitBreaker",
    "Outcome",
    "Permit",
    "TransitionListener",
    "outcome_for",
]

log = logging.getLogger("kycmux.resilience")

# Another process may win a compare-and-set between our read and our swap; re-read a few times.
_CAS_TRIES = 5


class BreakerState(enum.StrEnum):
    """Where a breaker stands.

    Attributes:
        CLOSED: Calls go through; outcomes are counted in the sliding window.
        OPEN: Calls are refused until ``open_seconds`` have passed.
        HALF_OPEN: One probe call is let through; its outcome closes or reopens the breaker.
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Outcome(enum.StrEnum):
    """What a call said about the vendor's health.

    Attributes:
        SUCCESS: The vendor answered and completed the work.
        FAILURE: A failure that counts against health (``ErrorClass.counts_against_health``).
        NEUTRAL: A result that says nothing against the vendor's health: definitive answers,
            unusable captures, rate limits, our own invalid requests. Never counted in the
            window; a neutral half-open probe closes the breaker (the vendor did answer).
    """

    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"


def outcome_for(error_class: ErrorClass | None) -> Outcome:
    """The breaker outcome of an attempt: ``None`` (no failure) is a success."""
    if error_class is None:
        return Outcome.SUCCESS
    return Outcome.FAILURE if error_class.counts_against_health else Outcome.NEUTRAL


TransitionListener = Callable[[str, BreakerState, BreakerState, float], None]
"""Called as ``listener(vendor, old_state, new_state, at)``; ``at`` is wall-clock seconds."""


@attrs.frozen
class BreakerSettings:
    """When a vendor's breaker opens and for how long.

    Attributes:
        window: Seconds of history the failure ratio is computed over (sliding).
        failure_ratio: Opens when failures / calls in the window reaches this...
        min_calls: ...and the window holds at least this many calls (successes + failures).
        open_seconds: How long an open breaker refuses calls before admitting a probe.
        buckets: How many buckets the window is cut into; an outcome ages out of the window
            between ``window * (1 - 1/buckets)`` and ``window`` seconds after it was recorded.
        probe_lease: Seconds a half-open probe holds its slot if it is never recorded (its
            process died); then another caller may probe.
    """

    window: float = attrs.field(default=30.0, converter=float, validator=POSITIVE_SECONDS)
    failure_ratio: float = attrs.field(default=0.5, converter=float, validator=RATIO)
    min_calls: int = attrs.field(default=5, validator=AT_LEAST_ONE_WHOLE)
    open_seconds: float = attrs.field(default=15.0, converter=float, validator=POSITIVE_SECONDS)
    buckets: int = attrs.field(default=10, validator=AT_LEAST_ONE_WHOLE)
    probe_lease: float = attrs.field(default=60.0, converter=float, validator=POSITIVE_SECONDS)

    @property
    def bucket_width(self) -> float:
        return self.window / self.buckets


@attrs.frozen
class BreakerStats:
    """A breaker's state and window, for status pages and the demo.

    Attributes:
        vendor: The vendor.
        state: The stored state (an open breaker whose time is up reads OPEN until the next
            ``acquire`` moves it to HALF_OPEN).
        calls: Successes and failures in the current window.
        failures: Failures in the current window.
        retry_after: Seconds until ``acquire`` may succeed (0 if it would now).
    """

    vendor: str
    state: BreakerState
    calls: int
    failures: int
    retry_after: float


@attrs.frozen
class _Record:
    """The stored state record (one key per vendor)."""

    state: BreakerState = BreakerState.CLOSED
    gen: int = 0
    at: float = 0.0
    until: float | None = None
    probe: str | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> _Record:
        if raw is None:
            return cls()
        return cls(
            state=BreakerState(raw["state"]),
            gen=int(raw["gen"]),
            at=float(raw["at"]),
            until=None if raw.get("until") is None else float(raw["until"]),
            probe=raw.get("probe"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "gen": self.gen,
            "at": self.at,
            "until": self.until,
            "probe": self.probe,
        }


@attrs.define(eq=False)
class Permit:
    """Leave to make one call, handed out by ``CircuitBreaker.acquire``.

    Settle it exactly once: ``record(outcome)`` when the call finished, or ``cancel()`` when it
    never produced an outcome (task cancelled, deadline hit before sending). Used as a context
    manager, a permit left unsettled at the end of the block is cancelled, which frees a
    half-open probe slot at once. ``cancel()`` after ``record()`` does nothing, so it is safe
    in ``finally``.

    Attributes:
        vendor: The vendor the permit is for.
        is_probe: This call is the half-open probe.
        settled: ``record`` or ``cancel`` has been called.
    """

    _breaker: CircuitBreaker
    _gen: int
    _probe: str | None = None
    _settled: bool = attrs.field(init=False, default=False)

    @property
    def vendor(self) -> str:
        return self._breaker.vendor

    @property
    def is_probe(self) -> bool:
        return self._probe is not None

    @property
    def settled(self) -> bool:
        return self._settled

    def record(self, outcome: Outcome) -> None:
        """Report how the call went; a permit records once."""
        if self._settled:
            raise RuntimeError("this permit was already settled")
        self._settled = True
        self._breaker._settle(self._gen, self._probe, Outcome(outcome))

    def cancel(self) -> None:
        """Give the permit back without an outcome (frees a half-open probe slot)."""
        if self._settled:
            return
        self._settled = True
        if self._probe is not None:
            self._breaker._release_probe(self._gen, self._probe)

    def __enter__(self) -> Permit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel()


def _default_store(breaker: CircuitBreaker) -> StateStore:
    return InMemoryStateStore(breaker.clock)


@attrs.define(eq=False)
class CircuitBreaker:
    """The circuit breaker of one vendor.

    CLOSED: every ``acquire`` gets a permit; recorded successes and failures go into a sliding
    window of ``settings.buckets`` buckets over ``settings.window`` seconds. A failure that
    brings the window to at least ``min_calls`` calls with failures / calls >= ``failure_ratio``
    opens the breaker. OPEN: ``acquire`` returns ``None`` (``retry_after()`` says how long)
    until ``open_seconds`` have passed; the first ``acquire`` after that moves to HALF_OPEN and
    gets the one probe permit, and every other caller is refused at once while it is out. The
    probe's SUCCESS or NEUTRAL closes the breaker with an empty window; its FAILURE opens it
    again for ``open_seconds``; cancelling it frees the slot for the next caller. Outcomes of
    permits from an earlier state (calls still in flight when the breaker opened) are ignored.

    Times are wall-clock (``clock.time()``) so that processes sharing ``store`` agree on them.

    Attributes:
        vendor: The vendor this breaker guards; also its key in the store.
        settings: Thresholds and durations.
        clock: The clock.
        store: Where the state lives (default: a private in-memory store on ``clock``).
    """

    vendor: str
    settings: BreakerSettings = attrs.field(factory=BreakerSettings)
    clock: Clock = attrs.field(factory=SystemClock)
    store: StateStore = attrs.field(default=attrs.Factory(_default_store, takes_self=True))
    _listeners: list[TransitionListener] = attrs.field(factory=list)

    @classmethod
    def from_settings(
        cls,
        vendor: str,
        settings: BreakerSettings,
        *,
        clock: Clock,
        store: StateStore,
        listeners: Iterable[TransitionListener] = (),
    ) -> CircuitBreaker:
        """A breaker for ``vendor`` on a (possibly shared) store."""
        return cls(vendor, settings, clock, store, list(listeners))

    @property
    def key(self) -> str:
        return f"kycmux:breaker:{self.vendor}"

    @property
    def state(self) -> BreakerState:
        return self._read()[1].state

    def add_listener(self, listener: TransitionListener) -> None:
        """Call ``listener(vendor, old_state, new_state, at)`` on every transition made here."""
        self._listeners.append(listener)

    def acquire(self) -> Permit | None:
        """A permit to call the vendor now, or ``None`` if the breaker refuses the call."""
        for _ in range(_CAS_TRIES):
            raw, record = self._read()
            now = self.clock.time()
            if record.state is BreakerState.CLOSED:
                return Permit(self, record.gen)
            if record.state is BreakerState.OPEN and now < (record.until or 0.0):
                return None
            probe_out = record.state is BreakerState.HALF_OPEN and record.probe is not None
            if probe_out and now < (record.until or 0.0):
                return None
            permit = self._claim_probe(raw, record, now)
            if permit is not None:
                return permit
        return None

    def refuses_now(self) -> bool:
        """Whether ``acquire`` would refuse a call now; reads only (claims no probe). Cheap
        when the breaker is closed, the usual case: a decision asks it before building."""
        raw = self.store.get(self.key)
        if raw is None or raw.get("state") == BreakerState.CLOSED.value:
            return False
        return self._wait(_Record.from_json(raw)) > 0

    def retry_after(self) -> float:
        """Seconds until ``acquire`` may give a permit; 0 when it would now.

        For a half-open breaker whose probe is out this is when the probe's lease runs out:
        an upper bound, as the probe usually settles much sooner.
        """
        return self._wait(self._read()[1])

    def _wait(self, record: _Record) -> float:
        if record.state is BreakerState.CLOSED:
            return 0.0
        if record.state is BreakerState.HALF_OPEN and record.probe is None:
            return 0.0
        return max((record.until or 0.0) - self.clock.time(), 0.0)

    def stats(self) -> BreakerStats:
        record = self._read()[1]
        calls, failures = (
            self._window(record.gen) if record.state is BreakerState.CLOSED else (0, 0)
        )
        return BreakerStats(self.vendor, record.state, calls, failures, self.retry_after())

    def reset(self) -> None:
        """Force the breaker closed with an empty window (an operator's override)."""
        for _ in range(_CAS_TRIES):
            raw, record = self._read()
            if self._swap(raw, record, BreakerState.CLOSED, self.clock.time()):
                return

    def _read(self) -> tuple[Any, _Record]:
        raw = self.store.get(self.key)
        return raw, _Record.from_json(raw)

    def _claim_probe(self, raw: Any, record: _Record, now: float) -> Permit | None:
        """Take the probe slot (OPEN and due, or HALF_OPEN with a free or lapsed slot)."""
        token = secrets.token_hex(8)
        gen = record.gen + 1 if record.state is BreakerState.OPEN else record.gen
        claimed = _Record(
            BreakerState.HALF_OPEN,
            gen,
            now if record.state is BreakerState.OPEN else record.at,
            until=now + self.settings.probe_lease,
            probe=token,
        )
        if not self.store.compare_and_set(self.key, raw, claimed.to_json()):
            return None
        if record.state is BreakerState.OPEN:
            self._notify(BreakerState.OPEN, BreakerState.HALF_OPEN, now)
        return Permit(self, gen, token)

    def _settle(self, gen: int, probe: str | None, outcome: Outcome) -> None:
        if probe is None:
            self._count(gen, outcome)
        else:
            self._finish_probe(gen, probe, outcome)

    def _count(self, gen: int, outcome: Outcome) -> None:
        if outcome is Outcome.NEUTRAL:
            return
        raw, record = self._read()
        if record.state is not BreakerState.CLOSED or record.gen != gen:
            return
        bucket = self._bucket(self.clock.time())
        ttl = self.settings.window + self.settings.bucket_width
        self.store.incr(self._bucket_key(gen, bucket, "calls"), 1, ttl)
        if outcome is Outcome.SUCCESS:
            return
        self.store.incr(self._bucket_key(gen, bucket, "failures"), 1, ttl)
        calls, failures = self._window(gen)
        if calls >= self.settings.min_calls and failures / calls >= self.settings.failure_ratio:
            self._swap(raw, record, BreakerState.OPEN, self.clock.time())

    def _finish_probe(self, gen: int, probe: str, outcome: Outcome) -> None:
        raw, record = self._read()
        if record.state is not BreakerState.HALF_OPEN or record.gen != gen or record.probe != probe:
            return  # the lease lapsed and someone else probes now
        new = BreakerState.OPEN if outcome is Outcome.FAILURE else BreakerState.CLOSED
        self._swap(raw, record, new, self.clock.time())

    def _release_probe(self, gen: int, probe: str) -> None:
        raw, record = self._read()
        if record.state is BreakerState.HALF_OPEN and record.gen == gen and record.probe == probe:
            freed = attrs.evolve(record, until=None, probe=None)
            self.store.compare_and_set(self.key, raw, freed.to_json())

    def _swap(self, raw: Any, record: _Record, new: BreakerState, now: float) -> bool:
        """Move to ``new`` with a fresh generation (so a fresh window) if nobody moved first."""
        until = now + self.settings.open_seconds if new is BreakerState.OPEN else None
        target = _Record(new, record.gen + 1, now, until=until)
        if not self.store.compare_and_set(self.key, raw, target.to_json()):
            return False
        if new is not record.state:
            self._notify(record.state, new, now)
        return True

    def _bucket(self, now: float) -> int:
        return math.floor(now / self.settings.bucket_width)

    def _bucket_key(self, gen: int, bucket: int, what: str) -> str:
        return f"{self.key}:{gen}:{bucket}:{what}"

    def _window(self, gen: int) -> tuple[int, int]:
        last = self._bucket(self.clock.time())
        calls = failures = 0
        for bucket in range(last - self.settings.buckets + 1, last + 1):
            calls += self.store.get(self._bucket_key(gen, bucket, "calls")) or 0
            failures += self.store.get(self._bucket_key(gen, bucket, "failures")) or 0
        return calls, failures

    def _notify(self, old: BreakerState, new: BreakerState, at: float) -> None:
        log.info("circuit breaker %s: %s -> %s", self.vendor, old.value, new.value)
        for listener in list(self._listeners):
            try:
                listener(self.vendor, old, new, at)
            except Exception:  # an observer must never break the breaker
                log.exception("circuit breaker listener failed for %s", self.vendor)
