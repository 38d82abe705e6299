"""Ways to rewrite a chained records file that an independent review found, each now shown."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from kycmux import DecisionRecord, JsonLinesSink
from kycmux._records._chain import verify_chain
from kycmux._records._file import read_entries
from kycmux.cli._main import main
from kycmux.cli._records import BROKEN, explain_record

KEY = "review-record-key-0123456789abcdef"


def _record(n: int, outcome: str = "reject") -> DecisionRecord:
    return DecisionRecord(
        request_id=f"req-{n}",
        started_at=1.7e9 + n,
        duration_ms=1.0,
        policy="default",
        policy_hash="h",
        subject=None,
        evidence={"selfie": "file"},
        outcome=outcome,
        reasons=("not_live",),
        explanation="not live",
    )


def _chained_file(tmp_path: Path, count: int = 5) -> tuple[Path, Path]:
    path = tmp_path / "decisions.jsonl"
    config = tmp_path / "kycmux.toml"
    config.write_text(
        f'[engine]\nrecords = "{path}"\nrecord_key = "${{REVIEW_KEY}}"\n', encoding="utf-8"
    )
    sink = JsonLinesSink(path, key=KEY.encode())
    for n in range(1, count + 1):
        sink.on_decision(_record(n))
    sink.close()
    return path, config


def _verify(config: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["records", "--config", str(config), "--verify", *extra],
        env={"REVIEW_KEY": KEY},
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout


def test_links_stripped_off_the_oldest_records_to_rewrite_them_break_the_chain(
    tmp_path: Path,
) -> None:
    path, config = _chained_file(tmp_path)
    assert _verify(config)[0] == 0
    lines = path.read_text(encoding="utf-8").splitlines()
    for i in (0, 1):  # the two oldest: the link dropped, the verdict flipped
        plain = json.loads(lines[i])
        plain.pop("chain")
        plain.update(outcome="accept", reasons=["all_checks_passed"], explanation="forged")
        lines[i] = json.dumps(plain, ensure_ascii=False, sort_keys=True)
    lines.insert(0, json.dumps({"request_id": "req-invented", "outcome": "accept"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    status, out = _verify(config)
    assert status == BROKEN, out
    assert "3 records from before the chain began (not protected" in out
    assert "the chain continues from seq 3" in out
    # Only the operator's word makes such records acceptable, and it is said.
    status, out = _verify(config, "--allow-unchained")
    assert status == 0, out


def test_a_file_cut_behind_the_writer_shows_as_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "decisions.jsonl"
    sink = JsonLinesSink(path, key=KEY.encode())
    for n in range(1, 6):
        sink.on_decision(_record(n))
    sink.flush()
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]))  # the two newest deleted, same file
    with caplog.at_level(logging.WARNING, logger="kycmux"):
        for n in (6, 7):
            sink.on_decision(_record(n, "accept"))
        sink.close()
    verdict = verify_chain(KEY.encode(), read_entries(path))
    assert [b.kind for b in verdict.breaks] == ["deleted"]
    assert "record seq 4-5 missing" in verdict.breaks[0].detail
    assert "shrank" in caplog.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
record_keys = st.sampled_from(
    ["outcome", "request_id", "checks", "attempts", "skipped", "shadow", "reasons", "hint"]
)


@given(st.dictionaries(record_keys, json_values, max_size=8))
def test_explaining_a_hand_edited_record_never_crashes(record: dict[str, Any]) -> None:
    console = Console(file=io.StringIO(), width=80)
    explain_record(console, record)
