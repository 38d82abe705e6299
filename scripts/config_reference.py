"""Write docs/reference/config.md from the configuration schema and the bundled plugins.

Run after changing a configuration key or its description (a test fails until you do):

    .venv/bin/python scripts/config_reference.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import kycmux_linkface
import kycmux_tencent_legacy
from kycmux._config._reference import config_reference

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "config.md"


def page() -> str:
    """The page as the schema and the bundled plugins make it today."""
    specs = [*kycmux_tencent_legacy.register_vendors(), *kycmux_linkface.register_vendors()]
    return config_reference(specs)


if __name__ == "__main__":
    PAGE.write_text(page(), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE}\n")
