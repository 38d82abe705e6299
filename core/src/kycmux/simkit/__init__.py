"""Toolkit for local vendor simulators: serving, multipart parsing, fault injection.

(Being built: see the package's modules.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Protocol, runtime_checkable

from kycmux._secret import Secret

__all__ = ["Simulator"]

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
