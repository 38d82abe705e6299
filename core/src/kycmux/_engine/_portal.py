"""The event loop ``Engine.verify_sync`` runs on: an anyio blocking portal on a thread."""

from __future__ import annotations

from typing import Any

import anyio.from_thread

__all__ = ["Portal"]


class Portal:
    """An anyio blocking portal kept open across sync calls (its event loop on a thread)."""

    def __init__(self) -> None:
        self._manager = anyio.from_thread.start_blocking_portal()
        self._portal = self._manager.__enter__()

    def call(self, fn: Any) -> Any:
        return self._portal.call(fn)

    def stop(self) -> None:
        self._manager.__exit__(None, None, None)
