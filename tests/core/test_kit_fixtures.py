"""The kit's fixtures as a plugin's own tests use them (the example in docs/plugins/testing.md)."""

from __future__ import annotations

from typing import Any

import pytest

from kycmux import Outcome
from kycmux.testing import genuine_evidence


@pytest.fixture(scope="class")
def kycmux_vendor() -> str:
    return "linkface"


@pytest.mark.anyio
async def test_a_5xx_is_retried(kycmux_engine: Any, kycmux_demo: Any, kycmux_faults: Any) -> None:
    kycmux_faults.inject("http_5xx", count=1)
    async with kycmux_engine() as engine:
        decision = await engine.verify(genuine_evidence(kycmux_demo))
    assert decision.outcome is Outcome.ACCEPT  # retried after the 5xx
    assert [a.error_class for a in decision.record.attempts] == ["vendor_unavailable", None]


def test_the_tutorial_shows_what_the_template_writes() -> None:
    import re
    from pathlib import Path

    from kycmux.cli._template import render

    files = render("acme")
    page = (Path(__file__).parents[2] / "docs" / "plugins" / "tutorial.md").read_text()
    shown = dict(re.findall(r"^`([^`\n]+)`:\n\n```[a-z]+\n(.*?)\n```$", page, re.M | re.S))
    assert set(shown) == set(files) - {"README.md", "src/kycmux_acme/py.typed"}
    for path, text in shown.items():
        assert text == files[path].rstrip(), f"{path} differs from the template"
