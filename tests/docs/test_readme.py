"""The README's and the getting-started page's commands, run as written against a sandbox.

Each ``sh`` block runs in order in one folder per document (so a later block finds what an
earlier one wrote), with ``python3 -m uv run --frozen`` replaced by this venv's executables;
each ``python`` block runs with the sandbox's ``sandbox.env`` in its environment. A block
marked ``<!-- doc-test: skip ... -->`` (installing, the whole suite) is not run; one marked
``<!-- doc-test: background -->`` (the sandbox, which serves until stopped) runs in the
background until the document is done, and the next block waits for the files it writes.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "docs/getting-started.md")
BIN = Path(sys.executable).parent
UV_RUN = "python3 -m uv run --frozen "
_BLOCK = re.compile(
    r"(?:<!-- doc-test: (?P<mark>skip|background)[^>]*-->\s*\n)?^```(?P<lang>sh|python)\n"
    r"(?P<body>.*?)^```",
    re.S | re.M,
)
_WAIT_FOR_SANDBOX = 60.0  # a guard against a sandbox that never starts, not a measurement


@attrs.frozen
class Block:
    """One fenced code block: its language, its text, its doc-test mark (or ``None``)."""

    lang: str
    body: str
    mark: str | None


def blocks(document: str) -> list[Block]:
    text = (ROOT / document).read_text(encoding="utf-8")
    return [Block(m["lang"], m["body"], m["mark"]) for m in _BLOCK.finditer(text)]


def _command(body: str) -> str:
    return body.replace(UV_RUN, f"{BIN}/")


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYCMUX_")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", COLUMNS="80")
    exports = folder / "sandbox" / "sandbox.env"
    if exports.is_file():
        for line in exports.read_text(encoding="utf-8").splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            (env[name],) = shlex.split(value)
    return env


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The background commands a document starts; stopped (their process group) after it."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


def _start(block: Block, folder: Path, started: list[subprocess.Popen[bytes]]) -> None:
    command = _command(block.body).strip().removesuffix("&")
    started.append(
        subprocess.Popen(
            ["bash", "-c", command],
            cwd=folder,
            env=_env(folder),
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
    )
    written = re.search(r"--write (\S+)", command)
    assert written is not None, "a background block here is the sandbox writing its files"
    ready = folder / written[1] / "sandbox.env"  # written last, by a rename
    give_up = time.monotonic() + _WAIT_FOR_SANDBOX
    while not ready.exists():
        assert started[-1].poll() is None, "the sandbox stopped before writing its files"
        assert time.monotonic() < give_up, "the sandbox never wrote its files"
        time.sleep(0.1)


def _run(block: Block, folder: Path, index: int) -> subprocess.CompletedProcess[str]:
    if block.lang == "python":
        script = folder / f"snippet_{index}.py"
        script.write_text(block.body, encoding="utf-8")
        argv = [sys.executable, str(script)]
    else:
        argv = ["bash", "-c", "set -eo pipefail\n" + _command(block.body)]
    return subprocess.run(
        argv, cwd=folder, env=_env(folder), capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_command_runs_as_written(
    document: str, tmp_path: Path, background: list[subprocess.Popen[bytes]]
) -> None:
    ran = 0
    for index, block in enumerate(blocks(document)):
        if block.mark == "skip":
            continue
        if block.mark == "background":
            _start(block, tmp_path, background)
            continue
        result = _run(block, tmp_path, index)
        assert result.returncode == 0, (block.body, result.stdout[-3000:], result.stderr[-3000:])
        ran += 1
    assert ran >= 3


@pytest.mark.parametrize("document", DOCUMENTS)
def test_commands_use_one_spelling_of_uv_run(document: str) -> None:
    for block in blocks(document):
        if block.lang == "sh":
            mixed = re.sub(re.escape(UV_RUN), "", block.body)
            assert "uv run" not in mixed, block.body


@pytest.mark.parametrize("document", DOCUMENTS)
def test_few_blocks_are_left_out(document: str) -> None:
    skipped = [b for b in blocks(document) if b.mark == "skip"]
    assert len(skipped) <= 1
    assert all("pip install" in b.body for b in skipped)
