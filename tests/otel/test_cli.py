"""``OTEL_TRACES_EXPORTER=console kycmux verify ...``: the spans printed, end to end.

The real command in its own process (the SDK's providers are process-wide), against the
sandbox's simulators, with the installed plugin found through its entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.e2e_support import parse_exports
from kycmux.simkit import Sandbox
from kycmux.synthetic import DemoSet


def _verify(box: Sandbox, demo: DemoSet, tmp_path: Path, **otel: str) -> tuple[str, str]:
    config = tmp_path / "kycmux.toml"
    config.write_text(box.toml(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(parse_exports(box.exports()), **otel)
    me = demo.subject
    args = [
        "verify", "--config", str(config),
        "--selfie", str(demo["selfie"]),
        "--liveness-data", str(demo["live_liveness_data"]),
        "--id-number", me.id_number,
        "--id-name", me.name,
        "--json",
    ]  # fmt: skip
    code = "from kycmux.cli._launch import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def _spans(stdout: str) -> list[dict[str, Any]]:
    """The console exporter's spans: JSON objects with a ``context``, after the record."""
    decoder = json.JSONDecoder()
    found, at = [], 0
    while (start := stdout.find("{", at)) != -1:
        value, at = decoder.raw_decode(stdout, start)
        if isinstance(value, dict) and "context" in value and "name" in value:
            found.append(value)
    return found


def test_console_exporter_prints_the_decision_and_its_attempts(
    box: Sandbox, demo: DemoSet, tmp_path: Path
) -> None:
    stdout, stderr = _verify(
        box, demo, tmp_path, OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="kyc-test"
    )
    spans = _spans(stdout)
    names = sorted(s["name"] for s in spans)
    assert names == ["kycmux.attempt", "kycmux.attempt", "kycmux.decision"], stdout
    (decision,) = (s for s in spans if s["name"] == "kycmux.decision")
    assert decision["attributes"]["kycmux.outcome"] == "accept"
    assert decision["resource"]["attributes"]["service.name"] == "kyc-test"
    for attempt in (s for s in spans if s["name"] == "kycmux.attempt"):
        assert attempt["parent_id"] == decision["context"]["span_id"]
        assert attempt["attributes"]["http.response.status_code"] == 200
    me = demo.subject
    for canary in (me.id_number, me.name, *box.env.values()):
        assert canary not in stdout
        assert canary not in stderr


@pytest.mark.parametrize(
    "otel",
    [{}, {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}],
    ids=["no environment", "sdk disabled"],
)
def test_without_an_exporter_named_nothing_is_printed(
    box: Sandbox, demo: DemoSet, tmp_path: Path, otel: dict[str, str]
) -> None:
    stdout, _ = _verify(box, demo, tmp_path, **otel)
    assert json.loads(stdout)["outcome"] == "accept"  # the record, and nothing else
    assert _spans(stdout) == []
