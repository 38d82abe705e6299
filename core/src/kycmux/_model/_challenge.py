"""Vendor-issued challenges: what a vendor asks the person to perform, bound to that vendor.

A challenge is issued by one vendor (Tencent ``livegetfour``: digits to read aloud), performed
by the person (the video), and verified by the same vendor with the challenge. It lives for a
bounded time and, at the vendors that track it, once.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any

import attrs

from kycmux.exceptions import InvalidEvidenceError

__all__ = ["Challenge", "ChallengeKind"]

_MAX_TOKEN = 256


class ChallengeKind(enum.StrEnum):
    """What the person performs.

    Attributes:
        DIGITS: Read a short string of digits aloud (lip-reading liveness).
    """

    DIGITS = "digits"


def _finite(_inst: Any, attribute: attrs.Attribute[float], value: float) -> None:
    try:  # an int too large for a float overflows in isfinite: as bad as infinity
        finite = not isinstance(value, bool) and isinstance(value, int | float)
        finite = finite and math.isfinite(value)
    except OverflowError:
        finite = False
    if not finite:
        raise InvalidEvidenceError(f"challenge.{attribute.name}", "must be a finite UNIX time")


def _value(inst: Challenge, _attribute: attrs.Attribute[str], value: str) -> None:
    if inst.kind is ChallengeKind.DIGITS and not (
        isinstance(value, str) and value.isascii() and value.isdigit() and 1 <= len(value) <= 16
    ):
        raise InvalidEvidenceError("challenge.value", "must be 1-16 ASCII digits")


def _token(_inst: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and not (isinstance(value, str) and 0 < len(value) <= _MAX_TOKEN):
        raise InvalidEvidenceError(
            f"challenge.{attribute.name}", f"must be None or 1-{_MAX_TOKEN} characters"
        )


def _vendor(_inst: Any, _attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidEvidenceError("challenge.vendor", "must name the vendor that issued it")


@attrs.frozen
class Challenge:
    """A challenge one vendor issued, to be performed by the person and verified by it.

    The repr shows the vendor, kind, id and times, never the value (the digits are not personal
    data, but a challenge in a log line is one less secret between the app and the vendor).

    Attributes:
        vendor: The name the engine used for the issuing call; only this vendor can verify it.
        kind: What the person performs.
        value: What to perform (the digits to read aloud).
        issued_at: UNIX time the issuing request was sent.
        expires_at: UNIX time after which no request may carry it.
        id: The vendor's own id or token for it, when the vendor has one.
        request_id: kycmux's id of the issuing call (its attempt record), for audits.
        subject: The keyed hash of the subject it was issued for (``Engine.challenge``'s
            ``subject``), when one was given: only evidence of that subject may carry it.
        mac: The issuing engine's seal (HMAC-SHA256 under a key derived from
            ``[engine] record_key``) over every other field; ``verify`` refuses a challenge
            whose seal does not verify. Secret-like: never in a repr, record or log.
    """

    vendor: str = attrs.field(validator=_vendor)
    kind: ChallengeKind = attrs.field(converter=ChallengeKind)
    value: str = attrs.field(validator=_value, repr=False)
    issued_at: float = attrs.field(validator=_finite)
    expires_at: float = attrs.field(validator=_finite)
    id: str | None = attrs.field(default=None, validator=_token)
    request_id: str | None = attrs.field(default=None, validator=_token)
    subject: str | None = attrs.field(default=None, validator=_token)
    mac: str | None = attrs.field(default=None, validator=_token, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.expires_at <= self.issued_at:
            raise InvalidEvidenceError("challenge.expires_at", "must be after issued_at")

    def expired(self, now: float) -> bool:
        """Past its expiry at ``now`` (UNIX seconds)."""
        return now >= self.expires_at

    def audit(self) -> dict[str, Any]:
        """What a decision record keeps of it: who issued it, when, and which it was; never
        the value."""
        return {
            "source": "vendor",
            "vendor": self.vendor,
            "kind": self.kind.value,
            "id": self.id,
            "request_id": self.request_id,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, value and seal included: what an app keeps and hands back unchanged
        (``from_dict``). Not for logs: the seal is kept like a secret."""
        return {**self.audit(), "value": self.value, "subject": self.subject, "mac": self.mac}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Challenge:
        """Read ``to_dict``'s output; ``InvalidEvidenceError`` naming the field otherwise."""
        if not isinstance(data, Mapping):
            raise InvalidEvidenceError("challenge", "must be a JSON object")
        missing = [
            k for k in ("vendor", "kind", "value", "issued_at", "expires_at") if k not in data
        ]
        if missing:
            raise InvalidEvidenceError(f"challenge.{missing[0]}", "required")
        try:
            kind = ChallengeKind(data["kind"])
        except ValueError:
            known = ", ".join(k.value for k in ChallengeKind)
            raise InvalidEvidenceError("challenge.kind", f"must be one of: {known}") from None
        return cls(
            vendor=data["vendor"],
            kind=kind,
            value=data["value"],
            issued_at=data["issued_at"],
            expires_at=data["expires_at"],
            id=data.get("id"),
            request_id=data.get("request_id"),
            subject=data.get("subject"),
            mac=data.get("mac"),
        )
