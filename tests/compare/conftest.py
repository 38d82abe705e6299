"""Fixtures of the comparison tests: the real simulators on loopback and a synthetic manifest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kycmux.compare import Manifest, write_synthetic_manifest
from kycmux.results import SqliteResultStore
from support.sim_fixtures import VENDORS, box, host, sims  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def manifest_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 labelled synthetic rows (with their files) both simulators can judge."""
    return write_synthetic_manifest(tmp_path_factory.mktemp("synthetic"), rows=24, seed=11)


@pytest.fixture(scope="session")
def manifest(manifest_path: Path) -> Manifest:
    return Manifest.load(manifest_path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteResultStore]:
    """A fresh result store file."""
    with SqliteResultStore.open(tmp_path / "results.sqlite") as opened:
        yield opened
