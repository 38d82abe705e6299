"""``run_comparison`` with several workers on one PostgreSQL store: busy pairs, lapsed leases."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from typing import Any

import pytest

from engine.e2e_support import LINKFACE, TENCENT, SimCounter
from kycmux import Check, Engine, PluginHost
from kycmux.compare import (
    CompareSettings,
    CompareSummary,
    Manifest,
    prepare_study,
    run_comparison,
)
from kycmux.results import PostgresResultStore, Result, Role
from kycmux.simkit import Sandbox
from support.pg_server import PgServer

VENDORS = (LINKFACE, TENCENT)
STUDY = "shared"


def settings(**options: Any) -> CompareSettings:
    return CompareSettings(STUDY, VENDORS, (Check.LIVENESS, Check.FACE_MATCH), **options)


def engine(box: Sandbox, host: PluginHost) -> Engine:
    return Engine.from_config(box.config(host), host=host)


async def compare(
    box: Sandbox, host: PluginHost, manifest: Manifest, store: PostgresResultStore, **options: Any
) -> CompareSummary:
    async with engine(box, host) as running:
        return await run_comparison(running, manifest, store, settings(**options))


def run(*workers: Any) -> list[CompareSummary]:
    async def main() -> list[CompareSummary]:
        return list(await asyncio.gather(*workers))

    return asyncio.run(main())


def pairs(manifest: Manifest) -> set[tuple[str, str]]:
    return {(row.id, vendor) for row in manifest.rows for vendor in VENDORS}


def held_by_a_dead_worker(
    server: PgServer, schema: str, item: str, vendor: str, lease: float
) -> None:
    """A pending claim nobody renews: its worker died ``lease`` seconds before it lapses."""
    with server.admin(schema) as conn:
        conn.execute(
            "INSERT INTO kycmux_results"
            " (study, item, system, state, owner, lease_until, attempts) VALUES"
            " (%s, %s, %s, 'pending', 'dead', clock_timestamp() + make_interval(secs => %s), 1)",
            (STUDY, item, vendor, lease),
        )


@pytest.fixture
def stores(pg_url: str) -> Any:
    opened = [PostgresResultStore.open(pg_url, lease=30) for _ in range(2)]
    yield opened
    for store in opened:
        store.close()


def open_study(
    box: Sandbox, host: PluginHost, store: PostgresResultStore, manifest: Manifest
) -> None:
    """The study as a run opens it, so rows can be claimed before any run starts."""
    with engine(box, host) as idle:
        prepare_study(idle, manifest, store, settings())


def test_two_workers_send_each_pair_once(
    box: Sandbox, host: PluginHost, manifest: Manifest, stores: list[PostgresResultStore]
) -> None:
    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    for vendor in VENDORS:  # slow enough that the two workers overlap
        box.app(vendor).faults.inject("latency=0.02")
    first, second = run(*(compare(box, host, manifest, store, concurrency=3) for store in stores))
    wanted = pairs(manifest)
    assert first.sent + second.sent == len(wanted)
    assert first.sent
    assert second.sent
    assert sum(sim.served() for sim in sims.values()) == len(wanted)
    assert stores[0].attempts(STUDY) == dict.fromkeys(wanted, 1)
    results = stores[1].results(STUDY)
    assert Counter((r.item, r.system) for r in results) == Counter(dict.fromkeys(wanted, 1))
    for summary in (first, second):
        assert summary.busy == summary.done_elsewhere
        assert summary.busy_left == summary.interrupted_resent == 0


def test_a_busy_pair_is_revisited_until_the_other_worker_stores_it(
    box: Sandbox, host: PluginHost, manifest: Manifest, stores: list[PostgresResultStore]
) -> None:
    mine, other = stores
    open_study(box, host, other, manifest)
    row = manifest.rows[3].id
    assert other.claim(STUDY, row, LINKFACE).value == "new"
    answer = Result(STUDY, row, LINKFACE, Role.OFFLINE, "accept", 5.0, 1.0)
    later = threading.Timer(0.5, other.add, (answer,))
    later.start()
    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    (summary,) = run(compare(box, host, manifest, mine))
    later.join()
    total = len(pairs(manifest))
    assert summary == CompareSummary(sent=total - 1, busy=1, done_elsewhere=1)
    assert sum(sim.served() for sim in sims.values()) == total - 1
    assert mine.attempts(STUDY)[row, LINKFACE] == 1


@pytest.mark.parametrize("resend", [True, False], ids=["resend", "skip-interrupted"])
def test_a_dead_workers_pair_is_taken_over_once_its_lease_lapses(
    box: Sandbox,
    host: PluginHost,
    manifest: Manifest,
    stores: list[PostgresResultStore],
    pg_server: PgServer,
    pg_schema: str,
    caplog: pytest.LogCaptureFixture,
    resend: bool,
) -> None:
    mine = stores[0]
    open_study(box, host, mine, manifest)
    row = manifest.rows[0].id
    held_by_a_dead_worker(pg_server, pg_schema, row, TENCENT, lease=0.5)
    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    with caplog.at_level(logging.WARNING, "kycmux.compare"):
        (summary,) = run(compare(box, host, manifest, mine, resend_interrupted=resend))
    total = len(pairs(manifest))
    if resend:
        assert summary == CompareSummary(sent=total, busy=1, interrupted_resent=1)
        assert sims[TENCENT].served() == len(manifest.rows)
        assert "re-sending rows an earlier run left in flight" in caplog.text
        assert mine.attempts(STUDY)[row, TENCENT] == 2
        assert mine.interrupted(STUDY) == set()
    else:
        assert summary == CompareSummary(sent=total - 1, busy=1, interrupted_skipped=1)
        assert sims[TENCENT].served() == len(manifest.rows) - 1
        assert mine.interrupted(STUDY) == {(row, TENCENT)}


def test_pairs_still_busy_when_the_wait_runs_out_are_left_and_counted(
    box: Sandbox, host: PluginHost, manifest: Manifest, stores: list[PostgresResultStore]
) -> None:
    mine, other = stores
    open_study(box, host, other, manifest)
    row = manifest.rows[-1].id
    other.claim(STUDY, row, TENCENT)  # a live worker that does not finish in time
    seen: list[tuple[str, bool]] = []

    async def main() -> CompareSummary:
        async with engine(box, host) as running:
            return await run_comparison(
                running,
                manifest,
                mine,
                settings(busy_wait=0.6),
                progress=lambda vendor, result, skipped: seen.append((vendor, skipped)),
            )

    summary = asyncio.run(main())
    total = len(pairs(manifest))
    assert summary == CompareSummary(sent=total - 1, busy=1, busy_left=1)
    assert len(seen) == total  # every pair reported once, the one left as skipped
    assert seen.count((TENCENT, True)) == 1
    assert mine.busy(STUDY) == {(row, TENCENT)}
