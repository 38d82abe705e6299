"""The scoring basis every simulator shares: deterministic match and attack strengths."""

from __future__ import annotations

import hashlib
import math

from kycmux.synthetic._truth import Liveness

__all__ = [
    "GENUINE_BOTTOM",
    "GENUINE_SPAN",
    "IMPOSTOR_BOTTOM",
    "IMPOSTOR_SPAN",
    "attack_strength",
    "jitter",
    "match_strength",
    "shift",
]

# How far difficulty moves a score from its clear-cut band towards the other side: linearly up
# to _TAIL_FROM, then faster, so the very hardest genuine and impostor (live and spoof) captures
# overlap, as real score distributions do in their tails. Below _TAIL_FROM the bands never meet.
_DIFFICULTY_SHIFT = 0.30
_TAIL_FROM = 0.8
_TAIL_GROWTH = 1.5
# The clear-cut bands, jitter spreading a pair uniformly over [BOTTOM, BOTTOM + SPAN):
# difficulty then moves the genuine band down and the impostor band up by ``shift(d)``.
# ``_rank`` integrates over exactly these numbers, so they live in one place.
GENUINE_BOTTOM = 0.85
GENUINE_SPAN = 0.14
IMPOSTOR_BOTTOM = 0.05
IMPOSTOR_SPAN = 0.20


def jitter(salt: str, *parts: object) -> float:
    """A deterministic value in [0, 1) from ``salt`` and ``parts`` (SHA-256; no global RNG)."""
    text = "\x1f".join(str(p) for p in ("kycmux-jitter", salt, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0**64


def shift(value: float) -> float:
    """How far a capture of difficulty ``value`` moves from its clear-cut band."""
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"difficulty must be in [0, 1], got {value!r}")
    tail = max(0.0, value - _TAIL_FROM)
    return _DIFFICULTY_SHIFT * value + _TAIL_GROWTH * tail * tail


def match_strength(a: str | None, b: str | None, *, difficulty: float, salt: str) -> float:
    """How strongly two captures look like the same person, in [0, 1].

    With ``u = jitter(salt, "match", sorted pair)`` and ``s = 0.30·d + 1.5·max(0, d − 0.8)²``
    (``d`` = difficulty; s = 0.24 at d = 0.8, 0.36 at d = 1):

    - same person: ``0.85 + 0.14·u − s`` (0.85-0.99 at d = 0, 0.49-0.63 at d = 1);
    - different persons: ``0.05 + 0.20·u + s`` (0.05-0.25 at d = 0, 0.41-0.61 at d = 1);
    - either side ``None`` (nobody, no face): 0.

    Up to d = 0.8 the two bands never meet; beyond it they overlap.

    Symmetric in ``a`` and ``b``; the salt (the vendor's name) gives each vendor its own jitter.
    """
    moved = shift(difficulty)
    if a is None or b is None:
        return 0.0
    u = jitter(salt, "match", *sorted((a, b)))
    if a == b:
        return GENUINE_BOTTOM + GENUINE_SPAN * u - moved
    return IMPOSTOR_BOTTOM + IMPOSTOR_SPAN * u + moved


def attack_strength(
    liveness: Liveness | str, *, difficulty: float, salt: str, person: str | None = None
) -> float:
    """How strongly a capture looks like a presentation attack, in [0, 1].

    With ``u = jitter(salt, "attack", liveness, person)`` and ``s`` as in ``match_strength``:

    - live: ``0.02 + 0.13·u + s`` (0.02-0.15 at d = 0, 0.38-0.51 at d = 1);
    - spoof: ``0.85 + 0.13·u − s`` (0.85-0.98 at d = 0, 0.49-0.62 at d = 1).

    ``person`` (optional) varies the jitter between subjects; the salt between vendors.
    """
    moved = shift(difficulty)
    kind = Liveness(liveness)
    u = jitter(salt, "attack", kind.value, person or "")
    if kind is Liveness.LIVE:
        return 0.02 + 0.13 * u + moved
    return 0.85 + 0.13 * u - moved
