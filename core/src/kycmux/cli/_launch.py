"""The ``kycmux`` console script: the command line, or how to install it."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Run the command line; without the ``cli`` extra, say how to get it."""
    try:
        from kycmux.cli._main import main as cli
    except ModuleNotFoundError as exc:
        if exc.name not in ("click", "rich", "uvicorn"):
            raise
        sys.exit(
            f"kycmux: the command line needs the cli extra ({exc.name} is not installed): "
            "pip install 'kycmux[cli]'"
        )
    cli()
