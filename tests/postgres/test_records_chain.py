"""The records chain in PostgreSQL: one chain across replicas, ``kycmux records`` reading the
table, and ``--verify`` naming the row of an edit, a deletion or a reordering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from click.testing import CliRunner, Result

from kycmux import DecisionRecord, Evidence
from kycmux._model._privacy import keyed_hash
from kycmux._postgres._schema import prepare
from kycmux._postgres._target import PgTarget
from kycmux._records._postgres import SCHEMA, PostgresRecordSink
from kycmux.cli._main import main
from kycmux.cli._records import BROKEN
from kycmux.testing import make_rig

pytestmark = pytest.mark.anyio

KEY = b"chain-key"


@pytest.fixture
def admin(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    conn = psycopg.connect(PgTarget.parse(pg_url).conninfo(), autocommit=True)
    yield conn
    conn.close()


@pytest.fixture
def config(pg_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "kycmux.toml"
    path.write_text(
        f'[engine]\nrecords = "{pg_url}"\nrecord_key = "${{KYCMUX_RECORD_KEY}}"\n',
        encoding="utf-8",
    )
    return path


def _record(n: int, outcome: str = "accept") -> DecisionRecord:
    return DecisionRecord(
        request_id=f"req-{n}",
        started_at=1_700_000_000.0 + n,
        duration_ms=10.0 + n / 4,
        policy="default",
        policy_hash="h",
        subject=keyed_hash(KEY, f"subject-{n % 2}"),
        evidence={"selfie": "file"},
        outcome=outcome,
        reasons=("all_checks_passed",) if outcome == "accept" else ("not_live",),
        explanation="Because.",
    )


def _write(url: str, records: list[DecisionRecord], key: bytes | None = KEY) -> None:
    sink = PostgresRecordSink.open(url, key=key)
    for record in records:
        sink.on_decision(record)
        assert sink.flush(30)
    sink.close()
    assert sink.lost == 0


def _records(config: Path, *args: str, key: bytes = KEY) -> Result:
    env = {"KYCMUX_RECORD_KEY": key.decode()}
    return CliRunner().invoke(main, ["records", "--config", str(config), *args], env=env)


def test_replicas_share_one_chain_and_records_reads_it_back(pg_url: str, config: Path) -> None:
    one = PostgresRecordSink.open(pg_url, key=KEY)
    two = PostgresRecordSink.open(pg_url, key=KEY)
    for n in range(6):
        sink = one if n % 2 else two
        sink.on_decision(_record(n, "reject" if n == 3 else "accept"))
        assert sink.flush(30)
    one.close()
    two.close()

    verified = _records(config, "--verify")
    assert verified.exit_code == 0, verified.output
    assert "6 chained records, intact" in verified.stdout
    lines = _records(config, "--json").stdout.splitlines()
    assert [json.loads(line)["chain"]["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    rejected = _records(config, "--json", "--outcome", "reject").stdout.splitlines()
    assert [json.loads(line)["request_id"] for line in rejected] == ["req-3"]
    mine = _records(config, "--json", "--subject", "subject-1").stdout.splitlines()
    assert [json.loads(line)["request_id"] for line in mine] == ["req-1", "req-3", "req-5"]
    shown = _records(config, "show", "req-3")
    assert shown.stdout.startswith("REJECT  request req-3")


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            "UPDATE kycmux_records SET record = jsonb_set(record, '{outcome}', '\"reject\"')"
            " WHERE seq = 3",
            "row seq 3 (request req-2): edited",
        ),
        ("DELETE FROM kycmux_records WHERE seq = 3", "row seq 4 (request req-3): deleted"),
        (
            # Rows 2 and 3 swap places (their contents, chain and all).
            "UPDATE kycmux_records AS r SET record = o.record, request_id = o.request_id,"
            " chain_seq = o.chain_seq, chain_prev = o.chain_prev, chain_hash = o.chain_hash"
            " FROM kycmux_records AS o WHERE (r.seq, o.seq) IN ((2, 3), (3, 2))",
            "row seq 2 (request req-2): reordered",
        ),
    ],
    ids=["edited", "deleted", "reordered"],
)
def test_verify_names_the_row_tampered_with(
    pg_url: str, config: Path, admin: psycopg.Connection[Any], tamper: str, expected: str
) -> None:
    _write(pg_url, [_record(n) for n in range(5)])
    assert _records(config, "--verify").exit_code == 0
    # Only the database owner can: the append-only trigger must be disabled first.
    admin.execute("ALTER TABLE kycmux_records DISABLE TRIGGER kycmux_records_append_only")
    admin.execute(tamper)
    result = _records(config, "--verify")
    assert result.exit_code == BROKEN, result.output
    assert expected in result.stdout


def test_rows_of_schema_1_come_before_the_chain(pg_url: str, config: Path) -> None:
    with psycopg.connect(PgTarget.parse(pg_url).conninfo(), autocommit=True) as conn:
        prepare(conn, attrs.evolve(SCHEMA, migrations=SCHEMA.migrations[:1]), pg_url)
        conn.execute(
            "INSERT INTO kycmux_records (request_id, started_at, outcome, policy, record)"
            " VALUES ('old', now(), 'accept', 'default', %s)",
            (json.dumps(_record(0).to_dict()),),
        )
    _write(pg_url, [_record(n) for n in range(1, 4)])
    refused = _records(config, "--verify")
    assert refused.exit_code == BROKEN, refused.output
    assert "1 records from before the chain began (not protected" in refused.stdout
    result = _records(config, "--verify", "--allow-unchained")
    assert result.exit_code == 0, result.output
    assert "1 records from before the chain began" in result.stdout
    assert "3 chained records, intact" in result.stdout
    assert len(_records(config, "--json").stdout.splitlines()) == 4


async def test_the_engine_chains_its_records_with_the_record_key(
    pg_url: str, config: Path, png_file: Path
) -> None:
    from postgres.test_records import make_engine

    rig = make_rig()
    engine = make_engine(rig, records=pg_url)  # record_key b"k"
    async with engine:
        for n in range(3):
            await engine.verify(Evidence(selfie=png_file, subject_id=f"s{n}"))
    result = _records(config, "--verify", key=b"k")
    assert result.exit_code == 0, result.output
    assert "3 chained records, intact" in result.stdout
    assert _records(config, "--verify").exit_code == BROKEN  # another key: no link holds


def test_follow_sees_a_row_written_after_it_started(pg_url: str, config: Path) -> None:
    import os
    import subprocess
    import sys

    _write(pg_url, [_record(0)])
    command = [sys.executable, "-m", "kycmux.cli", "records", "--config", str(config)]
    follow = [*command, "--json", "--follow", "--interval", "0.1", "--seconds", "60"]
    env = {**os.environ, "KYCMUX_RECORD_KEY": KEY.decode()}
    with subprocess.Popen(
        follow, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stderr is not None
            assert json.loads(process.stdout.readline())["request_id"] == "req-0"
            assert "following" in process.stderr.readline()
            _write(pg_url, [_record(1)])
            assert json.loads(process.stdout.readline())["request_id"] == "req-1"
        finally:
            process.terminate()
