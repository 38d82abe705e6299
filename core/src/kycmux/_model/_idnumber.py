"""PRC resident identity number rules (GB 11643-1999)."""

from __future__ import annotations

import datetime as dt

__all__ = ["check_digit", "id_number_problem"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


def check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def id_number_problem(value: str, *, today: dt.date | None = None) -> str | None:
    """Return which GB 11643 rule ``value`` breaks, or ``None`` if it is well-formed.

    The rules: 18 characters; 17 digits then a digit or ``X``; a first digit 1–9 (region code);
    a birth date (characters 7–14, YYYYMMDD) that exists, is not before 1900 and not in the
    future; and the MOD 11-2 check character.
    """
    if len(value) != 18:
        return "must be 18 characters long"
    body, check = value[:17], value[17]
    if not body.isascii() or not body.isdigit():
        return "the first 17 characters must be digits"
    if check not in "0123456789X":
        return "the last character must be a digit or X"
    if body[0] == "0":
        return "must start with a region code (first digit 1-9)"
    try:
        born = dt.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        return "characters 7-14 must be a real birth date (YYYYMMDD)"
    if born.year < 1900 or born > (today or dt.date.today()):
        return "the birth date must be between 1900 and today"
    if check_digit(body) != check:
        return "check character does not match (GB 11643 MOD 11-2)"
    return None
