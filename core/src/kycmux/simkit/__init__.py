"""Toolkit for local vendor simulators: serving, request parsing, fault injection, limits.

A simulator is an ASGI application that also says which client settings it accepts (the
``Simulator`` protocol). Most are built on ``SimulatorApp``: declare routes taking a
``SimRequest`` and returning a ``SimResponse``, render the vendor's own error answers, and get
body size caps, fault injection (``X-Kycmux-Sim-Fault`` header, ``app.faults`` windows,
``/__kycmux__/`` control endpoints) and request statistics for free. ``serve`` runs one on
loopback in a daemon thread. See ``docs/simulators.md``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Protocol, runtime_checkable

from kycmux._model._secret import Secret
from kycmux.simkit._app import CONTROL_PREFIX, Handler, SimStats, SimulatorApp, current_fault
from kycmux.simkit._exchange import STOPPING_KEY, TRANSPORT_KEY
from kycmux.simkit._faults import (
    FAULT_HEADER,
    HANG_LIMIT,
    Fault,
    FaultKind,
    FaultPlan,
    FaultSpecError,
    Injection,
)
from kycmux.simkit._form import (
    FormData,
    MalformedReason,
    MalformedRequest,
    UploadedFile,
    parse_multipart,
    parse_query,
    parse_urlencoded,
)
from kycmux.simkit._http import SimRequest, SimResponse
from kycmux.simkit._limits import Quota, TokenBucket
from kycmux.simkit._sandbox import Sandbox, run_sandbox
from kycmux.simkit._serve import RunningSimulator, serve, serve_many

__all__ = [
    "CONTROL_PREFIX",
    "FAULT_HEADER",
    "HANG_LIMIT",
    "STOPPING_KEY",
    "TRANSPORT_KEY",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FaultSpecError",
    "FormData",
    "Handler",
    "Injection",
    "MalformedReason",
    "MalformedRequest",
    "Quota",
    "RunningSimulator",
    "Sandbox",
    "SimRequest",
    "SimResponse",
    "SimStats",
    "Simulator",
    "SimulatorApp",
    "TokenBucket",
    "UploadedFile",
    "current_fault",
    "parse_multipart",
    "parse_query",
    "parse_urlencoded",
    "run_sandbox",
    "serve",
    "serve_many",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@runtime_checkable
class Simulator(Protocol):
    """A local stand-in for one vendor: an ASGI application plus the settings that reach it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""

    def client_settings(self) -> Mapping[str, str | Secret]:
        """Values for the vendor's config fields (besides ``base_url``) that this simulator
        accepts; secret fields as ``Secret``."""
        ...
