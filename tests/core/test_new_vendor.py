"""``kycmux new-vendor``: the skeleton passes the kit's conformance suite as generated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kycmux.cli._main import main
from kycmux.cli._template import SKELETON, render
from kycmux.exceptions import InvalidVendorNameError

NAME = "acme_kyc"


def _installed(root: Path, site: Path) -> dict[str, str]:
    """An environment where the generated package imports and its entry point is found, as
    ``pip install`` would make it (a ``.dist-info`` beside it on ``PYTHONPATH``)."""
    info = site / "kycmux_acme_kyc-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kycmux-acme-kyc\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[kycmux]\n{NAME} = kycmux_{NAME}\n")
    path = [str(site), str(root / "src"), *sys.path]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("new-vendor")
    result = CliRunner().invoke(main, ["new-vendor", NAME, "--dir", str(base)])
    assert result.exit_code == 0, result.output
    root = base / "kycmux-acme-kyc"
    return root, _installed(root, base / "site")


def test_the_skeleton_passes_the_conformance_suite_unmodified(
    generated: tuple[Path, dict[str, str]],
) -> None:
    root, env = generated
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
    assert "failed" not in run.stdout


def test_kycmux_vendors_lists_the_new_vendor(generated: tuple[Path, dict[str, str]]) -> None:
    _root, env = generated
    code = "from kycmux.cli._launch import main; main()"
    run = subprocess.run(
        [sys.executable, "-c", code, "vendors", "--json", "--strict"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    listed = {entry["name"]: entry for entry in json.loads(run.stdout)}
    assert listed[NAME]["distribution"] == "kycmux-acme-kyc"


def test_the_skeleton_has_every_part(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["new-vendor", NAME, "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "kycmux-acme-kyc"
    written = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    expected = {target.format(vendor=NAME) for target in SKELETON.values()}
    assert written == expected | {f"src/kycmux_{NAME}/py.typed"}
    assert "{{" not in "".join(p.read_text() for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", ["Acme", "a", "1acme", "ac-me", "acme_", "ac__me", "testing"])
def test_an_invalid_name_is_refused_with_the_rule(name: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidVendorNameError) as refused:
        render(name)
    assert refused.value.name == name
    result = CliRunner().invoke(main, ["new-vendor", name, "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert refused.value.rule in result.output
    assert not any(tmp_path.iterdir()), "nothing is written for a refused name"


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "kycmux-acme").mkdir()
    result = CliRunner().invoke(main, ["new-vendor", "acme", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "exists already" in result.output
    assert not any((tmp_path / "kycmux-acme").iterdir())


def _tool(name: str) -> str:
    tool = Path(sys.executable).with_name(name)
    if not tool.exists():  # the lowest-versions session installs the test tools only
        pytest.skip(f"{name} is not installed beside this Python")
    return str(tool)


def test_the_skeleton_passes_ruff_as_generated(generated: tuple[Path, dict[str, str]]) -> None:
    root, env = generated
    run = subprocess.run(
        [_tool("ruff"), "check", "--no-cache", "."],
        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_the_skeleton_passes_mypy_strict_as_generated(
    generated: tuple[Path, dict[str, str]],
) -> None:
    root, env = generated
    env = {**env, "MYPYPATH": str(root / "src")}
    run = subprocess.run(
        [_tool("mypy"), "--strict", "--no-incremental", "--cache-dir", os.devnull, "src", "tests"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
