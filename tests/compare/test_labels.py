"""Label files, labels in the SQLite store (and its migration from schema 1), provenance."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kycmux.exceptions import ConfigError
from kycmux.results import GroundTruth, Label, LabelStore, SqliteResultStore, read_label_file
from kycmux.results._provenance import AnswerSource, Provenance, answer_source
from kycmux.results._sqlite import _MIGRATIONS, APPLICATION_ID
from support.results import STUDY, result


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteResultStore]:
    with SqliteResultStore.open(tmp_path / "results.sqlite") as opened:
        opened.open_study(STUDY, kind="experiment", meta={})
        yield opened


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- label files ----------------------------------------------------------------------------------


def test_csv_and_jsonl_give_the_same_truths(tmp_path: Path) -> None:
    csv_file = _write(
        tmp_path / "l.csv",
        "request_id,label,liveness,face_match\nq1,genuine,,\nq2,,spoof,\nq3,impostor,genuine,impostor\n",
    )
    jsonl = _write(
        tmp_path / "l.jsonl",
        '{"request_id": "q1", "label": "genuine"}\n'
        '{"request_id": "q2", "liveness": "spoof"}\n\n'
        '{"request_id": "q3", "liveness": "genuine", "face_match": "impostor"}\n',
    )
    expected = [
        GroundTruth("q1", Label.GENUINE),
        GroundTruth("q2", Label.SPOOF, {"liveness": Label.SPOOF}),
        GroundTruth(
            "q3", Label.IMPOSTOR, {"liveness": Label.GENUINE, "face_match": Label.IMPOSTOR}
        ),
    ]
    assert list(read_label_file(csv_file)) == expected
    assert list(read_label_file(jsonl)) == expected


def test_every_bad_line_is_named_by_line_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.csv",
        "request_id,label,liveness,face_match\n"
        "q1,maybe,,\n"  # line 2: label
        ",genuine,,\n"  # line 3: request_id
        "q3,genuine,spoof,\n"  # line 4: contradiction
        "q4,,,\n"  # line 5: nothing given
        "q5,,impostor,\n"  # line 6: liveness cannot be impostor
        "q6,genuine,,\nq6,spoof,,\n",  # line 8: the same id with another truth
    )
    with pytest.raises(ConfigError) as caught:
        read_label_file(path)
    message = str(caught.value)
    for expected in (
        "bad.csv:2: label: must be one of genuine, impostor, spoof",
        "bad.csv:3: request_id: must be a non-empty string",
        "bad.csv:4: label: genuine contradicts the per-check truth",
        "bad.csv:5: label: give label or at least one check's truth",
        "bad.csv:6: liveness: must be one of genuine, spoof or empty",
        "bad.csv:8: request_id: given earlier with another truth",
    ):
        assert expected in message
    assert "6 problem(s)" in message


def test_unknown_columns_and_a_missing_id_column_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"l\.csv:1.*request_id: the header"):
        read_label_file(_write(tmp_path / "l.csv", "id,label\nq1,genuine\n"))
    with pytest.raises(ConfigError, match="name: not a known field"):
        read_label_file(
            _write(tmp_path / "n.jsonl", '{"request_id": "q", "label": "spoof", "name": "x"}\n')
        )
    with pytest.raises(ConfigError, match=r"must be \.csv, \.jsonl or \.json"):
        read_label_file(_write(tmp_path / "l.txt", "q1 genuine\n"))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_any_file_content_gives_truths_or_a_config_error(tmp_path: Path, text: str) -> None:
    for suffix in (".csv", ".jsonl"):
        path = tmp_path / f"fuzz{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            truths = read_label_file(path)
        except ConfigError:
            continue  # the typed refusal; anything else fails the test
        assert all(isinstance(t, GroundTruth) for t in truths)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.dictionaries(
        st.text("abcdef0123456789-", min_size=1, max_size=12),
        st.sampled_from(["genuine", "impostor", "spoof"]),
        max_size=20,
    )
)
def test_written_truths_read_back(tmp_path: Path, rows: dict[str, str]) -> None:
    path = tmp_path / "round.jsonl"
    path.write_text(
        "".join(json.dumps({"request_id": k, "label": v}) + "\n" for k, v in rows.items()),
        encoding="utf-8",
    )
    assert {t.item: t.label.value for t in read_label_file(path)} == rows


# -- the store ------------------------------------------------------------------------------------


def test_labels_are_laid_over_results_idempotently(store: SqliteResultStore) -> None:
    assert isinstance(store, LabelStore)
    store.add(result("q1", system="live", label=None))
    store.add(result("q1", system="linkface"))
    store.add(result("q2", system="live"))
    truths = [GroundTruth("q1", Label.SPOOF), GroundTruth("zz", Label.GENUINE)]
    first = store.set_labels(STUDY, truths, source="review.csv")
    assert (first.applied, first.unchanged, first.unknown) == (1, 0, ("zz",))
    again = store.set_labels(STUDY, truths, source="review.csv")
    assert (again.applied, again.unchanged, again.unknown) == (0, 1, ("zz",))
    labels = {(r.item, r.system): r.label for r in store.results(STUDY)}
    assert labels == {
        ("q1", "live"): Label.SPOOF,
        ("q1", "linkface"): Label.SPOOF,
        ("q2", "live"): None,
    }
    # A later finding replaces the earlier truth.
    changed = store.set_labels(STUDY, [GroundTruth("q1", Label.GENUINE)], source="fraud.csv")
    assert changed.applied == 1
    assert store.labels(STUDY)["q1"].label is Label.GENUINE
    # A result stored after the label (a shadow finishing late) gets it too.
    store.add(result("q1", system="late"))
    assert {r.label for r in store.results(STUDY) if r.item == "q1"} == {Label.GENUINE}


def test_per_check_truth_learnt_later_reaches_each_check(store: SqliteResultStore) -> None:
    """A row found to be a spoof for liveness while genuine for face match is judged so by
    each check, not by what the whole-row label implies."""
    store.add(result("q1", system="live"))
    truth = GroundTruth("q1", Label.SPOOF, {"liveness": Label.SPOOF, "face_match": "genuine"})
    store.set_labels(STUDY, [truth], source="review.csv")
    (found,) = store.results(STUDY)
    assert found.truth_for("liveness") is Label.SPOOF
    assert found.truth_for("face_match") is Label.GENUINE  # a spoof label alone says nothing


def test_labels_of_an_unknown_study_are_refused(store: SqliteResultStore) -> None:
    with pytest.raises(ConfigError, match="open_study"):
        store.set_labels("nope", [GroundTruth("q", Label.SPOOF)], source="x")


def test_a_schema_1_store_is_migrated_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(_MIGRATIONS[0])
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO studies (name, kind, created_at, meta) VALUES (?, 'offline', 1.0, '{}')",
        (STUDY,),
    )
    row = result("q1")
    conn.execute(
        "INSERT INTO results (study, item, system, state, role, outcome, recorded_at, payload)"
        " VALUES (?, 'q1', 'linkface', 'done', 'offline', 'accept', 1.0, ?)",
        (STUDY, json.dumps(row.to_dict())),
    )
    conn.commit()
    conn.close()
    with SqliteResultStore.open(path) as store:
        assert store.results(STUDY) == [row]
        assert store.set_labels(STUDY, [GroundTruth("q1", Label.SPOOF)], source="x").applied == 1
        assert store.results(STUDY)[0].label is Label.SPOOF
        info = store.study(STUDY)
    assert info is not None
    # A study from before provenance was recorded says so rather than guessing.
    provenance = Provenance.of(info.meta)
    assert (provenance.label, provenance.known) == ("unknown", False)
    assert "not recorded" in provenance.statement()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()


# -- provenance -----------------------------------------------------------------------------------


def test_loopback_vendors_are_simulators() -> None:
    assert answer_source("http://127.0.0.1:8080/") is AnswerSource.SIMULATOR
    assert answer_source("http://[::1]:9/x") is AnswerSource.SIMULATOR
    assert answer_source("https://api.vendor.example/") is AnswerSource.VENDOR


def test_provenance_statements() -> None:
    meta = {"source": {"answers": {"a": "simulator", "b": "simulator"}, "data": "synthetic"}}
    assert Provenance.of(meta).statement() == (
        "Simulated vendors, synthetic data: this ranks the simulators, not the vendors."
    )
    mixed = {"source": {"answers": {"a": "simulator", "b": "vendor"}, "data": "manifest"}}
    assert Provenance.of(mixed).statement().startswith("Partly simulated (a answered")
    real = {"source": {"answers": {"a": "vendor"}, "data": "traffic"}}
    assert (Provenance.of(real).statement(), Provenance.of(real).label) == ("", "live")
    junk = {"source": {"answers": {"a": "guess"}, "data": 3}}
    assert Provenance.of(junk).label == "unknown"
