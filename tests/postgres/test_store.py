"""PostgresResultStore on a real server: its schema, refusals, results as SQLite keeps them."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import psycopg
import pytest

from kycmux import EngineSettings
from kycmux.exceptions import ConfigError, KycmuxError
from kycmux.results import (
    CheckResult,
    Claim,
    Label,
    PostgresResultStore,
    ResultStore,
    Role,
    SqliteResultStore,
    open_result_store,
)
from support.pg_server import PgServer, free_port
from support.results import STUDY, result


@pytest.fixture
def store(pg_url: str) -> Iterator[PostgresResultStore]:
    with PostgresResultStore.open(pg_url, lease=30) as opened:
        opened.open_study(STUDY, kind="offline", meta={"vendors": ["linkface", "tencent_legacy"]})
        yield opened


def tables(pg_server: PgServer, schema: str) -> set[str]:
    with pg_server.admin() as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
    return {name for (name,) in rows}


def test_creates_its_versioned_tables_in_the_urls_schema(
    store: PostgresResultStore, pg_server: PgServer, pg_schema: str
) -> None:
    assert isinstance(store, ResultStore)
    assert tables(pg_server, pg_schema) == {
        "kycmux_schema",
        "kycmux_studies",
        "kycmux_results",
        "kycmux_labels",
    }
    with pg_server.admin(pg_schema) as conn:
        versions = conn.execute("SELECT component, version FROM kycmux_schema")
        assert versions.fetchall() == [("results", 2)]
        # Nothing went to public: the URL's search_path chose the schema.
        assert not conn.execute("SELECT to_regclass('public.kycmux_results')").fetchone()[0]


def test_reopening_keeps_the_data(store: PostgresResultStore, pg_url: str) -> None:
    store.add(result("r1"))
    with PostgresResultStore.open(pg_url) as again:
        assert [r.item for r in again.results(STUDY)] == ["r1"]


def test_a_newer_schema_is_refused(
    store: PostgresResultStore, pg_url: str, pg_server: PgServer, pg_schema: str
) -> None:
    with pg_server.admin(pg_schema) as conn:
        conn.execute("UPDATE kycmux_schema SET version = 7")
    with pytest.raises(ConfigError, match="result store schema 7 is newer than this kycmux"):
        PostgresResultStore.open(pg_url)


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        ("CREATE TABLE kycmux_results (id int)", "has a table kycmux_results that kycmux"),
        ("CREATE TABLE kycmux_schema (component text)", "kycmux_schema that kycmux did not"),
    ],
    ids=["foreign-results-table", "foreign-versions-table"],
)
def test_someone_elses_tables_are_refused_and_left_alone(
    pg_url: str, pg_server: PgServer, pg_schema: str, ddl: str, message: str
) -> None:
    with pg_server.admin(pg_schema) as conn:
        conn.execute(ddl)
    before = tables(pg_server, pg_schema)
    with pytest.raises(ConfigError, match=message):
        PostgresResultStore.open(pg_url)
    assert tables(pg_server, pg_schema) == before


def test_results_read_back_exactly_as_from_sqlite(
    store: PostgresResultStore, tmp_path: Path
) -> None:
    stored = [
        result(
            "r1",
            label=Label.SPOOF,
            subject="hmac-sha256:abc",
            reasons=("liveness:linkface:fail",),
            error_classes=("timeout",),
            checks={
                "liveness": CheckResult("fail", "linkface", "hack_score", 0.91, "attack"),
                "face_match": CheckResult("pass", "linkface", "verify", 0.88, "similarity", 1e-5),
            },
            calls=2,
            possibly_billed=True,
            record={"request_id": "q1", "zeta": 1.0, "alpha": [{"b": 2, "a": 0.1}], "n": None},
        ),
        result("r2", system="tencent_legacy", outcome="error", latency_ms=0.000123),
        result("q1", system="live", role=Role.LIVE, label=Label.GENUINE),
        result("r1", outcome="reject"),  # replaces the first: moves last
    ]
    with SqliteResultStore.open(tmp_path / "results.sqlite") as sqlite:
        sqlite.open_study(STUDY, kind="offline", meta={"vendors": ["linkface", "tencent_legacy"]})
        for each in stored:
            sqlite.add(each)
            store.add(each)
        mine_study, their_study = store.study(STUDY), sqlite.study(STUDY)
        assert mine_study is not None
        assert their_study is not None
        assert attrs.evolve(mine_study, created_at=0) == attrs.evolve(their_study, created_at=0)
        assert list(mine_study.meta) == list(their_study.meta)
        for role in (None, Role.LIVE, Role.OFFLINE):
            mine, theirs = store.results(STUDY, role=role), sqlite.results(STUDY, role=role)
            assert mine == theirs
            assert [r.to_dict() for r in mine] == [r.to_dict() for r in theirs]
            # Same key order too, everywhere: reports iterate these dicts.
            assert [list(r.to_dict()["record"] or {}) for r in mine] == [
                list(r.to_dict()["record"] or {}) for r in theirs
            ]
            assert [list(r.checks) for r in mine] == [list(r.checks) for r in theirs]
        assert store.done(STUDY) == sqlite.done(STUDY)


def test_studies_oldest_first_and_kinds_are_kept_apart(store: PostgresResultStore) -> None:
    store.open_study("summer", kind="experiment", meta={"b": 1, "a": {"d": 2, "c": 3}})
    assert [s.name for s in store.studies()] == [STUDY, "summer"]
    summer = store.study("summer")
    assert summer is not None
    assert list(summer.meta) == ["a", "b"]
    assert store.study("nobody") is None
    with pytest.raises(ConfigError, match="exists as a 'experiment' study"):
        store.open_study("summer", kind="offline", meta={})


def test_unknown_study_is_refused(store: PostgresResultStore) -> None:
    with pytest.raises(ConfigError, match="study nobody: does not exist in this store"):
        store.claim("nobody", "r1", "linkface")
    with pytest.raises(ConfigError, match="study nobody: does not exist"):
        store.add(result("r1", study="nobody"))


def test_closed_store_refuses_calls(store: PostgresResultStore) -> None:
    store.close()
    store.close()
    with pytest.raises(KycmuxError, match="is closed"):
        store.results(STUDY)


def test_the_password_is_never_shown(pg_server: PgServer) -> None:
    secret = "s3cret-pw-4u"
    url = f"postgresql://postgres:{secret}@127.0.0.1:{free_port()}/x?connect_timeout=1"
    with pytest.raises(ConfigError) as caught:
        PostgresResultStore.open(url)
    assert secret not in str(caught.value)
    assert "postgresql://postgres:***@127.0.0.1" in str(caught.value)
    assert "cannot open the result store" in str(caught.value)
    as_parameter = f"postgresql://127.0.0.1:{free_port()}/x?password={secret}&connect_timeout=1"
    with pytest.raises(ConfigError) as caught:
        open_result_store(as_parameter)
    assert secret not in str(caught.value)
    assert "password=***" in str(caught.value)
    # The engine's settings show it masked too; a ${VAR} reference shows the variable only.
    shown = repr(EngineSettings(records=url, results=as_parameter))
    assert secret not in shown
    assert "postgres:***@" in shown
    # And the server (trust authentication here) accepts a URL with a password; repr hides it.
    with PostgresResultStore.open(pg_server.url().replace("postgres@", f"postgres:{secret}@")) as s:
        assert secret not in repr(s)
        assert "***" in repr(s)


def test_open_result_store_chooses_by_scheme(pg_url: str, tmp_path: Path) -> None:
    with open_result_store(pg_url) as shared:
        assert isinstance(shared, PostgresResultStore)
    with open_result_store(tmp_path / "r.sqlite") as local:
        assert isinstance(local, SqliteResultStore)
    with pytest.raises(ConfigError, match="a SQLite file path or a postgresql:// URL"):
        open_result_store("mysql://user:pw@host/db")


def test_without_psycopg_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigError, match=r"pip install 'kycmux\[postgres\]'"):
        open_result_store(pg_url)


# claims ------------------------------------------------------------------------------------


def test_claims_new_done_busy_and_interrupted(store: PostgresResultStore, pg_url: str) -> None:
    assert store.claim(STUDY, "r1", "linkface") is Claim.NEW
    assert store.claim(STUDY, "r2", "linkface") is Claim.NEW
    with PostgresResultStore.open(pg_url, lease=30) as other:
        # Another live worker's pairs: busy, and nothing is marked.
        assert other.claim(STUDY, "r1", "linkface") is Claim.BUSY
        assert other.busy(STUDY) == {("r1", "linkface"), ("r2", "linkface")}
        assert other.interrupted(STUDY) == set()
        store.add(result("r1"))
        assert other.claim(STUDY, "r1", "linkface") is Claim.DONE
        # The store's own unfinished claim (a run of its own it cancelled): interrupted.
        assert store.interrupted(STUDY) == {("r2", "linkface")}
        assert store.claim(STUDY, "r2", "linkface") is Claim.INTERRUPTED
    assert store.attempts(STUDY) == {("r1", "linkface"): 1, ("r2", "linkface"): 2}
    assert store.claim(STUDY, "r1", "linkface") is Claim.DONE
    assert store.results(STUDY) == [result("r1")]


def test_a_dead_workers_claim_lapses_after_its_lease(
    store: PostgresResultStore, pg_url: str, pg_server: PgServer, pg_schema: str
) -> None:
    # A worker that claimed and died: nobody renews its lease (here: 0.5 s).
    with pg_server.admin(pg_schema) as conn:
        conn.execute(
            "INSERT INTO kycmux_results"
            " (study, item, system, state, owner, lease_until, attempts)"
            " VALUES (%s, 'r1', 'linkface', 'pending', 'dead',"
            " clock_timestamp() + interval '0.5 s', 1)",
            (STUDY,),
        )
    assert store.claim(STUDY, "r1", "linkface") is Claim.BUSY
    deadline = time.monotonic() + 10
    while (got := store.claim(STUDY, "r1", "linkface")) is Claim.BUSY:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert got is Claim.INTERRUPTED
    assert store.attempts(STUDY) == {("r1", "linkface"): 2}
    with PostgresResultStore.open(pg_url) as other:
        assert other.claim(STUDY, "r1", "linkface") is Claim.BUSY  # now the live store's


def test_a_live_store_renews_its_claims_past_the_lease(pg_url: str) -> None:
    with (
        PostgresResultStore.open(pg_url, lease=0.6) as mine,
        PostgresResultStore.open(pg_url, lease=0.6) as other,
    ):
        mine.open_study(STUDY, kind="offline", meta={})
        assert mine.claim(STUDY, "r1", "linkface") is Claim.NEW
        time.sleep(1.0)  # two and a half leases: renewed meanwhile
        assert other.claim(STUDY, "r1", "linkface") is Claim.BUSY
        mine.close()  # a clean stop lapses its claims at once: others take them over
        assert other.claim(STUDY, "r1", "linkface") is Claim.INTERRUPTED


def test_an_invalid_lease_is_refused(pg_url: str) -> None:
    with pytest.raises(ConfigError, match="lease: must be a number of seconds"):
        PostgresResultStore.open(pg_url, lease=0)


def test_broken_connections_are_replaced_after_a_server_restart(
    store: PostgresResultStore, pg_server: PgServer
) -> None:
    store.add(result("r1"))
    with pg_server.admin() as conn:  # every other session dies, as in a restart
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
    assert [r.item for r in store.results(STUDY)] == ["r1"]
    assert store.claim(STUDY, "r2", "linkface") is Claim.NEW


def test_the_claims_table_is_plain_sql(store: PostgresResultStore, pg_url: str) -> None:
    """What an operator sees: one row per pair, its state, owner and attempts."""
    store.claim(STUDY, "r1", "linkface")
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT state, owner, attempts, lease_until > now() FROM kycmux_results"
        ).fetchone()
    assert row == ("pending", store.owner, 1, True)
