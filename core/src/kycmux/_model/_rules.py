"""Validators shared by every settings class.

Each failure is a ``ConfigError`` (also a ``ValueError``) keyed by the attribute's name and
stating the rule, never the value: a value may have come from a secret ``${VAR}``, and the
configuration schema prefixes the table's dotted path to the key, so a mistake in a file reads
``vendors.x.resilience.breaker.failure_ratio: must be in (0, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from kycmux.exceptions import ConfigError

__all__ = [
    "AT_LEAST_ONE",
    "AT_LEAST_ONE_WHOLE",
    "NON_NEGATIVE",
    "POSITIVE",
    "POSITIVE_SECONDS",
    "RATIO",
    "Validator",
    "number",
    "one_of",
]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def number(
    rule: str,
    holds: Callable[[float], bool],
    *,
    error: type[ConfigError] = ConfigError,
    optional: bool = False,
    whole: bool = False,
) -> Validator:
    """A validator: the value is a finite number (an ``int`` if ``whole``) for which ``holds``."""

    def validate(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        kinds = int if whole else (int, float)
        if (
            isinstance(value, bool)
            or not isinstance(value, kinds)
            or not math.isfinite(value)
            or not holds(value)
        ):
            raise error(attribute.name, rule)

    return validate


def one_of(*choices: str) -> Validator:
    """A validator: the value is one of ``choices``."""
    rule = "must be one of " + ", ".join(repr(c) for c in choices)

    def validate(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise ConfigError(attribute.name, rule)

    return validate


POSITIVE = number("must be a positive number", lambda v: v > 0)
POSITIVE_SECONDS = number("must be a positive number of seconds", lambda v: v > 0)
NON_NEGATIVE = number("must be a finite number >= 0", lambda v: v >= 0)
RATIO = number("must be in (0, 1]", lambda v: 0 < v <= 1)
AT_LEAST_ONE = number("must be a finite number >= 1", lambda v: v >= 1)
AT_LEAST_ONE_WHOLE = number("must be a whole number >= 1", lambda v: v >= 1, whole=True)
