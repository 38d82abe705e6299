"""Separate ``kycmux verify`` processes sharing one Redis: lockout and breakers hold across them.

The real command line in child processes, the real plugins against their simulators on
loopback, a real ``redis-server``: what a team running several replicas gets.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from kycmux import PluginHost
from kycmux.cli._exits import VERIFY_EXIT
from kycmux.simkit import Sandbox, run_sandbox
from kycmux.synthetic import DemoSet, write_demo_set
from support.redis_server import RedisServer

LINKFACE, TENCENT = "linkface", "tencent_legacy"
_CLI = "from kycmux.cli._launch import main; main()"


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, DemoSet]]:
    host = PluginHost.from_entry_points()
    with run_sandbox(host, [LINKFACE, TENCENT], caller_challenges=True) as box:
        yield box, write_demo_set(tmp_path_factory.mktemp("evidence"))


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


def _config(box: Sandbox, path: Path, extra: str = "") -> dict[str, str]:
    """Write the configuration every process reads; return the environment they share."""
    path.write_text(
        box.toml()
        + extra
        + f"""
[engine]
state = "${{KYCMUX_REDIS_URL}}"
state_namespace = "{uuid.uuid4().hex[:12]}"
record_key = "${{KYCMUX_RECORD_KEY}}"

[policies.video]
deadline = 10.0
liveness = {{ vendors = ["{TENCENT}"] }}
lockout = {{ limit = 2 }}

[policies.sdk]
deadline = 10.0
liveness = {{ vendors = ["{LINKFACE}"] }}
""",
        encoding="utf-8",
    )
    return {**box.env, "KYCMUX_RECORD_KEY": secrets.token_hex(16)}


def _verify_all(
    config: Path, env: dict[str, str], runs: Sequence[Sequence[str]]
) -> list[dict[str, Any]]:
    """Run one ``kycmux verify`` process per entry of ``runs``, all at once."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CLI, "verify", "--config", str(config), "--json", *args],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for args in runs
    ]
    records = []
    for child in children:
        out, err = child.communicate(timeout=60)
        record = json.loads(out)
        # verify's exit status is its outcome (0 accept, 10 reject...).
        assert child.returncode == VERIFY_EXIT[record["outcome"]], err.decode(errors="replace")
        records.append(record)
    return records


def test_a_subject_locked_by_some_processes_is_locked_in_another(
    stage: tuple[Sandbox, DemoSet], server: RedisServer, tmp_path: Path
) -> None:
    box, demo = stage
    config = tmp_path / "kycmux.toml"
    env = {**_config(box, config), "KYCMUX_REDIS_URL": server.url}
    video = ["--policy", "video", "--digits", demo.digits, "--subject", "mallory"]
    spoofs = _verify_all(config, env, [[*video, "--video", str(demo["spoof_video"])]] * 2)
    assert [r["outcome"] for r in spoofs] == ["reject"] * 2
    (genuine,) = _verify_all(config, env, [[*video, "--video", str(demo["live_video"])]])
    assert genuine["reasons"] == ["subject_locked"]
    assert genuine["attempts"] == []
    # The same genuine capture for a subject nobody failed for is accepted.
    other = [*video[:-1], "alice", "--video", str(demo["live_video"])]
    (accepted,) = _verify_all(config, env, [other])
    assert accepted["outcome"] == "accept", accepted["explanation"]


def test_without_a_shared_store_each_process_counts_alone(
    stage: tuple[Sandbox, DemoSet], tmp_path: Path
) -> None:
    """The control: what the shared store fixes (issue: spoofs spread over replicas)."""
    box, demo = stage
    config = tmp_path / "kycmux.toml"
    env = _config(box, config)
    config.write_text(
        config.read_text(encoding="utf-8").replace('state = "${KYCMUX_REDIS_URL}"\n', ""),
        encoding="utf-8",
    )
    video = ["--policy", "video", "--digits", demo.digits, "--subject", "mallory"]
    spoofs = _verify_all(config, env, [[*video, "--video", str(demo["spoof_video"])]] * 2)
    assert [r["outcome"] for r in spoofs] == ["reject"] * 2
    (genuine,) = _verify_all(config, env, [[*video, "--video", str(demo["live_video"])]])
    assert genuine["outcome"] == "accept"


def test_a_breaker_opened_by_some_processes_is_open_in_another(
    stage: tuple[Sandbox, DemoSet], server: RedisServer, tmp_path: Path
) -> None:
    box, demo = stage
    config = tmp_path / "kycmux.toml"
    # Linkface's address has nothing listening: every call fails, counting against it.
    dead = f"http://127.0.0.1:{_closed_port()}"
    env = {**_config(box, config), "KYCMUX_REDIS_URL": server.url}
    text = config.read_text(encoding="utf-8")
    table = f"[vendors.{LINKFACE}]\n"
    start = text.index(table)
    line_start = text.index("base_url", start)
    line_end = text.index("\n", line_start)
    text = text[:line_start] + f'base_url = "{dead}"' + text[line_end:]
    text += f"""
[vendors.{LINKFACE}.resilience.breaker]
min_calls = 2
open_seconds = 600
"""
    config.write_text(text, encoding="utf-8")
    sdk = ["--policy", "sdk", "--selfie", str(demo["selfie"])]
    sdk += ["--liveness-data", str(demo["live_liveness_data"])]
    failing = _verify_all(config, env, [[*sdk, "--subject", "a"], [*sdk, "--subject", "b"]])
    assert all(r["outcome"] == "error" for r in failing)
    assert sum(len(r["attempts"]) for r in failing) >= 2
    (refused,) = _verify_all(config, env, [[*sdk, "--subject", "c"]])
    assert refused["outcome"] == "error"
    assert refused["attempts"] == []  # nothing sent: the breaker other processes opened
    assert "circuit_open" in json.dumps(refused)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
