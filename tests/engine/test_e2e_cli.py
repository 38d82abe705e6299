"""The ``kycmux`` command line end to end, through click's runner, against the simulators."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from engine.e2e_support import LINKFACE, LINKFACE_PATH, TENCENT, SimCounter, parse_exports
from kycmux import Config, PluginHost
from kycmux.cli._demo import steps
from kycmux.cli._main import main
from kycmux.exceptions import ConfigError
from kycmux.simkit import Sandbox
from kycmux.synthetic import DemoSet


@pytest.fixture
def cli_config(box: Sandbox, tmp_path: Path) -> Path:
    """A ``kycmux.toml`` reaching the session's simulators, written from ``box.toml()``."""
    path = tmp_path / "kycmux.toml"
    path.write_text(box.toml(), encoding="utf-8")
    return path


def _run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def _verify(config: Path, box: Sandbox, *args: str) -> Result:
    return _run(["verify", "--config", str(config), *args], env=parse_exports(box.exports()))


def _record(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    record: dict[str, Any] = json.loads(result.stdout)
    return record


def test_verify_prints_the_decision_record(box: Sandbox, cli_config: Path, demo: DemoSet) -> None:
    me = demo.subject
    result = _verify(
        cli_config,
        box,
        "--selfie", str(demo["selfie"]),
        "--liveness-data", str(demo["live_liveness_data"]),
        "--id-number", me.id_number,
        "--id-name", me.name,
        "--json",
    )  # fmt: skip
    record = _record(result)
    assert {"outcome", "checks", "attempts"} <= set(record)
    assert record["outcome"] == "accept", record["explanation"]
    assert {c["check"]: c["verdict"] for c in record["checks"]} == {
        "liveness": "pass",
        "face_match": "pass",
        "id_registry_match": "pass",
    }
    assert sorted((a["vendor"], tuple(a["checks"])) for a in record["attempts"]) == [
        (LINKFACE, ("face_match", "liveness")),
        (TENCENT, ("id_registry_match",)),
    ]
    for canary in (me.id_number, me.name, *box.env.values()):
        assert canary not in result.output


def test_verify_human_output(box: Sandbox, cli_config: Path, demo: DemoSet) -> None:
    result = _verify(
        cli_config,
        box,
        "--video", str(demo["wrong_digits_video"]),
        "--digits", demo.digits,
        "--card", str(demo["card_photo"]),
        "--check", "liveness",
        "--check", "face_match",
    )  # fmt: skip
    assert result.exit_code == 11, result.output  # retry_capture's own status
    assert "RETRY_CAPTURE" in result.output
    assert "Tell the user: Please read the digits shown on screen again" in result.output


SHADOW_TOML = """
[policies.video]
liveness = { vendors = ["tencent_legacy"] }
face_match = { vendors = ["tencent_legacy"], max_far = 1e-4 }

[experiments.try_linkface]
policy = "video"
shadow = "linkface"
max_delay = 4.0
"""


@pytest.mark.parametrize("consent", [True, False])
def test_verify_consent_gates_the_shadow_vendor(
    box: Sandbox, cli_config: Path, demo: DemoSet, consent: bool
) -> None:
    cli_config.write_text(box.toml() + SHADOW_TOML, encoding="utf-8")
    linkface = SimCounter(box, LINKFACE)
    result = _verify(
        cli_config,
        box,
        "--video", str(demo["live_video"]),
        "--digits", demo.digits,
        "--card", str(demo["card_photo"]),
        "--selfie", str(demo["selfie"]),
        "--liveness-data", str(demo["live_liveness_data"]),
        *(["--consent", "shadow_evaluation"] if consent else []),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ACCEPT" in result.output
    if consent:
        assert "shadow linkface (try_linkface): answered, would have said accept" in result.output
        assert linkface.served(LINKFACE_PATH) == 1
    else:
        assert "shadow linkface (try_linkface): no_consent" in result.output
        assert linkface.served() == 0


def test_verify_vendor_limits_the_decision_to_one_vendor(
    box: Sandbox, cli_config: Path, demo: DemoSet
) -> None:
    linkface = SimCounter(box, LINKFACE)
    result = _verify(
        cli_config,
        box,
        "--selfie", str(demo["selfie"]),
        "--liveness-data", str(demo["live_liveness_data"]),
        "--video", str(demo["live_video"]),
        "--digits", demo.digits,
        "--card", str(demo["card_photo"]),
        "--id-number", demo.subject.id_number,
        "--id-name", demo.subject.name,
        "--vendor", TENCENT,
        "--json",
    )  # fmt: skip
    record = _record(result)
    assert record["outcome"] == "accept", record["explanation"]
    assert {a["vendor"] for a in record["attempts"]} == {TENCENT}
    assert {c["check"] for c in record["checks"]} == {"liveness", "face_match", "id_registry_match"}
    assert not any(s["vendor"] == LINKFACE for s in record["skipped"])
    assert linkface.served() == 0


def test_verify_check_limits_the_checks(box: Sandbox, cli_config: Path, demo: DemoSet) -> None:
    tencent = SimCounter(box, TENCENT)
    result = _verify(
        cli_config,
        box,
        "--selfie", str(demo["selfie"]),
        "--liveness-data", str(demo["live_liveness_data"]),
        "--id-number", demo.subject.id_number,
        "--id-name", demo.subject.name,
        "--check", "liveness",
        "--json",
    )  # fmt: skip
    record = _record(result)
    assert record["outcome"] == "accept", record["explanation"]
    assert [c["check"] for c in record["checks"]] == ["liveness"]
    assert [a["vendor"] for a in record["attempts"]] == [LINKFACE]
    # The registry check was not asked for, so Tencent's idcardcompare was not called.
    assert tencent.served() == 0


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--selfie", "{selfie}", "--id-number", "610113199007103514"], "--id-number"),
        (["--selfie", "{missing}", "--liveness-data", "{data}"], "--selfie"),
        (["--video", "{video}", "--digits", "95-32"], "--digits"),
        (["--selfie", "{selfie}", "--liveness-data", "{video}", "--card", "{data}"], "--card"),
    ],
    ids=["id-checksum", "missing-file", "digits", "card-not-an-image"],
)
def test_verify_bad_input_exits_2_naming_the_option(
    box: Sandbox, cli_config: Path, demo: DemoSet, tmp_path: Path, args: list[str], option: str
) -> None:
    files = {
        "selfie": str(demo["selfie"]),
        "missing": str(tmp_path / "missing.png"),
        "data": str(demo["live_liveness_data"]),
        "video": str(demo["live_video"]),
    }
    before = {v: SimCounter(box, v) for v in (LINKFACE, TENCENT)}
    result = _verify(cli_config, box, *[a.format(**files) for a in args], "--json")
    assert result.exit_code == 2, result.output
    assert re.search(rf"Invalid value for '?{option}'?:", result.output), result.output
    assert all(counter.served() == 0 for counter in before.values())


def test_verify_without_config_is_a_usage_error(tmp_path: Path, demo: DemoSet) -> None:
    missing = tmp_path / "nowhere.toml"
    result = _run(["verify", "--config", str(missing), "--selfie", str(demo["selfie"])])
    assert result.exit_code == 2
    assert "configuration file not found" in result.output


def test_vendors_json_lists_both_plugins() -> None:
    result = _run(["vendors", "--json"])
    assert result.exit_code == 0, result.output
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert {LINKFACE, TENCENT} <= set(entries)
    for name, distribution in ((LINKFACE, "kycmux-linkface"), (TENCENT, "kycmux-tencent-legacy")):
        entry = entries[name]
        assert {"name", "distribution", "version", "checks"} <= set(entry)
        assert entry["distribution"] == distribution
        assert entry["version"]
        assert entry["simulator"] is True
    assert set(entries[TENCENT]["checks"]) == {"liveness", "face_match", "id_registry_match"}
    assert entries[TENCENT]["checks"]["id_registry_match"]["operation"] == "idcardcompare"
    assert set(entries[LINKFACE]["checks"]) == {"liveness", "face_match"}


def test_sandbox_writes_a_config_that_loads_with_the_printed_env(
    tmp_path: Path, sim_host: PluginHost
) -> None:
    folder = tmp_path / "sandbox"
    result = _run(["sandbox", "--seconds", "0.1", "--write", str(folder)])
    assert result.exit_code == 0, result.output
    env = parse_exports(result.stdout)
    assert env
    assert parse_exports((folder / "sandbox.env").read_text(encoding="utf-8")) == env
    config_file = folder / "kycmux.toml"
    config = Config.from_file(config_file, sim_host.vendors, env)
    assert {LINKFACE, TENCENT} <= set(config.vendors)
    for value in env.values():
        # Only references to the variables are written, never the (fake) secrets themselves.
        assert value not in config_file.read_text(encoding="utf-8")
    with pytest.raises(ConfigError):
        Config.from_file(config_file, sim_host.vendors, {})


def test_demo_runs_to_completion(tmp_path: Path, demo: DemoSet) -> None:
    records = tmp_path / "demo.jsonl"
    result = _run(["demo", "--records", str(records), "--keep"])
    assert result.exit_code == 0, result.output
    kept = re.search(r"files in (\S+)", result.output)
    assert kept is not None
    assert (Path(kept[1]) / "records.jsonl").is_file()  # --keep: the folder stays
    shutil.rmtree(kept[1])
    for title in ("outcomes", "vendor calls", "breaker transitions", "Decision records"):
        assert title in result.output
    assert "accept:" in result.output
    assert "reject:" in result.output
    assert "retry_capture:" in result.output
    # Four 503s in a row inside the 2.5 s outage open Linkface's breaker.
    assert "linkface: closed → open" in result.output
    # Linkface in Tencent's shadow: asked for consenting subjects only, never deciding.
    assert "shadow experiment (never deciding)" in result.output
    assert "live reject, shadow linkface reject" in result.output
    assert "live accept, shadow linkface no consent" in result.output
    lines = records.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(list(steps(demo)))
    assert all(json.loads(line)["schema"] == 1 for line in lines)
    by_scene = {s.scene: json.loads(line) for s, line in zip(steps(demo), lines, strict=True)}
    # Tencent's digits come from livegetfour; a replay and a guess are refused by the vendor.
    assert by_scene["accept: Tencent digits+video+card"]["challenge"]["source"] == "vendor"
    replay = by_scene["replay: same digits and video again"]
    assert (replay["outcome"], replay["reasons"][0]) == ("reject", "liveness:tencent_legacy:-5016")
    guess = by_scene["guessed digits: never issued"]
    assert (guess["outcome"], guess["reasons"][0]) == (
        "retry_capture",
        "liveness:tencent_legacy:-5002",
    )
    bound = by_scene["rate limited twice: bound to Tencent"]
    assert "liveness:challenge_vendor_unavailable" in bound["reasons"]


@pytest.fixture
def broken_plugin(tmp_path: Path) -> Path:
    """A folder holding an installed distribution whose ``kycmux`` entry point fails to
    import (put it on ``PYTHONPATH``)."""
    (tmp_path / "kycmux_broken.py").write_text("raise RuntimeError('broken on import')\n")
    info = tmp_path / "kycmux_broken-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kycmux-broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[kycmux]\nbroken = kycmux_broken\n")
    return tmp_path


def _vendors_process(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in its own process: its logging is what a user sees."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), *sys.path])}
    code = "from kycmux.cli._launch import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "vendors", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("as_json", [False, True])
def test_vendors_strict_fails_on_a_plugin_that_did_not_load(
    broken_plugin: Path, as_json: bool
) -> None:
    json_flag = ["--json"] if as_json else []
    plain = _vendors_process(broken_plugin, *json_flag)
    assert plain.returncode == 0, plain.stderr
    both = plain.stdout + plain.stderr
    assert both.count("plugin broken") == 1, both  # reported once, not logged as well
    assert "broken on import" in both
    strict = _vendors_process(broken_plugin, "--strict", *json_flag)
    assert strict.returncode == 1
    assert "plugin broken" in strict.stdout + strict.stderr


def test_vendors_strict_passes_when_every_plugin_loads() -> None:
    result = _run(["vendors", "--strict", "--json"])
    assert result.exit_code == 0, result.output


def test_vendors_shows_each_instances_in_flight_cap(cli_config: Path, box: Sandbox) -> None:
    """The cap on calls in flight is never a silent default (it was 16, now 64)."""
    cli_config.write_text(
        box.toml() + "\n[vendors.linkface.resilience]\nrate_limit = { max_in_flight = 7 }\n",
        encoding="utf-8",
    )
    env = parse_exports(box.exports())
    listed = _run(["vendors", "--json", "--config", str(cli_config)], env=env)
    assert listed.exit_code == 0, listed.output
    entries = {e["name"]: e for e in json.loads(listed.stdout)}
    assert entries[LINKFACE]["limits"] == {LINKFACE: {"max_in_flight": 7, "rate": None}}
    assert entries[TENCENT]["limits"] == {TENCENT: {"max_in_flight": 64, "rate": None}}
    table = _run(["vendors", "--config", str(cli_config)], env={**env, "COLUMNS": "300"})
    assert "≤ 7 in flight" in table.output
