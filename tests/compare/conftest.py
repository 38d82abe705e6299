"""Fixtures of the comparison tests: the real simulators on loopback and a synthetic manifest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.e2e_support import LINKFACE, TENCENT
from kycmux import PluginHost
from kycmux.compare import Manifest, write_synthetic_manifest
from kycmux.results import SqliteResultStore
from kycmux.simkit import Sandbox, run_sandbox

VENDORS = (LINKFACE, TENCENT)


@pytest.fixture(scope="session")
def host() -> PluginHost:
    """The real plugins, discovered as an application would discover them."""
    host = PluginHost.from_entry_points()
    assert set(VENDORS) <= set(host.vendors), host.failures
    return host


@pytest.fixture(scope="session")
def sims(host: PluginHost) -> Iterator[Sandbox]:
    """Both vendors' simulators on loopback, for the whole session."""
    with run_sandbox(host, VENDORS) as box:
        # Linkface's simulator allows 50 requests/s (burst 100) per account, like the vendor;
        # these tests send a few hundred in seconds. A 403 rate limit would be retried by the
        # engine, and the tests count requests per row exactly, so it is lifted here (before
        # the first request creates the account's bucket).
        box.app(LINKFACE).rate_per_s = 1_000_000.0
        yield box


@pytest.fixture
def box(sims: Sandbox) -> Iterator[Sandbox]:
    """The simulators, with no fault windows left over from another test."""
    for vendor in VENDORS:
        sims.app(vendor).faults.clear()
    yield sims
    for vendor in VENDORS:
        sims.app(vendor).faults.clear()


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
