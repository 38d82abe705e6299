"""Numbers as they may appear on the wire: ASCII decimal notation, nothing else.

``float()`` is far more generous than any wire format: it takes Unicode digits (Arabic-Indic
``"٠.٩٩"``, full-width ``"０.９９"``), surrounding whitespace, ``_`` separators, ``"nan"`` and
``"inf"``. A garbage value read that way could pass a check, so every number this plugin reads
from a response goes through ``ascii_decimal`` first.
"""

from __future__ import annotations

import math
import re
from typing import Final

__all__ = ["ascii_decimal", "delay_seconds"]

# [0-9] rather than \d (which is any Unicode digit); fullmatch, because "$" also matches before
# a trailing newline; re.ASCII as a second guard should the pattern ever be edited.
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def ascii_decimal(text: str) -> float | None:
    """The value of ``text`` when it is plain ASCII decimal notation (``"0.5"``, ``".5"``,
    ``"5e-1"``), else ``None``. The result may be infinite (``"1e999"``): callers bound it.
    """
    if not _DECIMAL.fullmatch(text):
        return None
    return float(text)


def delay_seconds(text: str) -> float | None:
    """A ``Retry-After`` value in seconds, when it is a finite non-negative ASCII decimal.

    An HTTP date (the header's other form) gives ``None``: the vendor never sends one, and a
    clock-dependent wait is not worth guessing at.
    """
    value = ascii_decimal(text)
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return value
