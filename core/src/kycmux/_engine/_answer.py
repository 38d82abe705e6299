"""``Decision``: what ``Engine.verify`` answers."""

from __future__ import annotations

import attrs

from kycmux._decision._verdict import Outcome
from kycmux._records._record import DecisionRecord

__all__ = ["Decision"]


@attrs.frozen
class Decision:
    """The answer to one verification.

    Attributes:
        outcome: accept / reject / retry_capture / review / error.
        reasons: Machine-readable reasons (``"liveness:linkface:score_below_threshold"``).
        hint: For ``retry_capture``: what to tell the user, in plain language.
        record: The full decision record (masked; safe to store and log).
    """

    outcome: Outcome
    reasons: tuple[str, ...]
    hint: str | None
    record: DecisionRecord

    @property
    def request_id(self) -> str:
        return self.record.request_id
