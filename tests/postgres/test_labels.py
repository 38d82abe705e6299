"""Ground truth after the fact on PostgreSQL: a schema-1 store is migrated with its data kept,
and ``kycmux label`` over a ``postgresql://`` URL lays truth (per check too) over results."""

from __future__ import annotations

from pathlib import Path

import attrs
from click.testing import CliRunner

from kycmux._postgres._schema import prepare
from kycmux.cli._main import main
from kycmux.results import Label, PostgresResultStore
from kycmux.results._postgres import SCHEMA
from support.pg_server import PgServer
from support.results import STUDY, result


def test_a_schema_1_store_is_migrated_and_labelled_from_the_cli(
    pg_server: PgServer, pg_schema: str, pg_url: str, tmp_path: Path
) -> None:
    # The store as the release before labels left it: migration 1 only.
    first = attrs.evolve(
        SCHEMA,
        tables=tuple(t for t in SCHEMA.tables if t != "kycmux_labels"),
        migrations=SCHEMA.migrations[:1],
    )
    with pg_server.admin(pg_schema) as conn:
        assert prepare(conn, first, "test") == 0
    with PostgresResultStore.open(pg_url, lease=30) as store:
        store.open_study(STUDY, kind="offline", meta={"vendors": ["linkface"]})
        store.add(result("q1", system="linkface"))
        store.add(result("q2", system="linkface"))
    with pg_server.admin(pg_schema) as conn:
        versions = conn.execute("SELECT component, version FROM kycmux_schema").fetchall()
    assert versions == [("results", 2)]

    labels = tmp_path / "review.jsonl"
    labels.write_text(
        '{"request_id": "q1", "liveness": "spoof", "face_match": "genuine"}\n'
        '{"request_id": "zz", "label": "genuine"}\n',
        encoding="utf-8",
    )
    args = ["label", str(labels), "--results", pg_url, "--study", STUDY]
    done = CliRunner().invoke(main, args, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "1 labelled" in done.output
    assert "zz" in done.output
    with PostgresResultStore.open(pg_url, lease=30) as store:
        found = {r.item: r for r in store.results(STUDY)}
    assert found["q1"].label is Label.SPOOF
    assert found["q1"].truth_for("liveness") is Label.SPOOF
    assert found["q1"].truth_for("face_match") is Label.GENUINE
    assert found["q2"].label is result("q2", system="linkface").label  # untouched
