"""A wrapper that keeps secret values out of reprs, logs, exceptions and records."""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = ["Secret", "reveal"]


class Secret:
    """A secret value. ``str()``, ``repr()`` and formatting show ``***``; ``reveal()`` the value.

    Equality compares values (so configs compare sensibly) but never prints them; hashing is
    refused so a secret cannot end up as a dict key in something that gets dumped.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


def reveal(value: Any) -> Any:
    """The plain value of a ``Secret``; anything else unchanged."""
    return value.reveal() if isinstance(value, Secret) else value
