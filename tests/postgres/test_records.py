"""Decision records in PostgreSQL: one append-only row per decision, never in a decision's way.

The engine decides over fake vendors (no network); the records go to a real server. "Never
delays a decision" is checked as a bound far above a decision's own time here (milliseconds)
and far below what waiting for the database would cost (seconds, or for ever).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
import pytest

from kycmux import (
    Arm,
    Config,
    Engine,
    EngineSettings,
    Evidence,
    HttpClient,
    PluginHost,
    Secret,
    SplitExperiment,
    VendorConfig,
)
from kycmux._records._postgres import PostgresRecordSink
from kycmux.exceptions import ConfigError
from kycmux.results import PostgresResultStore
from kycmux.testing import CANARY, Rig, make_rig, policy
from support.pg_server import PgServer, free_port

pytestmark = pytest.mark.anyio

FAST = 0.5  # seconds: a decision here takes milliseconds; waiting on the database, seconds


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-1", id_number="11010519491231002X")


def make_engine(rig: Rig, **settings: Any) -> Engine:
    """An engine over the rig's fake vendors, with the ``[engine]`` ``settings`` given."""
    host = PluginHost()
    for name, vendor in rig.vendors.items():
        host.register(vendor, name)
    vendors = {
        name: VendorConfig(name, f"https://{name}.example.com", {"token": Secret(CANARY)})
        for name in rig.vendors
    }
    config = Config(vendors=vendors, engine=EngineSettings(**settings))
    http = HttpClient.create(async_transport=httpx.MockTransport(rig.handle))
    return Engine.from_config(
        config, host=host, http=http, clock=rig.clock, policies=[policy()], record_key=b"k"
    )


async def timed_decisions(engine: Engine, evidence: Evidence, count: int) -> list[float]:
    took = []
    for _ in range(count):
        began = time.monotonic()
        await engine.verify(evidence)
        took.append(time.monotonic() - began)
    return took


def rows(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    query = "SELECT request_id, outcome, policy, record::text FROM kycmux_records ORDER BY seq"
    return conn.execute(query).fetchall()


@pytest.fixture
def admin(pg_server: PgServer, pg_schema: str) -> Iterator[psycopg.Connection[Any]]:
    with pg_server.admin(pg_schema) as conn:
        yield conn


@pytest.fixture
async def sink(pg_url: str) -> AsyncIterator[PostgresRecordSink]:
    opened = PostgresRecordSink.open(pg_url)
    yield opened
    opened.close(timeout=1)


async def test_one_row_per_decision_from_the_engine_settings(
    pg_url: str, evidence: Evidence, admin: psycopg.Connection[Any]
) -> None:
    engine = make_engine(make_rig(), records=pg_url)
    async with engine:
        decisions = [await engine.verify(evidence) for _ in range(5)]
    # Closing drained the queue: every record is there, once, as the decision made it.
    stored = rows(admin)
    assert [(r[0], r[1], r[2]) for r in stored] == [
        (d.request_id, d.outcome.value, "p") for d in decisions
    ]
    for row, decision in zip(stored, decisions, strict=True):
        assert json.loads(row[3]) == json.loads(json.dumps(decision.record.to_dict()))
    versions = admin.execute("SELECT component, version FROM kycmux_schema").fetchall()
    assert versions == [("records", 2)]
    indexed = admin.execute(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'kycmux_records'"
    ).fetchall()
    for column in ("request_id", "started_at", "outcome", "policy"):
        assert any(f"({column}" in text for (text,) in indexed), column


async def test_the_table_refuses_updates_deletes_and_truncation(
    sink: PostgresRecordSink, evidence: Evidence, admin: psycopg.Connection[Any]
) -> None:
    engine = make_engine(make_rig())
    engine.add_sink(sink)
    async with engine:
        await engine.verify(evidence)
    assert sink.flush(5)
    before = rows(admin)
    assert len(before) == 1
    for statement in (
        "UPDATE kycmux_records SET outcome = 'accept'",
        "DELETE FROM kycmux_records",
        "DELETE FROM kycmux_records WHERE false",  # refused even when nothing matches
        "TRUNCATE kycmux_records",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            admin.execute(statement)  # type: ignore[arg-type]
    assert rows(admin) == before


async def test_a_slow_database_never_delays_a_decision(
    sink: PostgresRecordSink, evidence: Evidence, admin: psycopg.Connection[Any]
) -> None:
    engine = make_engine(make_rig())
    engine.add_sink(sink)
    async with engine:
        # Another session holds the table: every write waits, as on an overloaded server.
        with admin.transaction():
            admin.execute("LOCK TABLE kycmux_records IN ACCESS EXCLUSIVE MODE")
            took = await timed_decisions(engine, evidence, 20)
            assert not sink.flush(0.3)  # the writer is stuck behind the lock...
        # ...and catches up once it is released.
        assert max(took) < FAST
        await engine.drain()
    assert len(rows(admin)) == 20
    assert (sink.written, sink.lost) == (20, 0)
    assert sink.batches < 20  # what queued up while it waited went in one batch


async def test_a_full_queue_loses_the_newest_records_and_counts_them(
    pg_url: str, evidence: Evidence, admin: psycopg.Connection[Any], caplog: Any
) -> None:
    small = PostgresRecordSink.open(pg_url + "&kycmux_queue_size=3")
    assert small.queue_size == 3
    engine = make_engine(make_rig())
    engine.add_sink(small, owned=True)
    with caplog.at_level(logging.WARNING, "kycmux.records"):
        async with engine:
            with admin.transaction():
                admin.execute("LOCK TABLE kycmux_records IN ACCESS EXCLUSIVE MODE")
                took = await timed_decisions(engine, evidence, 12)
                await until(lambda: small.pending + small.lost == 12)  # all handed over
                lost, waiting = small.lost, small.pending
            await engine.drain()
    assert max(took) < FAST
    # The writer's batch and the queue's 3 were kept; the newer ones were dropped, counted.
    assert lost == 12 - waiting
    assert 3 <= waiting <= 3 + small.batch_size
    assert (small.written, small.lost, small.pending) == (waiting, lost, 0)
    assert len(rows(admin)) == waiting
    # One warning at the first loss (they are rate-limited), the whole count on closing.
    assert "decision records: 1 lost so far (the queue is full" in caplog.text
    assert f"decision records: {lost} lost in all, {waiting} written" in caplog.text


async def until(condition: Any, timeout: float = 10.0) -> None:
    """Wait for ``condition()`` (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        await anyio.sleep(0.01)


async def test_a_stopped_database_never_delays_a_decision_and_records_wait_for_it(
    pg_server: PgServer, evidence: Evidence, caplog: Any
) -> None:
    own = PgServer(pg_server.bindir)  # a server of its own, to stop and start again
    own.start()
    try:
        url = own.url()
        engine = make_engine(make_rig(), records=url)
        with caplog.at_level(logging.WARNING, "kycmux.records"):
            async with engine:
                await engine.verify(evidence)
                await engine.drain()
                own.stop()
                took = await timed_decisions(engine, evidence, 20)
                own.start()  # same folder and port: it comes back
                await engine.drain()  # waits for the writer to get through
        assert max(took) < FAST
        assert "cannot be reached" in caplog.text or "failed" in caplog.text
        with psycopg.connect(url) as conn:
            count = conn.execute("SELECT count(*) FROM kycmux_records").fetchone()
        assert count == (21,)
    finally:
        own.stop(remove=True)


async def test_an_unreachable_server_at_start_is_not_an_error_and_the_password_is_hidden(
    evidence: Evidence, caplog: Any
) -> None:
    secret = "pw-canary-77x"
    url = f"postgresql://kyc:{secret}@127.0.0.1:{free_port()}/kyc?connect_timeout=1"
    settings = Config.from_mapping(
        {"engine": {"records": "${KYC_RECORDS_URL}"}}, {}, {"KYC_RECORDS_URL": url}
    ).engine
    assert repr(settings) == (
        "EngineSettings(policy=None, records=${KYC_RECORDS_URL}, results=None, "
        "async_backend='aiohttp', state_namespace='kycmux', state_timeout=0.5, "
        "inline_hooks=True)"
    )
    with caplog.at_level(logging.DEBUG):
        engine = make_engine(make_rig(), records=settings.records)
        async with engine:
            took = await timed_decisions(engine, evidence, 3)
            (sink,) = [s for s, owned in engine._observers.sinks.sinks if owned]
            assert isinstance(sink, PostgresRecordSink)
            shown = repr(sink)
            await until(lambda: sink.pending == 3)
            sink.close(timeout=0.1)  # still away: what is queued is lost, and counted
    assert max(took) < FAST
    assert "postgresql://kyc:***@127.0.0.1" in shown
    assert "cannot be reached" in caplog.text
    assert "***" in caplog.text
    assert secret not in caplog.text + shown
    assert (sink.lost, sink.pending, sink.written) == (3, 0, 0)
    assert "3 lost so far (the sink closed before the database took them)" in caplog.text


async def test_someone_elses_or_a_newer_records_table_is_refused(
    pg_url: str, admin: psycopg.Connection[Any]
) -> None:
    admin.execute("CREATE TABLE kycmux_records (id int)")
    with pytest.raises(ConfigError, match="has a table kycmux_records that kycmux did not"):
        PostgresRecordSink.open(pg_url)
    admin.execute("DROP TABLE kycmux_records")
    PostgresRecordSink.open(pg_url).close()
    admin.execute("UPDATE kycmux_schema SET version = 3 WHERE component = 'records'")
    with pytest.raises(ConfigError, match="records table schema 3 is newer than this kycmux"):
        make_engine(make_rig(), records=pg_url)


async def test_live_experiment_results_go_to_postgresql_too(pg_url: str, png_file: Path) -> None:
    arms = (Arm("to_alpha", 1, vendors=("alpha",)), Arm("to_beta", 1, vendors=("beta",)))
    engine = make_engine(make_rig(), results=pg_url)
    engine.add_experiment(SplitExperiment("ab", "p", arms))
    arm = {}
    async with engine:
        for n in range(6):
            decision = await engine.verify(Evidence(selfie=png_file, subject_id=f"s{n}"))
            assert decision.record.experiment is not None
            arm[decision.request_id] = decision.record.experiment["arm"]
    with PostgresResultStore.open(pg_url) as store:
        study = store.study("ab")
        assert study is not None
        assert study.kind == "experiment"
        assert {r.item: r.system for r in store.results("ab")} == arm
