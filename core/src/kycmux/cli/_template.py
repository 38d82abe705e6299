"""``kycmux new-vendor``: the skeleton of a vendor plugin distribution, ready to run.

The files are the ``_skeleton/*.tmpl`` beside this module with the vendor's name filled in;
the tutorial (``docs/plugins/tutorial.md``) walks through the same code.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from kycmux.exceptions import InvalidVendorNameError

__all__ = ["SKELETON", "render", "write_skeleton"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_TAKEN = frozenset({"testing", "sim", "cli"})

# Where each template goes, ``{vendor}`` filled in.
SKELETON: dict[str, str] = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "src/kycmux_{vendor}/__init__.py",
    "_spec.py.tmpl": "src/kycmux_{vendor}/_spec.py",
    "_build.py.tmpl": "src/kycmux_{vendor}/_build.py",
    "_sign.py.tmpl": "src/kycmux_{vendor}/_sign.py",
    "_parse.py.tmpl": "src/kycmux_{vendor}/_parse.py",
    "_errors.py.tmpl": "src/kycmux_{vendor}/_errors.py",
    "_sim.py.tmpl": "src/kycmux_{vendor}/_sim.py",
    "test_conformance.py.tmpl": "tests/test_conformance.py",
}


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidVendorNameError(
            name, f"must match {_NAME.pattern} (lower case, digits, underscores)"
        )
    if name in _TAKEN or name.endswith("_") or "__" in name:
        raise InvalidVendorNameError(name, "must not be reserved, end in _ or contain __")


def render(name: str) -> dict[str, str]:
    """The skeleton's files for vendor ``name``, by relative path."""
    _check_name(name)
    camel = "".join(part.capitalize() for part in name.split("_"))
    folder = resources.files("kycmux.cli").joinpath("_skeleton")
    files = {}
    for template, target in SKELETON.items():
        text = folder.joinpath(template).read_text(encoding="utf-8")
        text = text.replace("{{vendor}}", name).replace("{{Vendor}}", camel)
        files[target.format(vendor=name)] = text
    files[f"src/kycmux_{name}/py.typed"] = ""
    return files


def write_skeleton(name: str, directory: Path) -> Path:
    """Write ``kycmux-<name>/`` into ``directory``; refuses to touch an existing folder."""
    files = render(name)
    root = directory / f"kycmux-{name.replace('_', '-')}"
    if root.exists():
        raise FileExistsError(f"{root} exists already")
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
