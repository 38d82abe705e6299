"""``SharedState`` in Redis: lockout, breakers, rate limits and retry budgets for replicas.

Every replica that uses the same server and namespace shares one lockout count per subject,
one breaker, one token bucket and one retry budget per vendor. Each contract method is one
Lua script (``_lua``) run with ``EVALSHA`` (``EVAL`` once when the server does not know the
script yet: after a start, a restart or ``SCRIPT FLUSH``), so it is atomic in Redis and costs
one round trip; ``unlock`` is a single ``DEL``. A method with nothing to write (settling a
permit twice, a neutral outcome outside half-open) sends nothing.

Time comes from ``clock.time()`` (wall-clock seconds) as a script argument, never from Redis,
so replicas must keep their clocks in step and tests can drive a fake clock. The semantics are
``MemoryState``'s; the scripts port its primitives with the same float arithmetic. Unlike
``MemoryState``, which builds a vendor's primitives from the settings of its first call,
every call here applies the settings it is given.

Where ``MemoryState`` leaves a choice open, this one does as it does: a refusal for want of a
rate token keeps no token and makes no deposit, and a half-open probe slot claimed in the same
step is handed back at once (the breaker reads HALF_OPEN with its slot free); ``release``
refunds a reserved token. Lockout counts and locks expire in Redis after their configured
length, as ``SubjectLockout``'s do in its store, and are also checked against the stored time.
A vendor's bucket and budget untouched for a day are dropped (a full bucket, an empty budget).

Target: a single Redis server, or a primary with replicas (Sentinel). Redis Cluster is not
supported: the scripts derive some key names (window buckets) instead of declaring them,
although every key of one vendor or one subject shares one hash tag.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from kycmux._config._config import VendorResilience
from kycmux._model._secret import Secret, reveal
from kycmux._resilience._breaker import (
    BreakerState,
    BreakerStats,
    Outcome,
    TransitionListener,
)
from kycmux._resilience._clock import Clock, SystemClock
from kycmux._resilience._lockout import Lock, LockoutSettings, LockReason
from kycmux._resilience._ratelimit import RateLimitSettings
from kycmux._resilience._retry import RetryBudget
from kycmux._state import _lua
from kycmux._state._contract import Admission, Refusal, SubjectEvent, SubjectStatus
from kycmux._state._pipe import Pipe
from kycmux.exceptions import StateUnavailableError

__all__ = ["RedisState"]

log = logging.getLogger("kycmux.state")

_T = TypeVar("_T")
_SCHEMES = frozenset({"redis", "rediss", "unix"})
# RetryBudget's own cap (the settings do not carry one).
_BUDGET_CAP = attrs.fields(RetryBudget).cap.default


@attrs.frozen
class _Script:
    name: str
    source: str
    sha: str = attrs.field(init=False)

    @sha.default
    def _sha(self) -> str:
        return hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()


_SUBJECT = _Script("subject", _lua.SUBJECT)
_COUNT = _Script("count", _lua.COUNT)
_ADMIT = _Script("admit", _lua.ADMIT)
_SETTLE = _Script("settle", _lua.SETTLE)
_RELEASE = _Script("release", _lua.RELEASE)
_PAUSE = _Script("pause", _lua.PAUSE)
_RETRY = _Script("retry", _lua.RETRY)
_STATS = _Script("breaker_stats", _lua.BREAKER_STATS)
_RESET = _Script("reset_breaker", _lua.RESET_BREAKER)


@attrs.define(eq=False)
class _Ticket:
    """The breaker permit an admission carries (the probe token when it is the probe)."""

    gen: int
    probe: str | None
    token: bool
    settled: bool = False


def _word(value: object) -> str:
    """An argument as the scripts read it: numbers exact (``repr``), ``inf``/``nan`` spelled."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a script argument: a {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _check_namespace(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ValueError("namespace must be a non-empty string without spaces")


def _check_timeout(_inst: object, _attr: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError("timeout must be a positive number of seconds")


@attrs.define(eq=False, repr=False)
class RedisState:
    """Lockout counts, breakers, rate tokens and retry budgets kept in Redis.

    ``RedisState(client)`` uses a ``redis.asyncio.Redis`` client the caller already has (and
    keeps: ``aclose`` leaves it open); ``RedisState.from_url(url)`` makes its own pipelined
    connection, with no retries (the engine decides what a failure means).

    Whatever goes wrong talking to Redis (refused, reset, timed out, loading, an error
    reply) raises ``StateUnavailableError(operation, "<exception type>")``, never the
    server's words or address. Each call is bounded by ``timeout`` seconds in all.

    Attributes:
        client: The connection every call shares: a ``Pipe``, or a redis-py asyncio client.
        namespace: The prefix of every key; deployments sharing a server must differ.
        clock: The clock every script is given the time by (wall-clock ``time()``).
        timeout: Seconds one call may take in all, connecting included.
    """

    client: aioredis.Redis | Pipe
    namespace: str = attrs.field(default="kycmux", kw_only=True, validator=_check_namespace)
    clock: Clock = attrs.field(factory=SystemClock, kw_only=True)
    timeout: float = attrs.field(
        default=0.5, kw_only=True, converter=float, validator=_check_timeout
    )
    _owns_client: bool = attrs.field(init=False, default=False)
    _listeners: list[TransitionListener] = attrs.field(init=False, factory=list)
    _round_trips: int = attrs.field(init=False, default=0)
    _forgetting: set[asyncio.Future[Any]] = attrs.field(init=False, factory=set)

    @classmethod
    def from_url(
        cls,
        url: str | Secret,
        *,
        namespace: str = "kycmux",
        clock: Clock | None = None,
        timeout: float = 0.5,
    ) -> RedisState:
        """A store on its own connection for ``url`` (``redis://``, TLS ``rediss://``,
        ``unix://``): one pipelined connection (``_pipe.Pipe``), the least CPU per call.

        :param url: The server's URL; it may carry a password (give a ``Secret`` then).
        :param namespace: The prefix of every key.
        :param clock: The clock (default: the system's).
        :param timeout: Seconds one call may take in all; also the connect timeout.
        """
        raw = reveal(url)
        try:
            scheme = urlsplit(raw).scheme
        except ValueError:
            scheme = ""
        if scheme not in _SCHEMES:
            raise ValueError("the state URL must start with redis://, rediss:// or unix://")
        try:
            client = Pipe.from_url(raw, timeout=timeout)
        except ValueError:
            # The messages of URL parsing may quote parts of the URL, its password among them.
            raise ValueError("the state URL cannot be parsed") from None
        state = cls(client, namespace=namespace, clock=clock or SystemClock(), timeout=timeout)
        state._owns_client = True
        return state

    def __repr__(self) -> str:
        return f"RedisState(namespace={self.namespace!r})"

    @property
    def shared(self) -> bool:
        return True

    @property
    def round_trips(self) -> int:
        """Commands this store sent to Redis: one per call, two when the server had to be
        given a script's source, none for a call with nothing to write (the connection's own
        handshake is not counted)."""
        return self._round_trips

    def on_transition(self, listener: TransitionListener) -> None:
        self._listeners.append(listener)

    # subjects ---------------------------------------------------------------------------

    async def subject(self, subject: str) -> SubjectStatus:
        now = self.clock.time()
        until, reason, counted = await self._run(_SUBJECT, self._subject_keys(subject), now)
        lock = None
        if _text(until):
            left = float(_text(until)) - now
            lock = Lock(left, LockReason(_text(reason))) if left > 0 else None
        return SubjectStatus(lock, bool(int(counted)))

    async def count(
        self, subject: str, event: SubjectEvent, settings: LockoutSettings
    ) -> Lock | None:
        event = SubjectEvent(event)
        now = self.clock.time()
        keys = self._subject_keys(subject)
        limits = (settings.limit, settings.capture_limit, settings.cooldown, settings.memory)
        reply = await self._run(_COUNT, keys, now, event.value, *limits)
        if not reply:
            return None
        until, reason = reply
        return Lock(float(_text(until)) - now, LockReason(_text(reason)))

    async def unlock(self, subject: str) -> None:
        keys = self._subject_keys(subject)

        async def delete() -> Any:
            self._round_trips += 1
            return await self.client.execute_command("DEL", *keys)

        await self._call("unlock", delete)

    # vendors ----------------------------------------------------------------------------

    async def admit(
        self, vendor: str, settings: VendorResilience, *, first: bool, max_wait: float
    ) -> Admission:
        now = self.clock.time()
        token = secrets.token_hex(8)
        rate = settings.rate_limit
        budget = settings.retry_budget
        keys = self._keys(vendor, "breaker", "rate", "budget")
        try:
            refusal, value, gen, probe, old, new = await self._run(
                _ADMIT,
                keys,
                now,
                token,
                settings.breaker.probe_lease,
                *_bucket(rate),
                max_wait,
                1 if first else 0,
                budget.ratio,
                _BUDGET_CAP,
                _floor_cap(budget.min_per_second),
            )
        except BaseException:
            # The script may have run with nobody left to hear it: a probe slot it took would
            # be held for probe_lease across every replica. Free it by its token (sent after
            # the admit on the same connection, so Redis runs them in that order).
            self._forget(vendor, token, settings)
            raise
        self._transition(vendor, old, new, now)
        if _text(refusal):
            return Admission.refused(Refusal(_text(refusal)), float(_text(value)))
        ticket = _Ticket(int(_text(gen)), token if int(probe) else None, rate.rate is not None)
        return Admission(wait=float(_text(value)), ticket=ticket)

    def _forget(self, vendor: str, token: str, settings: VendorResilience) -> None:
        keys = self._keys(vendor, "breaker", "rate")
        args = (self.clock.time(), "", token, 0, *_bucket(settings.rate_limit))
        task = asyncio.ensure_future(self._run(_RELEASE, keys, *args))
        self._forgetting.add(task)
        task.add_done_callback(_forgotten(self._forgetting))

    async def settle(
        self, vendor: str, settings: VendorResilience, admission: Admission, outcome: Outcome
    ) -> None:
        ticket = _ticket(admission)
        outcome = Outcome(outcome)
        if ticket.settled:
            return
        ticket.settled = True
        if ticket.probe is None and outcome is Outcome.NEUTRAL:
            return  # never counted: nothing to write
        now = self.clock.time()
        b = settings.breaker
        thresholds = (b.window, b.buckets, b.min_calls, b.failure_ratio, b.open_seconds)
        keys = self._keys(vendor, "breaker", "w")
        reply = await self._run(
            _SETTLE, keys, now, ticket.gen, ticket.probe or "", outcome.value, *thresholds
        )
        if reply:
            self._transition(vendor, reply[0], reply[1], now)

    async def release(self, vendor: str, settings: VendorResilience, admission: Admission) -> None:
        ticket = _ticket(admission)
        if ticket.settled:
            return
        ticket.settled = True
        rate = settings.rate_limit.rate
        refund = ticket.token and rate is not None
        if ticket.probe is None and not refund:
            return
        keys = self._keys(vendor, "breaker", "rate")
        now = self.clock.time()
        bucket = _bucket(settings.rate_limit)
        await self._run(_RELEASE, keys, now, ticket.gen, ticket.probe or "", int(refund), *bucket)

    async def retry(self, vendor: str, settings: VendorResilience) -> bool:
        budget = settings.retry_budget
        per_second = budget.min_per_second
        keys = self._keys(vendor, "budget")
        ok = await self._run(_RETRY, keys, self.clock.time(), per_second, _floor_cap(per_second))
        return bool(int(ok))

    async def pause(self, vendor: str, settings: VendorResilience, seconds: float | None) -> None:
        rate = settings.rate_limit
        if seconds is None or not (math.isfinite(seconds) and seconds >= 0):
            seconds = rate.pause_on_limit
        await self._run(
            _PAUSE, self._keys(vendor, "rate"), self.clock.time(), seconds, *_bucket(rate)
        )

    async def breaker_stats(self, vendor: str, settings: VendorResilience) -> BreakerStats:
        keys = self._keys(vendor, "breaker", "w")
        window = (settings.breaker.window, settings.breaker.buckets)
        state, calls, failures, retry_after = await self._run(
            _STATS, keys, self.clock.time(), *window
        )
        return BreakerStats(
            vendor,
            BreakerState(_text(state)),
            int(calls),
            int(failures),
            float(_text(retry_after)),
        )

    async def reset_breaker(self, vendor: str, settings: VendorResilience) -> None:
        now = self.clock.time()
        reply = await self._run(_RESET, self._keys(vendor, "breaker"), now)
        if reply:
            self._transition(vendor, reply[0], reply[1], now)

    async def aclose(self) -> None:
        """Close the client if this store made it (``from_url``); a caller's stays open."""
        if self._forgetting:  # probe releases still on their way: a moment for them
            await asyncio.wait(self._forgetting, timeout=self.timeout)
        if self._owns_client:
            await self.client.aclose()

    # plumbing ---------------------------------------------------------------------------

    def _keys(self, vendor: str, *whats: str) -> list[str]:
        return [f"{self.namespace}:v:{{{vendor}}}:{what}" for what in whats]

    def _subject_keys(self, subject: str) -> list[str]:
        if not subject:
            raise ValueError("subject id must not be empty")
        base = f"{self.namespace}:s:{{{subject}}}"
        return [f"{base}:lock", f"{base}:count", f"{base}:captures"]

    async def _run(self, script: _Script, keys: Sequence[str], *args: object) -> Any:
        """Run ``script`` by its hash; send its source once if the server lacks it."""
        words = [*keys, *(_word(arg) for arg in args)]

        async def run() -> Any:
            self._round_trips += 1
            try:
                return await self.client.execute_command("EVALSHA", script.sha, len(keys), *words)
            except NoScriptError:
                self._round_trips += 1
                return await self.client.execute_command("EVAL", script.source, len(keys), *words)

        return await self._call(script.name, run)

    async def _call(self, operation: str, send: Callable[[], Awaitable[_T]]) -> _T:
        """``send()`` within ``timeout``; any failure becomes ``StateUnavailableError``."""
        why: str
        try:
            async with asyncio.timeout(self.timeout):
                return await send()
        except (RedisError, OSError) as exc:  # TimeoutError (ours, the socket's) is an OSError
            why = type(exc).__name__
        # Raised here, outside the handler, so that neither the cause nor the context (the
        # server's message, its address) travels with it.
        log.debug("state store %s failed: %s", operation, why)
        raise StateUnavailableError(operation, why)

    def _transition(self, vendor: str, old: Any, new: Any, at: float) -> None:
        old, new = _text(old), _text(new)
        if not old or old == new:
            return
        before, after = BreakerState(old), BreakerState(new)
        log.info("circuit breaker %s: %s -> %s", vendor, before.value, after.value)
        for listener in list(self._listeners):
            try:
                listener(vendor, before, after, at)
            except Exception:  # an observer must never break the breaker
                log.exception("circuit breaker listener failed for %s", vendor)


def _bucket(settings: RateLimitSettings) -> tuple[object, object]:
    """The token bucket as scripts take it: rate ('' for none), burst."""
    return ("" if settings.rate is None else settings.rate, settings.burst)


def _forgotten(pending: set[asyncio.Future[Any]]) -> Callable[[asyncio.Future[Any]], None]:
    def done(task: asyncio.Future[Any]) -> None:
        pending.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failed release is the lease's to end, not an error

    return done


def _floor_cap(per_second: float) -> float:
    """``RetryBudget``'s floor allowance: up to ``max(1, min_per_second)`` (0: none)."""
    return max(1.0, per_second) if per_second > 0 else 0.0


def _ticket(admission: Admission) -> _Ticket:
    if not isinstance(admission.ticket, _Ticket):
        raise ValueError("this admission was not given by this store")
    return admission.ticket
