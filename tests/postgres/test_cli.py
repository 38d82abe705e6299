"""``kycmux compare`` as several processes on one study and one PostgreSQL; ``kycmux report``
reading it. The processes are the real command line (the installed ``kycmux`` script), sending
to the session's simulators in this process, so every request they make is counted here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine.e2e_support import LINKFACE, TENCENT, SimCounter, parse_exports
from kycmux.cli._main import main
from kycmux.compare import Manifest
from kycmux.report import summarize
from kycmux.results import PostgresResultStore, SqliteResultStore
from kycmux.simkit import Sandbox
from support.pg_server import PgServer

VENDORS = (LINKFACE, TENCENT)
KYCMUX = Path(sys.executable).with_name("kycmux")
PASSWORD = "hunter2-canary-pw"  # the server trusts loopback: any password is accepted


@pytest.fixture
def cli(box: Sandbox, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A ``kycmux.toml`` reaching the session's simulators, and the environment it needs."""
    path = tmp_path / "kycmux.toml"
    path.write_text(box.toml(), encoding="utf-8")
    return path, {**os.environ, **parse_exports(box.exports())}


def compare(
    config: Path, env: dict[str, str], manifest: Path, url: str, out: Path, *extra: str
) -> subprocess.Popen[str]:
    args = [str(KYCMUX), "compare", str(manifest), "--config", str(config), "--results", url]
    args += ["--out", str(out), "--bootstrap", "0", *extra]
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 0, output
    return output


def sent(output: str) -> int:
    found = re.search(r"Sent (\d+) verifications", output)
    assert found, output
    return int(found.group(1))


def with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def summary_of(out: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    summary["study"].pop("created_at")  # when each store was first written: not the data
    return summary


def test_two_processes_share_one_study_and_send_each_pair_once(
    box: Sandbox,
    cli: tuple[Path, dict[str, str]],
    manifest_path: Path,
    manifest: Manifest,
    pg_url: str,
    tmp_path: Path,
) -> None:
    config, env = cli
    url = with_password(pg_url)
    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    for vendor in VENDORS:  # each request takes a while, so the two workers overlap
        box.app(vendor).faults.inject("latency=0.1")
    run = ("--run", "shared", "--concurrency", "3")
    workers = [compare(config, env, manifest_path, url, tmp_path / f"out{n}", *run) for n in (1, 2)]
    outputs = [finish(worker) for worker in workers]

    wanted = {(row.id, vendor) for row in manifest.rows for vendor in VENDORS}
    counts = [sent(output) for output in outputs]
    assert sum(counts) == len(wanted)
    assert all(counts), outputs  # both did part of the work
    assert sum(sim.served() for sim in sims.values()) == len(wanted)
    with PostgresResultStore.open(pg_url) as store:
        assert store.attempts("shared") == dict.fromkeys(wanted, 1)
        assert store.done("shared") == wanted
        results = store.results("shared")
        study = store.study("shared")
    for output in outputs:
        assert PASSWORD not in output
        assert "postgres:***@127.0.0.1" in output

    # `kycmux report` reads the study from PostgreSQL; the same rows from a SQLite file give
    # the same summary.
    assert study is not None
    with SqliteResultStore.open(tmp_path / "same.sqlite") as sqlite:
        sqlite.open_study(study.name, kind=study.kind, meta=study.meta)
        for each in results:
            sqlite.add(each)
        local = summarize(
            sqlite.results("shared"), study=sqlite.study("shared"), bootstrap=200, seed=0
        )
    args = ["report", "--results", url, "--out", str(tmp_path / "pg"), "--bootstrap", "200"]
    done = CliRunner().invoke(main, args, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert PASSWORD not in done.output
    local["study"].pop("created_at")
    assert summary_of(tmp_path / "pg") == json.loads(json.dumps(local))
    assert local["study"]["name"] == "shared"


def test_a_killed_workers_rows_are_taken_over_after_its_lease(
    box: Sandbox,
    cli: tuple[Path, dict[str, str]],
    manifest_path: Path,
    manifest: Manifest,
    pg_url: str,
    pg_server: PgServer,
    pg_schema: str,
    tmp_path: Path,
) -> None:
    config, env = cli
    for vendor in VENDORS:  # the first worker's requests never come back
        box.app(vendor).faults.inject("hang")
    run = ("--run", "crash", "--concurrency", "4", "--lease", "1.5")
    doomed = compare(config, env, manifest_path, pg_url, tmp_path / "out1", *run)
    try:
        held = _wait_for_claims(pg_server, pg_schema, 4, doomed)
    finally:
        doomed.kill()  # SIGKILL: no cleanup, its claims stay pending until their lease lapses
        doomed.communicate(timeout=30)
    for vendor in VENDORS:
        box.app(vendor).faults.clear()

    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    output = finish(compare(config, env, manifest_path, pg_url, tmp_path / "out2", *run))
    wanted = {(row.id, vendor) for row in manifest.rows for vendor in VENDORS}
    assert sent(output) == len(wanted)  # the killed worker stored nothing
    assert sum(sim.served() for sim in sims.values()) == len(wanted)
    with PostgresResultStore.open(pg_url) as store:
        assert store.done("crash") == wanted
        assert store.interrupted("crash") == store.busy("crash") == set()
        attempts = store.attempts("crash")
    # The killed worker's rows were sent twice (they may have reached the vendor); the rest once.
    assert {pair for pair, count in attempts.items() if count == 2} == held
    assert set(attempts.values()) == {1, 2}
    # Said either before the run (lapsed already) or after it (revisited): never silently.
    assert "Re-sending them" in output or "in flight at another worker" in output


def _wait_for_claims(
    server: PgServer, schema: str, count: int, process: subprocess.Popen[str]
) -> set[tuple[str, str]]:
    """The pairs ``process`` holds, once it holds ``count`` (a hang guard, not a timing)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        with server.admin(schema) as conn:
            if conn.execute("SELECT to_regclass('kycmux_results')").fetchone() != (None,):
                rows = conn.execute(
                    "SELECT item, system FROM kycmux_results WHERE state = 'pending'"
                ).fetchall()
                if len(rows) >= count:
                    return {(item, system) for item, system in rows}
        time.sleep(0.05)
    raise AssertionError("the worker never claimed its rows")
