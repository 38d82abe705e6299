"""The decision benchmark (``benchmarks/decision.py``) runs end to end in a tiny mode.

No figure is asserted (the machine is shared; the harness reports, it does not judge here):
only that every client ran against the loopback vendor, every target got a row with a
verdict, and the JSON carries the same rows.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
TINY = ["--quick", "--seconds", "0.2", "--warmup", "0.05", "--sizes", "10000",
        "--in-flight", "1", "--import-runs", "1", "--profile"]  # fmt: skip
TARGETS = {
    "req/s engine ÷ aiohttp from files",
    "req/s engine ÷ aiohttp from bytes",
    "CPU/decision beyond the raw send",
    "p99 engine ÷ aiohttp from files",
    "failover past an open breaker: CPU added",
    "failover past an open breaker: p50 added",
    "Redis store: p99 added",
    "Redis store: round trips/decision",
    "peak RSS added by the uploads",
    "req/s verify_sync ÷ requests",
    "import kycmux ÷ import httpx",
}


@pytest.fixture(scope="module")
def decision() -> Iterator[ModuleType]:
    """``benchmarks/decision.py`` by its path: ``decision`` is also ``tests/decision``."""
    spec = importlib.util.spec_from_file_location(
        "kycmux_bench_decision", BENCHMARKS / "decision.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)  # puts benchmarks/ on sys.path for its own modules
        yield module
    finally:
        sys.path[:] = saved


@pytest.fixture(scope="module")
def report(decision: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    printed = io.StringIO()
    assert decision.main([*TINY, "--json", str(out)], out=printed) == 0
    return printed.getvalue(), json.loads(out.read_text())


def test_every_target_has_a_row_with_a_verdict(report: tuple[str, dict]) -> None:
    text, _ = report
    rows = [line for line in text.splitlines() if line.rstrip().endswith(("PASS", "SHORT"))]
    assert {name for name in TARGETS if any(name in row for row in rows)} == TARGETS
    # One cell: each per-cell target once, the sync ratio once (one size).
    assert len(rows) == len(TARGETS)


def test_every_client_answered_and_the_table_is_printed(report: tuple[str, dict]) -> None:
    text, results = report
    assert "Engine.verify req/s ÷ hand-written aiohttp upload from files" in text
    kinds = {cell["kind"] for cell in results["cells"]}
    assert kinds == {"engine", "aiohttp_files", "aiohttp_bytes", "httpx"}
    measured = [
        *results["cells"],
        *results["failover"].values(),
        *results["redis"].values(),
        *results["sync"],
    ]
    assert all(m["ops"] > 0 for m in measured)
    assert results["redis"]["redis"]["round_trips"] > 0  # the store was really used


def test_the_json_carries_the_printed_targets(report: tuple[str, dict]) -> None:
    text, results = report
    assert {t["target"] for t in results["targets"]} == TARGETS
    assert all(t["verdict"] in ("PASS", "SHORT") for t in results["targets"])
    assert "cProfile of the event-loop thread" in results["profile"]
    assert "cProfile" in text
    assert "MainThread" in results["thread_cpu"]  # the engine's CPU split by thread
    assert "CPU per decision by thread" in text
