"""The event loop ``Engine.verify_sync`` runs on: an anyio blocking portal on a thread."""

from __future__ import annotations

import contextvars
from typing import Any

import anyio.from_thread

__all__ = ["Portal"]


class Portal:
    """An anyio blocking portal kept open across sync calls (its event loop on a thread)."""

    def __init__(self) -> None:
        self._manager = anyio.from_thread.start_blocking_portal()
        self._portal = self._manager.__enter__()

    def call(self, fn: Any) -> Any:
        # The caller's context variables (its current trace span, say) hold inside the call,
        # as they do for an async caller; anyio carries them only in its later versions.
        return self._portal.call(_within, contextvars.copy_context(), fn)

    def stop(self) -> None:
        self._manager.__exit__(None, None, None)


async def _within(context: contextvars.Context, fn: Any) -> Any:
    # The portal runs this in a task of its own, so what is set here ends with the call.
    for var, value in context.items():
        var.set(value)
    return await fn()
