"""Shared state: what every replica of a service must agree on, behind one async contract.

``SharedState`` is the contract (subject lockout, circuit breakers, rate limits and retry
budgets, one round trip per call); ``MemoryState`` keeps it in one process (every engine's
default, and its fallback when a shared store fails); ``RedisState`` keeps it in Redis for
several processes (needs ``pip install 'kycmux[redis]'``; loaded on first use). Configure it
with ``[engine] state = "redis://..."`` or pass ``Engine.from_config(..., state=...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kycmux._state._contract import (
    Admission,
    Refusal,
    SharedState,
    SubjectEvent,
    SubjectStatus,
)
from kycmux._state._memory import MemoryState

if TYPE_CHECKING:
    from kycmux._state._redis import RedisState

__all__ = [
    "Admission",
    "MemoryState",
    "RedisState",
    "Refusal",
    "SharedState",
    "SubjectEvent",
    "SubjectStatus",
]


def __getattr__(name: str) -> Any:
    if name == "RedisState":  # redis-py is an extra: import it only when asked for
        from kycmux._state._redis import RedisState

        return RedisState
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
