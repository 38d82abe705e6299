"""Developer sessions. Run through uv so every session uses the locked environment:

python3 -m uv run --frozen nox            # lint, typecheck, docs, tests (what CI runs)
python3 -m uv run --frozen nox -s bench   # benchmarks, printed as ratios to a baseline
"""

from __future__ import annotations

import os
import tempfile

import nox

nox.options.sessions = ["lint", "typecheck", "docs", "tests"]
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
    """Benchmarks; figures are ratios against a baseline measured in the same run."""
    env = {"PYTHONHASHSEED": "0", **os.environ}
    session.run("python", "benchmarks/transport.py", *session.posargs, env=env)
