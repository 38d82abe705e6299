"""Fault injection: what can go wrong on the wire, and when it is made to go wrong.

A ``Fault`` is one misbehaviour (a delay, a reset, a vendor error code...). It reaches a request
either through the ``X-Kycmux-Sim-Fault`` header of that one request, or through a window on
the simulator's ``FaultPlan`` (for a duration, a number of requests, some paths).
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs

__all__ = [
    "FAULT_HEADER",
    "HANG_LIMIT",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FaultSpecError",
    "Injection",
]

FAULT_HEADER = "x-kycmux-sim-fault"
HANG_LIMIT = 300.0


class FaultSpecError(ValueError):
    """A fault spec (``"latency=0.2"``) or injection window that cannot be understood."""


class FaultKind(enum.StrEnum):
    """The kinds of fault a simulator can serve.

    Attributes:
        LATENCY: Answer normally after ``seconds`` of delay.
        HANG: Never answer: hold the request until the client goes away, the server stops, or
            ``seconds`` (default 300 s) pass; then close the connection without a response.
        HTTP_5XX: An HTTP ``status`` (5xx) with a plain-text gateway error body.
        VENDOR_ERROR: The vendor's own internal-error answer (rendered by the simulator).
        RATE_LIMITED: The vendor's own rate-limit answer (rendered by the simulator).
        VENDOR_CODE: The vendor's answer carrying one documented error ``code`` or status.
        RESET: A TCP reset after the request was read: the client sees a connection reset.
        TRUNCATED: The normal answer's status and headers, then the body cut short.
        NON_JSON: HTTP 200 with an HTML error page instead of JSON.
    """

    LATENCY = "latency"
    HANG = "hang"
    HTTP_5XX = "http_5xx"
    VENDOR_ERROR = "vendor_error"
    RATE_LIMITED = "rate_limited"
    VENDOR_CODE = "vendor_code"
    RESET = "reset"
    TRUNCATED = "truncated"
    NON_JSON = "non_json"


def _finite_non_negative(_inst: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise FaultSpecError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


@attrs.frozen
class Fault:
    """One fault to serve.

    Attributes:
        kind: What goes wrong.
        seconds: The delay for ``LATENCY``; the longest hold for ``HANG`` (0 means 300 s).
        status: The HTTP status for ``HTTP_5XX`` (500-599).
        code: The vendor error code or status for ``VENDOR_CODE`` (``"-4009"``,
            ``"OUT_OF_QUOTA"``).
    """

    kind: FaultKind = attrs.field(converter=FaultKind)
    seconds: float = attrs.field(default=0.0, converter=float, validator=_finite_non_negative)
    status: int = 503
    code: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind is FaultKind.LATENCY and self.seconds <= 0:
            raise FaultSpecError("latency needs a delay in seconds > 0 (latency=0.2)")
        if self.kind is FaultKind.HTTP_5XX and not 500 <= self.status <= 599:
            raise FaultSpecError(f"http_5xx needs a status in 500-599, got {self.status}")
        if self.kind is FaultKind.VENDOR_CODE and not (self.code and self.code.strip()):
            raise FaultSpecError("vendor_code needs a code (vendor_code=-4009)")

    @property
    def hang_limit(self) -> float:
        """How long a ``HANG`` holds the request at most."""
        return self.seconds if self.seconds > 0 else HANG_LIMIT

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Read a fault spec: ``kind`` or ``kind=value``.

        ``latency=<seconds>``, ``hang`` or ``hang=<seconds>``, ``http_5xx`` or
        ``http_5xx=<status>``, ``vendor_code=<code>``, and the bare kinds ``vendor_error``,
        ``rate_limited``, ``reset``, ``truncated``, ``non_json``. Kinds are case-insensitive
        and ``-`` may stand for ``_``.
        """
        name, has_value, value = spec.strip().partition("=")
        name, value = name.strip().lower().replace("-", "_"), value.strip()
        try:
            kind = FaultKind(name)
        except ValueError:
            known = ", ".join(k.value for k in FaultKind)
            raise FaultSpecError(f"unknown fault kind {name!r} (known: {known})") from None
        if has_value and not value:
            raise FaultSpecError(f"fault {spec.strip()!r}: empty value after '='")
        return cls._from_parts(kind, value if has_value else None)

    @classmethod
    def _from_parts(cls, kind: FaultKind, value: str | None) -> Fault:
        if kind is FaultKind.VENDOR_CODE:
            return cls(kind, code=value)
        if value is None:
            return cls(kind)
        if kind in (FaultKind.LATENCY, FaultKind.HANG):
            return cls(kind, seconds=_number(kind, value, float))
        if kind is FaultKind.HTTP_5XX:
            return cls(kind, status=_number(kind, value, int))
        raise FaultSpecError(f"fault {kind.value} takes no value")

    def spec(self) -> str:
        """The spec string that ``parse`` reads back into this fault."""
        if self.kind is FaultKind.VENDOR_CODE:
            return f"{self.kind.value}={self.code}"
        if self.kind is FaultKind.LATENCY or (self.kind is FaultKind.HANG and self.seconds):
            return f"{self.kind.value}={self.seconds:g}"
        if self.kind is FaultKind.HTTP_5XX:
            return f"{self.kind.value}={self.status}"
        return self.kind.value

    def __str__(self) -> str:
        return self.spec()


def _number(kind: FaultKind, text: str, kind_of: Callable[[str], Any]) -> Any:
    try:
        return kind_of(text)
    except ValueError:
        raise FaultSpecError(f"fault {kind.value}: {text!r} is not a number") from None


def _paths(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(value)


@attrs.frozen
class Injection:
    """A fault window on a simulator, as it stood when looked at.

    Attributes:
        id: The window's id (to remove it).
        fault: The fault it serves.
        paths: The request paths it applies to; ``None`` for every path.
        expires_at: Monotonic-clock time it ends, or ``None`` for no time limit.
        remaining: Requests it will still serve, or ``None`` for no count limit.
    """

    id: int
    fault: Fault
    paths: frozenset[str] | None = None
    expires_at: float | None = None
    remaining: int | None = None

    def applies_to(self, path: str) -> bool:
        return self.paths is None or path in self.paths

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "fault": self.fault.spec(),
            "paths": sorted(self.paths) if self.paths is not None else None,
            "expires_in": None if self.expires_at is None else max(0.0, self.expires_at - now),
            "remaining": self.remaining,
        }


@attrs.define
class FaultPlan:
    """The fault windows of one simulator. Thread-safe: tests inject from their own thread
    while the server thread draws faults for requests.

    A request gets the fault of the earliest-injected live window whose paths match it; that
    window's count (if any) goes down by one. Windows end when their count is used up or their
    duration (measured on ``clock``) has passed, whichever comes first.
    """

    _clock: Callable[[], float] = attrs.field(default=time.monotonic, alias="clock")
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _windows: list[Injection] = attrs.field(init=False, factory=list)
    _next_id: int = attrs.field(init=False, default=1)

    def inject(
        self,
        fault: Fault | str,
        *,
        duration: float | None = None,
        count: int | None = None,
        paths: Iterable[str] | None = None,
    ) -> Injection:
        """Serve ``fault`` (a ``Fault`` or a spec string) until the window ends.

        :param duration: Seconds the window lasts; ``None`` for no time limit.
        :param count: Requests it serves; ``None`` for no count limit.
        :param paths: Request paths it applies to (``{"/face/livedetectfour"}``); ``None``
            for all.
        """
        fault = Fault.parse(fault) if isinstance(fault, str) else fault
        if duration is not None and not (math.isfinite(duration) and duration > 0):
            raise FaultSpecError(f"duration must be a number of seconds > 0, got {duration!r}")
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            raise FaultSpecError(f"count must be an integer >= 1, got {count!r}")
        with self._lock:
            expires = None if duration is None else self._clock() + duration
            window = Injection(self._next_id, fault, _paths(paths), expires, count)
            self._next_id += 1
            self._windows.append(window)
        return window

    def clear(self) -> int:
        """End every window; returns how many were live."""
        with self._lock:
            live = len(self._live(self._clock()))
            self._windows.clear()
        return live

    def remove(self, window: Injection | int) -> bool:
        """End one window; returns whether it was still there."""
        wanted = window.id if isinstance(window, Injection) else window
        with self._lock:
            before = len(self._windows)
            self._windows = [w for w in self._windows if w.id != wanted]
            return len(self._windows) != before

    def active(self) -> tuple[Injection, ...]:
        """The live windows, oldest first."""
        with self._lock:
            return tuple(self._live(self._clock()))

    def now(self) -> float:
        return self._clock()

    def take(self, path: str) -> Fault | None:
        """The fault a request to ``path`` gets now (counting it against its window)."""
        with self._lock:
            windows = self._live(self._clock())
            for index, window in enumerate(windows):
                if not window.applies_to(path):
                    continue
                if window.remaining is not None:
                    left = window.remaining - 1
                    if left:
                        windows[index] = attrs.evolve(window, remaining=left)
                    else:
                        del windows[index]
                return window.fault
            return None

    def _live(self, now: float) -> list[Injection]:
        """Drop ended windows (caller holds the lock) and return the list of live ones."""
        self._windows = [w for w in self._windows if w.expires_at is None or now < w.expires_at]
        return self._windows
