"""Fixtures of the PostgreSQL tests: one real server for the session (a free loopback TCP
port, started and stopped here), a schema of its own for each test, and the simulators."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kycmux.compare import Manifest, write_synthetic_manifest
from support.sim_fixtures import VENDORS, box, host, sims  # noqa: F401 - fixtures

if TYPE_CHECKING:
    from support.pg_server import PgServer


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
def manifest_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 labelled synthetic rows (with their files) both simulators can judge."""
    return write_synthetic_manifest(tmp_path_factory.mktemp("synthetic"), rows=12, seed=7)


@pytest.fixture(scope="session")
def manifest(manifest_path: Path) -> Manifest:
    return Manifest.load(manifest_path)
