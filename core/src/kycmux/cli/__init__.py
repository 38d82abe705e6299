"""The ``kycmux`` command line (the ``cli`` extra: click and rich).

``main`` is the click group; it loads on first use, so this package imports without the extra.
"""

from __future__ import annotations

from typing import Any

__all__ = ["main"]


def __getattr__(name: str) -> Any:
    if name == "main":
        from kycmux.cli._main import main

        return main
    raise AttributeError(f"module 'kycmux.cli' has no attribute {name!r}")
