"""The scoring basis every simulator shares: deterministic match and attack strengths."""

from __future__ import annotations

import hashlib
import math

from kycmux.synthetic._truth import Liveness

__all__ = ["attack_strength", "jitter", "match_strength"]

# How far difficulty 1 moves a score from its clear-cut band towards the other side.
_DIFFICULTY_SHIFT = 0.30


def jitter(salt: str, *parts: object) -> float:
    """A deterministic value in [0, 1) from ``salt`` and ``parts`` (SHA-256; no global RNG)."""
    text = "\x1f".join(str(p) for p in ("kycmux-jitter", salt, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0**64


def _difficulty(value: float) -> float:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"difficulty must be in [0, 1], got {value!r}")
    return float(value)


def match_strength(a: str | None, b: str | None, *, difficulty: float, salt: str) -> float:
    """How strongly two captures look like the same person, in [0, 1].

    With ``u = jitter(salt, "match", sorted pair)`` and ``d = difficulty``:

    - same person: ``0.85 + 0.14·u − 0.30·d`` (0.85-0.99 at d = 0, 0.55-0.69 at d = 1);
    - different persons: ``0.05 + 0.20·u + 0.30·d`` (0.05-0.25 at d = 0, 0.35-0.55 at d = 1);
    - either side ``None`` (nobody, no face): 0.

    Symmetric in ``a`` and ``b``; the salt (the vendor's name) gives each vendor its own jitter.
    """
    d = _difficulty(difficulty)
    if a is None or b is None:
        return 0.0
    u = jitter(salt, "match", *sorted((a, b)))
    if a == b:
        return 0.85 + 0.14 * u - _DIFFICULTY_SHIFT * d
    return 0.05 + 0.20 * u + _DIFFICULTY_SHIFT * d


def attack_strength(
    liveness: Liveness | str, *, difficulty: float, salt: str, person: str | None = None
) -> float:
    """How strongly a capture looks like a presentation attack, in [0, 1].

    With ``u = jitter(salt, "attack", liveness, person)`` and ``d = difficulty``:

    - live: ``0.02 + 0.13·u + 0.30·d`` (0.02-0.15 at d = 0, 0.32-0.45 at d = 1);
    - spoof: ``0.85 + 0.13·u − 0.30·d`` (0.85-0.98 at d = 0, 0.55-0.68 at d = 1).

    ``person`` (optional) varies the jitter between subjects; the salt between vendors.
    """
    d = _difficulty(difficulty)
    kind = Liveness(liveness)
    u = jitter(salt, "attack", kind.value, person or "")
    if kind is Liveness.LIVE:
        return 0.02 + 0.13 * u + _DIFFICULTY_SHIFT * d
    return 0.85 + 0.13 * u - _DIFFICULTY_SHIFT * d
