"""SqliteResultStore: results survive a round trip, claims stop double sends across runs."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kycmux.exceptions import ConfigError, KycmuxError
from kycmux.results import (
    CheckResult,
    Claim,
    Label,
    Result,
    ResultStore,
    Role,
    SqliteResultStore,
)
from kycmux.results._sqlite import SCHEMA_VERSION
from support.results import STUDY, result


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "out" / "results.sqlite"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteResultStore]:
    with SqliteResultStore.open(path) as opened:
        opened.open_study(STUDY, kind="offline", meta={"vendors": ["linkface", "tencent_legacy"]})
        yield opened


def test_is_a_result_store(store: SqliteResultStore) -> None:
    assert isinstance(store, ResultStore)


def test_results_round_trip_with_checks_labels_and_record(
    store: SqliteResultStore, path: Path
) -> None:
    full = result(
        "r1",
        label=Label.SPOOF,
        truth={"liveness": "spoof", "face_match": "genuine"},
        subject="hmac-sha256:abc",
        reasons=("liveness:linkface:fail",),
        error_classes=("timeout",),
        checks={
            "liveness": CheckResult("fail", "linkface", "hack_score", 0.91, "attack"),
            "face_match": CheckResult("pass", "linkface", "verify_score", 0.88, "similarity", 1e-5),
        },
        calls=2,
        possibly_billed=True,
        record={"request_id": "q1", "checks": [{"check": "liveness"}]},
    )
    bare = result("r2", system="tencent_legacy", outcome="error", label=None)
    store.add(full)
    store.add(bare)
    store.close()

    with SqliteResultStore.open(path) as again:
        stored = again.results(STUDY)

    assert stored == [full, bare]
    assert stored[0].record == full.record  # not part of equality, so checked on its own
    assert stored[0].checks["face_match"].far == 1e-5
    assert stored[1].label is None
    assert stored[0].truth == {"liveness": Label.SPOOF, "face_match": Label.GENUINE}
    assert stored[0].truth_for("face_match") is Label.GENUINE
    assert stored[1].truth == {}


def test_a_result_stored_before_per_check_truth_reads_its_truth_from_the_label() -> None:
    old = result("r1", label=Label.IMPOSTOR).to_dict()
    del old["truth"]
    read = Result.from_dict(old)
    assert read.truth == {}
    assert (read.truth_for("liveness"), read.truth_for("face_match")) == (
        Label.GENUINE,
        Label.IMPOSTOR,
    )


def test_a_truth_a_check_cannot_have_is_refused() -> None:
    with pytest.raises(ValueError, match="'impostor' is not a truth of check 'liveness'"):
        result("r1", truth={"liveness": "impostor"})


def test_results_come_back_in_insertion_order(store: SqliteResultStore) -> None:
    items = ["r3", "r1", "r2"]
    for item in items:
        store.add(result(item))
    assert [r.item for r in store.results(STUDY)] == items


def test_role_filter(store: SqliteResultStore) -> None:
    store.add(result("q1", system="live", role=Role.LIVE))
    store.add(result("q1", system="linkface", role=Role.SHADOW))
    store.add(result("q2", system="live", role=Role.LIVE))

    assert [(r.item, r.system) for r in store.results(STUDY, role=Role.LIVE)] == [
        ("q1", "live"),
        ("q2", "live"),
    ]
    assert [r.system for r in store.results(STUDY, role=Role.SHADOW)] == ["linkface"]
    assert store.results(STUDY, role=Role.OFFLINE) == []
    assert len(store.results(STUDY)) == 3


def test_add_replaces_the_earlier_result_and_moves_it_last(store: SqliteResultStore) -> None:
    store.add(result("r1", outcome="error"))
    store.add(result("r2"))
    store.add(result("r1", outcome="reject"))

    stored = store.results(STUDY)
    assert [(r.item, r.outcome) for r in stored] == [("r2", "accept"), ("r1", "reject")]
    assert store.done(STUDY) == {("r1", "linkface"), ("r2", "linkface")}


def test_results_are_per_study(store: SqliteResultStore) -> None:
    store.open_study("other", kind="offline", meta={})
    store.add(result("r1"))
    store.add(result("r1", study="other", outcome="reject"))
    assert [r.outcome for r in store.results(STUDY)] == ["accept"]
    assert [r.outcome for r in store.results("other")] == ["reject"]
    assert store.results("nobody") == []


def test_claim_new_then_done_survives_reopening(store: SqliteResultStore, path: Path) -> None:
    assert store.claim(STUDY, "r1", "linkface") is Claim.NEW
    assert store.claim(STUDY, "r1", "tencent_legacy") is Claim.NEW
    store.add(result("r1"))
    store.close()

    with SqliteResultStore.open(path) as again:
        assert again.claim(STUDY, "r1", "linkface") is Claim.DONE
        assert again.claim(STUDY, "r1", "linkface") is Claim.DONE
        assert again.done(STUDY) == {("r1", "linkface")}
        assert again.interrupted(STUDY) == {("r1", "tencent_legacy")}


def test_claim_without_result_is_interrupted_after_reopening(
    store: SqliteResultStore, path: Path
) -> None:
    assert store.claim(STUDY, "r1", "linkface") is Claim.NEW
    store.close()  # the run died between sending and storing

    with SqliteResultStore.open(path) as again:
        assert again.interrupted(STUDY) == {("r1", "linkface")}
        assert again.claim(STUDY, "r1", "linkface") is Claim.INTERRUPTED
        again.add(result("r1"))
        assert again.claim(STUDY, "r1", "linkface") is Claim.DONE
        assert again.interrupted(STUDY) == set()


def test_claims_of_a_study_do_not_count_as_results(store: SqliteResultStore) -> None:
    store.claim(STUDY, "r1", "linkface")
    assert store.results(STUDY) == []
    assert store.done(STUDY) == set()


@pytest.mark.parametrize("connections", [1, 2])
def test_concurrent_claims_give_exactly_one_new(path: Path, connections: int) -> None:
    """Threads sharing one store, or two stores on one file (as two processes would)."""
    stores = [SqliteResultStore.open(path) for _ in range(connections)]
    stores[0].open_study(STUDY, kind="offline", meta={})
    threads, start = 12, threading.Barrier(12)
    claims: list[Claim] = []
    lock = threading.Lock()

    def claim(n: int) -> None:
        start.wait()
        got = stores[n % connections].claim(STUDY, "r1", "linkface")
        with lock:
            claims.append(got)

    workers = [threading.Thread(target=claim, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for opened in stores:
        opened.close()

    assert claims.count(Claim.NEW) == 1
    assert claims.count(Claim.INTERRUPTED) == threads - 1


def test_open_study_creates_once_and_keeps_its_meta(store: SqliteResultStore) -> None:
    first = store.study(STUDY)
    again = store.open_study(STUDY, kind="offline", meta={"vendors": ["changed"]})

    assert first is not None
    assert again == first
    assert again.meta == {"vendors": ["linkface", "tencent_legacy"]}
    assert store.study("missing") is None


def test_open_study_with_another_kind_fails(store: SqliteResultStore) -> None:
    with pytest.raises(ConfigError, match="offline") as caught:
        store.open_study(STUDY, kind="experiment", meta={})
    assert STUDY in caught.value.key


def test_studies_oldest_first(store: SqliteResultStore) -> None:
    store.open_study("b-second", kind="experiment", meta={"arms": 2})
    store.open_study("a-third", kind="offline", meta={})
    studies = store.studies()
    assert [s.name for s in studies] == [STUDY, "b-second", "a-third"]
    assert studies[1].kind == "experiment"
    assert studies[1].meta == {"arms": 2}


def test_unknown_study_is_refused(store: SqliteResultStore) -> None:
    with pytest.raises(ConfigError, match="open_study"):
        store.claim("nope", "r1", "linkface")
    with pytest.raises(ConfigError, match="open_study"):
        store.add(result("r1", study="nope"))


def test_uses_wal_and_a_schema_version(store: SqliteResultStore, path: Path) -> None:
    store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    finally:
        conn.close()


def test_a_newer_schema_is_refused(store: SqliteResultStore, path: Path) -> None:
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ConfigError, match="schema 99"):
        SqliteResultStore.open(path)


def test_another_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()

    with pytest.raises(ConfigError, match="not a kycmux result store") as caught:
        SqliteResultStore.open(other)

    assert caught.value.key == str(other)
    conn = sqlite3.connect(other)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert tables == {"things"}


def test_a_garbage_file_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "results.sqlite"
    garbage.write_bytes(b"these are not the results you are looking for\n" * 100)
    with pytest.raises(ConfigError, match="not a kycmux result store"):
        SqliteResultStore.open(garbage)


def test_closed_store_refuses_calls(store: SqliteResultStore) -> None:
    with store:
        pass
    store.close()  # closing twice is fine
    with pytest.raises(KycmuxError, match="closed"):
        store.results(STUDY)
    with pytest.raises(KycmuxError, match="closed"):
        store.claim(STUDY, "r1", "linkface")


def test_open_creates_missing_folders(path: Path) -> None:
    assert not path.parent.exists()
    SqliteResultStore.open(path).close()
    assert path.is_file()
