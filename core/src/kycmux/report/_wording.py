"""How the verdict words numbers: percentages, milliseconds, intervals and their method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kycmux.report._data import Settings

__all__ = ["MIN_ITEMS", "ci_text", "conf", "how", "millis", "percent", "too_few"]

MIN_ITEMS = 20
"""Below this many items (per system) a bootstrap interval is itself too unreliable to call
anything: with 2 items it can exclude 0 by the luck of the draw."""


def too_few(c: dict[str, Any]) -> str:
    return f"too few items to tell ({c['n']:,}; at least {MIN_ITEMS} per system needed)"


def conf(settings: Settings) -> str:
    return f"{settings.confidence * 100:g}%"


def how(c: dict[str, Any]) -> str:
    if c["paired"] and c["metric"] == "hter":
        return f"paired bootstrap over {c['n']:,} items both judged, resampled by subject"
    if c["paired"]:
        return f"paired bootstrap over {c['n']:,} items both judged"
    return f"independent bootstrap, about {c['n']:,} items per system"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def millis(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} ms"


def ci_text(ci: list[float] | None, fmt: Callable[[float], str]) -> str:
    return "" if ci is None else f" (CI {fmt(ci[0])} to {fmt(ci[1])})"
