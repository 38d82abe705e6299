"""The API reference (mkdocstrings, griffe) shows every public name: each has a docstring."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

# A docs dependency (mkdocstrings' griffe): absent where only the test tools are installed, as
# in the lowest-versions session; the locked environment always has it.
griffe = pytest.importorskip("griffe")

ROOT = Path(__file__).resolve().parents[2]
# The modules docs/reference/api*.md document; each lists its public names in __all__.
PUBLIC = (
    "kycmux",
    "kycmux.exceptions",
    "kycmux.hookspecs",
    "kycmux.decision",
    "kycmux.media",
    "kycmux.resilience",
    "kycmux.state",
    "kycmux.testing",
)


@pytest.fixture(scope="module")
def package() -> Any:
    loaded = griffe.load("kycmux", search_paths=[str(ROOT / "core" / "src")])
    assert isinstance(loaded, griffe.Module)
    return loaded


@pytest.mark.parametrize("module", PUBLIC)
def test_every_public_name_has_a_docstring_griffe_finds(package: Any, module: str) -> None:
    names = importlib.import_module(module).__all__
    where = package if module == "kycmux" else package[module.removeprefix("kycmux.")]
    silent = []
    for name in names:
        found = where[name]
        target = found.final_target if found.is_alias else found
        if not target.docstring:
            silent.append(name)
    # The page shows only documented objects: a name without a docstring would be missing.
    assert silent == [], f"{module}: no docstring for {silent}"


def test_every_public_module_is_on_an_api_page() -> None:
    pages = "".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "reference").glob("api*.md")
    )
    for module in PUBLIC:
        assert f"::: {module}\n" in pages
