"""``kycmux records`` end to end: decisions made by ``kycmux verify`` against the simulators,
read back, filtered, explained, followed and verified from the records file they left.

No raw subject id, ID number, name or credential may appear in any output (canaries).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from engine.e2e_support import LINKFACE, TENCENT, parse_exports
from kycmux import DecisionRecord, JsonLinesSink
from kycmux._model._privacy import keyed_hash
from kycmux.cli._exits import VERIFY_EXIT
from kycmux.cli._main import main
from kycmux.cli._records import BROKEN
from kycmux.simkit import Sandbox
from kycmux.synthetic import DemoSet

KEY = "records-cli-test-key"
SUBJECT = "customer-7781"


@pytest.fixture
def setup(box: Sandbox, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A config reaching the simulators, writing chained records to ``records.jsonl``."""
    config = tmp_path / "kycmux.toml"
    records = tmp_path / "records.jsonl"
    engine = f'\n[engine]\nrecords = "{records}"\nrecord_key = "${{KYCMUX_RECORD_KEY}}"\n'
    config.write_text(box.toml() + engine, encoding="utf-8")
    env = {**parse_exports(box.exports()), "KYCMUX_RECORD_KEY": KEY}
    return config, env


def _run(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def _decide(config: Path, env: dict[str, str], demo: DemoSet, *args: str) -> dict[str, Any]:
    result = _run(["verify", "--config", str(config), "--json", *args], env)
    record: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == VERIFY_EXIT[record["outcome"]], result.output
    return record


@pytest.fixture
def decided(
    setup: tuple[Path, dict[str, str]], demo: DemoSet
) -> tuple[Path, dict[str, str], list[dict[str, Any]]]:
    """Three decisions by ``kycmux verify``: an accept with a subject, an accept by video, a
    reject (the wrong name for the ID number)."""
    config, env = setup
    me, other = demo.subject, demo.impostor
    made = [
        _decide(
            config, env, demo,
            "--selfie", str(demo["selfie"]),
            "--liveness-data", str(demo["live_liveness_data"]),
            "--id-number", me.id_number, "--id-name", me.name, "--subject", SUBJECT,
        ),
        _decide(
            config, env, demo,
            "--selfie", str(demo["selfie"]),
            "--liveness-data", str(demo["live_liveness_data"]),
            "--vendor", LINKFACE,
        ),
        _decide(
            config, env, demo,
            "--selfie", str(demo["selfie"]), "--id-number", me.id_number,
            "--id-name", other.name, "--policy", "default", "--vendor", TENCENT,
        ),
    ]  # fmt: skip
    return config, env, made


def _records(config: Path, env: dict[str, str], *args: str) -> Result:
    return _run(["records", "--config", str(config), *args], env)


def _json_lines(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _canaries(env: dict[str, str], demo: DemoSet) -> list[str]:
    people = (demo.subject.id_number, demo.subject.name, demo.impostor.name)
    return [SUBJECT, *people, *(v for v in env.values() if len(v) >= 8)]


def test_what_verify_wrote_reads_back_through_every_filter(
    decided: tuple[Path, dict[str, str], list[dict[str, Any]]], demo: DemoSet
) -> None:
    config, env, made = decided
    ids = [r["request_id"] for r in made]
    assert [r["outcome"] for r in made] == ["accept", "accept", "reject"]

    everything = _json_lines(_records(config, env, "--json"))
    assert [r["request_id"] for r in everything] == ids
    for back, original in zip(everything, made, strict=True):
        assert back.pop("chain")["seq"] == made.index(original) + 1
        assert back == original

    def ids_of(*args: str) -> list[str]:
        return [r["request_id"] for r in _json_lines(_records(config, env, "--json", *args))]

    assert ids_of("--outcome", "reject") == [ids[2]]
    assert ids_of("--outcome", "reject", "--outcome", "accept") == ids
    assert ids_of("--vendor", TENCENT) == [ids[0], ids[2]]
    assert ids_of("--request-id", ids[1]) == [ids[1]]
    assert ids_of("--subject", SUBJECT) == [ids[0]]
    assert ids_of("--subject", "someone-else") == []
    assert ids_of("--since", "1h") == ids
    assert ids_of("--until", "1h") == []
    assert ids_of("--since", "2000-01-01T00:00", "--until", "2100-01-01") == ids
    reason = made[2]["reasons"][0]
    assert ids_of("--reason", reason) == [ids[2]]

    results = [
        _records(config, env),
        _records(config, env, "--subject", SUBJECT),
        _records(config, env, "--subject", SUBJECT, "--json"),
        _records(config, env, "show", ids[0]),
        _records(config, env, "--explain"),
        _records(config, env, "--verify"),
    ]
    for result in results:
        assert result.exit_code == 0, result.output
        leaked = [c[:6] + "..." for c in _canaries(env, demo) if c in result.output]
        assert not leaked, leaked
    table = results[0].stdout
    assert all(rid in table for rid in ids)
    assert max(len(line) for line in table.splitlines()) <= 80


def test_show_explains_one_decision(
    decided: tuple[Path, dict[str, str], list[dict[str, Any]]],
) -> None:
    config, env, made = decided
    result = _records(config, env, "show", made[2]["request_id"])
    assert result.exit_code == 0, result.output
    out = result.stdout.replace("\n", " ")  # wrapped at 80 columns
    assert out.startswith(f"REJECT  request {made[2]['request_id']}")
    assert made[2]["explanation"] in out
    assert f"asked {TENCENT} (primary, id_registry_match): identity_mismatch in" in out
    assert "ms, HTTP 200" in out
    missing = _records(config, env, "show", "no-such-request")
    assert missing.exit_code == 1
    assert "no record of request 'no-such-request'" in missing.output


def test_verify_reports_an_edit_a_deletion_and_a_reordering_at_their_line(
    decided: tuple[Path, dict[str, str], list[dict[str, Any]]],
) -> None:
    config, env, made = decided
    path = config.parent / "records.jsonl"
    intact = _records(config, env, "--verify")
    assert intact.exit_code == 0, intact.output
    assert "3 chained records, intact" in intact.stdout
    head = intact.stdout.split("head ")[1].split()[0]
    assert head.startswith("3:")
    assert _records(config, env, "--verify", "--anchor", head).exit_code == 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    ids = [r["request_id"] for r in made]

    edited = lines.copy()
    edited[1] = (
        edited[1]
        .replace('"outcome":"accept"', '"outcome":"reject"')
        .replace('"outcome": "accept"', '"outcome": "reject"')
    )
    assert edited[1] != lines[1]
    cases = {
        "edited": (edited, f"line 2 (request {ids[1]}): edited"),
        "deleted": ([lines[0], lines[2]], f"line 2 (request {ids[2]}): deleted: record seq 2"),
        "reordered": ([lines[0], lines[2], lines[1]], f"line 2 (request {ids[2]}): reordered"),
    }
    for kind, (content, expected) in cases.items():
        path.write_text("".join(content), encoding="utf-8")
        result = _records(config, env, "--verify")
        assert result.exit_code == BROKEN, (kind, result.output)
        assert expected in result.stdout, (kind, result.stdout)

    # Cutting the newest record leaves a valid chain: only the anchor kept from before shows it.
    path.write_text("".join(lines[:2]), encoding="utf-8")
    assert _records(config, env, "--verify").exit_code == 0
    cut = _records(config, env, "--verify", "--anchor", head)
    assert cut.exit_code == BROKEN
    assert "anchor 3: missing or different" in cut.stdout


def test_usage_errors_exit_2(setup: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    config, env = setup
    unkeyed = tmp_path / "unkeyed.toml"
    unkeyed.write_text(f'[engine]\nrecords = "{tmp_path / "r.jsonl"}"\n', encoding="utf-8")
    assert _records(unkeyed, env, "--verify").exit_code == 2
    assert _records(unkeyed, env, "--subject", SUBJECT).exit_code == 2
    assert _records(config, env, "--since", "yesterday").exit_code == 2
    assert _records(tmp_path / "missing.toml", env).exit_code == 2
    norecords = tmp_path / "none.toml"
    norecords.write_text("[engine]\n", encoding="utf-8")
    assert _records(norecords, env).exit_code == 2


def test_follow_sees_a_record_appended_after_it_started(
    setup: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    config, env = setup
    path = config.parent / "records.jsonl"
    sink = JsonLinesSink(path, key=KEY.encode())
    sink.on_decision(_record("before"))
    sink.flush()
    command = [sys.executable, "-m", "kycmux.cli", "records", "--config", str(config)]
    follow = [*command, "--json", "--follow", "--interval", "0.1", "--seconds", "60"]
    with subprocess.Popen(
        follow,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stderr is not None
            assert json.loads(process.stdout.readline())["request_id"] == "before"
            assert "following" in process.stderr.readline()  # it polls from here on
            sink.on_decision(_record("after"))
            sink.close()
            assert json.loads(process.stdout.readline())["request_id"] == "after"
        finally:
            process.terminate()
    verified = _records(config, env, "--verify")
    assert "2 chained records, intact" in verified.stdout


def _record(request_id: str) -> DecisionRecord:
    return DecisionRecord(
        request_id=request_id,
        started_at=1_700_000_000.0,
        duration_ms=12.5,
        policy="default",
        policy_hash="h",
        subject=keyed_hash(KEY.encode(), SUBJECT),
        evidence={"selfie": "file"},
        outcome="accept",
        reasons=("all_checks_passed",),
        explanation="All checks passed.",
    )
