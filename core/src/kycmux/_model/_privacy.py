"""Masking and keyed hashing of personal data, for reprs, logs and decision records."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

__all__ = ["keyed_hash", "mask_id_number", "mask_name", "scrub"]


def mask_id_number(value: str) -> str:
    """Keep the first two and last two characters, enough to tell records apart by eye."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


def mask_name(value: str) -> str:
    """Keep the first character only."""
    return value[:1] + "*" * max(len(value) - 1, 1)


def keyed_hash(key: bytes, value: str | bytes) -> str:
    """HMAC-SHA256 of ``value``: joins records of one subject without revealing who it is.

    A plain hash of an 18-digit ID number is trivially reversed by enumeration; a keyed hash is
    not, as long as the key stays secret.
    """
    data = value.encode() if isinstance(value, str) else value
    return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()[:32]


def scrub(text: str, values: Iterable[str]) -> str:
    """``text`` with every one of ``values`` (two characters or more) replaced by ``***``.

    For what a vendor writes back: an error message may quote the account id, the name or
    the ID number it was sent.
    """
    for value in sorted({v for v in values if len(v) >= 2}, key=len, reverse=True):
        if value in text:
            text = text.replace(value, "***")
    return text
