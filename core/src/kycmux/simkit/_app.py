"""``SimulatorApp``: the ASGI base class every vendor simulator builds on.

A subclass declares its routes and renders its vendor's own error answers; the base reads
bodies under a size cap, dispatches, injects faults, serves the ``/__kycmux__/`` control
endpoints and counts what it served.
"""

from __future__ import annotations

import contextvars
import functools
import http
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from kycmux._model._secret import Secret
from kycmux.simkit._exchange import Exchange, Receive, Scope, Send
from kycmux.simkit._faults import (
    FAULT_HEADER,
    Fault,
    FaultKind,
    FaultPlan,
    FaultSpecError,
    Injection,
)
from kycmux.simkit._form import MalformedRequest
from kycmux.simkit._http import SimRequest, SimResponse

__all__ = ["CONTROL_PREFIX", "Handler", "SimStats", "SimulatorApp", "current_fault"]

CONTROL_PREFIX = "/__kycmux__/"
_CONTROL_BODY_LIMIT = 64 * 1024

Handler = Callable[[SimRequest], SimResponse | Awaitable[SimResponse]]
Route = tuple[str, str]

log = logging.getLogger("kycmux.simkit")

_CURRENT_FAULT: contextvars.ContextVar[Fault | None] = contextvars.ContextVar(
    "kycmux_simkit_fault", default=None
)

_HTML_ERROR = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body>"
    "</html>\n"
)


def current_fault() -> Fault | None:
    """The fault being rendered, inside ``render_fault`` (its ``code``, ``status``...)."""
    return _CURRENT_FAULT.get()


@attrs.define
class SimStats:
    """What a simulator served: requests per path and faults per kind. Thread-safe."""

    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _requests: dict[str, int] = attrs.field(init=False, factory=dict)
    _faults: dict[str, int] = attrs.field(init=False, factory=dict)

    def record_request(self, path: str) -> None:
        with self._lock:
            self._requests[path] = self._requests.get(path, 0) + 1

    def record_fault(self, kind: FaultKind) -> None:
        with self._lock:
            self._faults[kind.value] = self._faults.get(kind.value, 0) + 1

    @property
    def requests(self) -> dict[str, int]:
        """Requests received per path (control endpoints not counted)."""
        with self._lock:
            return dict(self._requests)

    @property
    def faults(self) -> dict[str, int]:
        """Faults served per kind (``FaultKind`` values)."""
        with self._lock:
            return dict(self._faults)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._requests.values())

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "faults": dict(self._faults),
                "total": sum(self._requests.values()),
            }


@attrs.define
class _AppState:
    faults: FaultPlan
    stats: SimStats = attrs.field(factory=SimStats)
    routes: dict[Route, Handler] = attrs.field(factory=dict)
    resolved: bool = False


_STATE_LOCK = threading.Lock()


class SimulatorApp:
    """Base class of a vendor simulator: an ASGI application (the ``Simulator`` protocol).

    Subclasses override ``routes()`` (or call ``add_route``) with handlers taking a
    ``SimRequest`` and returning a ``SimResponse`` (sync or async), and the hooks for their
    vendor's answers: ``not_found_response``, ``too_large_response``, ``render_fault``,
    ``malformed_response``, and ``client_settings``. A subclass need not call
    ``__init__``: the state is created on first use (attrs subclasses work as they are).

    Attributes:
        max_body: Largest request body read, in bytes; a bigger one gets
            ``too_large_response()``. Override as a class attribute or pass to ``__init__``.
        accept_unissued_challenges: A simulator of a vendor that issues challenges takes
            challenge values it never issued (an account still on the old flow), for the
            vendor's caller-supplied opt-in (``ChallengeSpec.opt_in``): offline comparisons
            of recorded captures, migrations. Values it did issue keep their rules.
    """

    max_body: int = 8 * 1024 * 1024
    accept_unissued_challenges: bool = False
    _simkit_state: _AppState

    def __init__(
        self, *, max_body: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_body is not None:
            self.max_body = max_body
        object.__setattr__(self, "_simkit_state", _AppState(FaultPlan(clock=clock)))

    # -- what subclasses provide --------------------------------------------------------------

    def routes(self) -> Mapping[Route, Handler]:
        """The vendor's endpoints: ``{("POST", "/face/livedetectfour"): self.livedetectfour}``."""
        return {}

    def client_settings(self) -> Mapping[str, str | Secret]:
        """Values for the vendor's config fields that this simulator accepts."""
        return {}

    def not_found_response(self) -> SimResponse:
        """The answer for a path the vendor does not serve."""
        return SimResponse.json(404, {"error": "not found"})

    def method_not_allowed_response(self) -> SimResponse:
        """The answer for a known path with another method (default: as not found)."""
        return self.not_found_response()

    def too_large_response(self) -> SimResponse:
        """The answer for a body over ``max_body``."""
        return SimResponse.json(413, {"error": "request body too large"})

    def malformed_response(self, error: MalformedRequest) -> SimResponse:
        """The answer when a handler raises ``MalformedRequest`` (an unreadable form)."""
        return SimResponse.json(400, {"error": error.reason.value})

    def internal_error_response(self) -> SimResponse:
        """The answer when a handler fails unexpectedly (the error is logged)."""
        return SimResponse.json(500, {"error": "internal error"})

    def render_fault(self, kind: FaultKind) -> SimResponse:
        """The vendor's own answer for ``VENDOR_ERROR``, ``RATE_LIMITED`` and ``VENDOR_CODE``.

        ``current_fault()`` gives the whole fault (``code`` for ``VENDOR_CODE``). An override
        that declares a ``code`` or ``fault`` parameter gets it passed directly. The defaults
        here are generic JSON answers.
        """
        fault = current_fault()
        if kind is FaultKind.RATE_LIMITED:
            return SimResponse.json(429, {"error": "rate limited"})
        if kind is FaultKind.VENDOR_CODE and fault is not None:
            return SimResponse.json(400, {"error": fault.code})
        return SimResponse.json(500, {"error": "vendor error"})

    # -- state --------------------------------------------------------------------------------

    @property
    def faults(self) -> FaultPlan:
        """Fault windows: ``app.faults.inject(Fault.parse("reset"), count=1)``."""
        return self._state().faults

    @property
    def stats(self) -> SimStats:
        return self._state().stats

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``method path`` with ``handler`` (besides what ``routes()`` declares)."""
        state = self._state()
        with _STATE_LOCK:
            state.routes[(method.upper(), path)] = handler

    def _state(self) -> _AppState:
        state: _AppState | None = getattr(self, "_simkit_state", None)
        if state is None:
            with _STATE_LOCK:
                state = getattr(self, "_simkit_state", None)
                if state is None:
                    state = _AppState(FaultPlan())
                    object.__setattr__(self, "_simkit_state", state)
        return state

    def _route_table(self) -> dict[Route, Handler]:
        state = self._state()
        if not state.resolved:
            with _STATE_LOCK:
                if not state.resolved:
                    declared = {(m.upper(), p): h for (m, p), h in self.routes().items()}
                    state.routes = {**declared, **state.routes}
                    state.resolved = True
        return state.routes

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        exchange = Exchange(scope, receive, send)
        if exchange.path.startswith(CONTROL_PREFIX):
            await self._control(exchange)
            return
        await self._serve(exchange)

    async def _serve(self, exchange: Exchange) -> None:
        self.stats.record_request(exchange.path)
        headers = exchange.headers()
        body = None
        if _declared_length(headers) <= self.max_body:
            body = await exchange.read_body(self.max_body)
        if body is None:
            await exchange.respond(self.too_large_response())
            return
        if exchange.disconnected:
            return
        scope = exchange.scope
        request = SimRequest.from_parts(
            exchange.method,
            exchange.path,
            headers=headers,
            body=body,
            query_string=bytes(scope.get("query_string", b"")),
        )
        try:
            fault = self._fault_for(request)
        except FaultSpecError as exc:
            await exchange.respond(SimResponse.text(400, f"{FAULT_HEADER}: {exc}\n"))
            return
        if fault is None or not await self._apply_fault(fault, request, exchange):
            await exchange.respond(await self._dispatch(request))

    def _fault_for(self, request: SimRequest) -> Fault | None:
        spec = request.header(FAULT_HEADER)
        if spec is not None:
            return Fault.parse(spec)
        return self.faults.take(request.path)

    async def _apply_fault(self, fault: Fault, request: SimRequest, exchange: Exchange) -> bool:
        """Serve ``fault``; returns False when the request is then answered normally."""
        self.stats.record_fault(fault.kind)
        log.debug("serving fault %s on %s %s", fault.spec(), request.method, request.path)
        kind = fault.kind
        if kind is FaultKind.LATENCY:
            await exchange.pause(fault.seconds)
            return False
        if kind is FaultKind.HANG:
            await exchange.hold(fault.hang_limit)
            await exchange.drop()
        elif kind is FaultKind.RESET:
            await exchange.reset()
        elif kind is FaultKind.TRUNCATED:
            await exchange.respond_truncated(await self._dispatch(request))
        elif kind is FaultKind.HTTP_5XX:
            phrase = _phrase(fault.status)
            await exchange.respond(SimResponse.text(fault.status, f"{fault.status} {phrase}\n"))
        elif kind is FaultKind.NON_JSON:
            html = "text/html; charset=utf-8"
            await exchange.respond(SimResponse.text(200, _HTML_ERROR, content_type=html))
        else:
            await exchange.respond(await self._render(fault))
        return True

    async def _render(self, fault: Fault) -> SimResponse:
        token = _CURRENT_FAULT.set(fault)
        try:
            wanted = _render_parameters(type(self).render_fault)
            extra = {k: v for k, v in (("code", fault.code), ("fault", fault)) if k in wanted}
            return await _resolve(self.render_fault(fault.kind, **extra))
        finally:
            _CURRENT_FAULT.reset(token)

    async def _dispatch(self, request: SimRequest) -> SimResponse:
        table = self._route_table()
        handler = table.get((request.method, request.path))
        if handler is None:
            if any(path == request.path for _, path in table):
                return self.method_not_allowed_response()
            return self.not_found_response()
        try:
            return await _resolve(handler(request))
        except MalformedRequest as exc:
            return self.malformed_response(exc)
        except Exception:
            log.exception("simulator %s failed on %s", type(self).__name__, request.path)
            return self.internal_error_response()

    # -- control endpoints ---------------------------------------------------------------------

    async def _control(self, exchange: Exchange) -> None:
        body = await exchange.read_body(_CONTROL_BODY_LIMIT)
        if body is None:
            await exchange.respond(SimResponse.json(413, {"error": "control body too large"}))
            return
        request = SimRequest.from_parts(
            exchange.method, exchange.path, headers=exchange.headers(), body=body
        )
        await exchange.respond(self._control_response(request))

    def _control_response(self, request: SimRequest) -> SimResponse:
        name = request.path[len(CONTROL_PREFIX) :].strip("/")
        method = request.method
        if name == "health" and method == "GET":
            return SimResponse.json(200, {"status": "ok", "simulator": type(self).__name__})
        if name == "stats" and method in ("GET", "DELETE"):
            if method == "DELETE":
                self.stats.reset()
            return SimResponse.json(200, self.stats.as_dict())
        if name == "faults":
            return self._control_faults(request)
        if name.startswith("faults/") and method == "DELETE":
            removed = name.removeprefix("faults/").isdigit() and self.faults.remove(
                int(name.removeprefix("faults/"))
            )
            return SimResponse.json(200 if removed else 404, {"removed": bool(removed)})
        known = ("health", "stats", "faults")
        status = 405 if name in known else 404
        return SimResponse.json(status, {"error": f"no control endpoint {method} {name}"})

    def _control_faults(self, request: SimRequest) -> SimResponse:
        plan = self.faults
        if request.method == "GET":
            now = plan.now()
            return SimResponse.json(200, {"faults": [w.to_json(now) for w in plan.active()]})
        if request.method == "DELETE":
            return SimResponse.json(200, {"cleared": plan.clear()})
        if request.method != "POST":
            return SimResponse.json(405, {"error": f"no control endpoint {request.method} faults"})
        try:
            window = _inject_from_json(plan, request.json())
        except (MalformedRequest, FaultSpecError, TypeError) as exc:
            return SimResponse.json(400, {"error": str(exc)})
        return SimResponse.json(200, {"injected": window.to_json(plan.now())})


def _inject_from_json(plan: FaultPlan, payload: Any) -> Injection:
    if not isinstance(payload, dict) or not isinstance(payload.get("fault"), str):
        raise FaultSpecError('expected a JSON object {"fault": "<spec>", ...}')
    unknown = set(payload) - {"fault", "duration", "count", "paths"}
    if unknown:
        raise FaultSpecError(f"unknown keys {sorted(unknown)}")
    duration, count, paths = payload.get("duration"), payload.get("count"), payload.get("paths")
    if isinstance(duration, bool) or not isinstance(duration, int | float | None):
        raise FaultSpecError("duration must be a number of seconds or null")
    if isinstance(count, bool) or not isinstance(count, int | None):
        raise FaultSpecError("count must be an integer or null")
    if paths is not None and not (
        isinstance(paths, list) and all(isinstance(p, str) for p in paths)
    ):
        raise FaultSpecError("paths must be a list of paths or null")
    return plan.inject(payload["fault"], duration=duration, count=count, paths=paths)


@functools.cache
def _render_parameters(method: Callable[..., Any]) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(method).parameters)
    except (TypeError, ValueError):
        return frozenset()


async def _resolve(value: SimResponse | Awaitable[SimResponse]) -> SimResponse:
    result = await value if inspect.isawaitable(value) else value
    if not isinstance(result, SimResponse):
        raise TypeError(f"a simulator handler returned {type(result).__name__}, not SimResponse")
    return result


def _declared_length(headers: Mapping[str, str]) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Server Error"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
