"""The kit itself: cheap to import, its code table rules, and a suite that catches broken
plugins (each mutation of a generated skeleton fails the check made for it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kycmux import CaptureIssue, Check, CodeDefault, CodeTable, DocumentedCode, ErrorClass
from kycmux.cli._template import write_skeleton
from kycmux.testing import crashing, implemented_hooks


def test_importing_the_kit_imports_neither_pytest_nor_hypothesis() -> None:
    code = (
        "import sys, kycmux.testing as t; t.FakeClock; t.make_rig; t.genuine_evidence; "
        "print(sorted({'pytest', 'hypothesis', 'uvicorn'} & set(sys.modules)))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.strip() == "[]"


def test_the_code_table_refuses_what_it_cannot_mean() -> None:
    with pytest.raises(ValueError, match="capture_issue is only for capture_unusable"):
        DocumentedCode("7", ErrorClass.NOT_LIVE, CaptureIssue.NO_FACE)
    row = DocumentedCode("7", ErrorClass.NOT_LIVE, check=Check.LIVENESS)
    with pytest.raises(ValueError, match="appears twice"):
        CodeTable((row, row), (CodeDefault(ErrorClass.VENDOR_UNAVAILABLE),))
    with pytest.raises(ValueError, match="defaults"):
        CodeTable((row,), ())


def test_a_crashing_stand_in_keeps_every_other_hook() -> None:
    import kycmux_linkface

    stand_in = crashing(kycmux_linkface, "parse")
    assert set(implemented_hooks(stand_in)) == set(implemented_hooks(kycmux_linkface))
    assert stand_in.sign is kycmux_linkface.sign  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="parse crashed"):
        stand_in.parse()  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="does not implement"):
        crashing(kycmux_linkface, "normalize_score")


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_skeleton("mutant", tmp_path_factory.mktemp("skeleton"))


# (module, text, replacement, the conformance test that must catch it)
MUTATIONS = {
    "classify": (
        "_errors.py",
        "return Classification(row.error_class,",
        "return Classification(_E.VENDOR_UNAVAILABLE,",
        "test_every_documented_code_is_classified",
    ),
    "default": (
        "_errors.py",
        "return Classification(default.error_class,",
        "return Classification(_E.NOT_LIVE,",
        "test_unknown_codes_get_the_declared_default",
    ),
    "nonce": (
        "_sign.py",
        "context.randbelow(2**NONCE_BITS)",
        "context.randbelow(2**NONCE_BITS) * 0",
        "test_signing_anew_replaces_credentials_and_nonce",
    ),
    "plain_secret": (
        "_sign.py",
        '.with_header("X-Signature", Secret(digest))',
        '.with_header("X-Signature", digest).with_header("X-Secret", secret.reveal())',
        "test_signing_anew_replaces_credentials_and_nonce",
    ),
    "score_range": (
        "_parse.py",
        "not math.isfinite(number) or not spec.in_range(number)",
        "False",
        "test_malformed_answer_is_never_a_pass",
    ),
    "url_evidence": (
        "_build.py",
        "if not isinstance(media, FileMedia):",
        "if media is None:",
        "test_invalid_evidence_refused_before_sending",
    ),
    "leak": (
        "_sign.py",
        "    timestamp = str(int(context.now()))",
        "    __import__('logging').getLogger('x').warning('%s', secret.reveal())\n"
        "    timestamp = str(int(context.now()))",
        "test_no_secret_or_personal_value_in_records",
    ),
    "calibration": (
        "_spec.py",
        "kind=ScoreKind.SIMILARITY,",
        "kind=ScoreKind.ATTACK,",
        "test_scores_are_monotone_in_the_declared_direction",
    ),
}


# Mutations run together when their modules' lines and their catchers differ (one subprocess
# each group: the suite's fixtures start a simulator per run).
GROUPS = {
    "declarations": ("classify", "default", "score_range", "url_evidence", "calibration"),
    "signing": ("nonce", "leak"),
    "plain_secret": ("plain_secret",),
}


def _mutated(skeleton: Path, tmp_path: Path, mutations: tuple[str, ...]) -> Path:
    root = Path(shutil.copytree(skeleton, tmp_path / "plugin"))
    for mutation in mutations:
        module, text, replacement, _catcher = MUTATIONS[mutation]
        path = root / "src" / "kycmux_mutant" / module
        source = path.read_text()
        assert text in source, f"{mutation} no longer applies to the template"
        path.write_text(source.replace(text, replacement))
    return root


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_the_suite_catches_a_broken_plugin(group: str, skeleton: Path, tmp_path: Path) -> None:
    mutations = GROUPS[group]
    root = _mutated(skeleton, tmp_path, mutations)
    catchers = sorted({MUTATIONS[m][3] for m in mutations})
    info = tmp_path / "site" / "kycmux_mutant-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kycmux-mutant\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[kycmux]\nmutant = kycmux_mutant\n")
    pythonpath = [str(tmp_path / "site"), str(root / "src"), *sys.path]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            " or ".join(catchers),
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    for catcher in catchers:
        assert f"FAILED tests/test_conformance.py::TestConformance::{catcher}" in run.stdout
