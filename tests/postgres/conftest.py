"""Fixtures of the PostgreSQL tests: one real server for the session (a free loopback TCP
port, started and stopped here), a schema of its own for each test, and the simulators."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from engine.e2e_support import LINKFACE, TENCENT
from kycmux import PluginHost
from kycmux.compare import Manifest, write_synthetic_manifest
from kycmux.simkit import Sandbox, run_sandbox

if TYPE_CHECKING:
    from support.pg_server import PgServer

# Without the postgres extra (psycopg, psycopg-pool) there is nothing to test here.
if not all(importlib.util.find_spec(name) for name in ("psycopg", "psycopg_pool")):
    collect_ignore_glob = ["test_*.py"]

VENDORS = (LINKFACE, TENCENT)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session, stopped (and its folder removed) after."""
    from support.pg_server import PgServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries: install pgserver, or set KYCMUX_TEST_PG_BIN")
    server = PgServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop(remove=True)


@pytest.fixture
def pg_schema(pg_server: PgServer) -> Iterator[str]:
    """A schema of this test's own, dropped after it."""
    from psycopg import sql

    name = f"t_{uuid.uuid4().hex[:12]}"
    with pg_server.admin() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    with pg_server.admin() as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def pg_url(pg_server: PgServer, pg_schema: str) -> str:
    """A URL whose tables land in this test's schema (libpq's ``options``: its search_path)."""
    return pg_server.url(options=f"-csearch_path={pg_schema}")


@pytest.fixture(scope="session")
def host() -> PluginHost:
    host = PluginHost.from_entry_points()
    assert set(VENDORS) <= set(host.vendors), host.failures
    return host


@pytest.fixture(scope="session")
def sims(host: PluginHost) -> Iterator[Sandbox]:
    """Both vendors' simulators on loopback, for the whole session."""
    with run_sandbox(host, VENDORS) as box:
        # These tests count requests per row exactly: Linkface's per-account rate limit
        # (50/s, like the vendor) would make the engine retry, so it is lifted.
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
    """12 labelled synthetic rows (with their files) both simulators can judge."""
    return write_synthetic_manifest(tmp_path_factory.mktemp("synthetic"), rows=12, seed=7)


@pytest.fixture(scope="session")
def manifest(manifest_path: Path) -> Manifest:
    return Manifest.load(manifest_path)
