"""``kycmux synthetic-manifest``, ``compare`` and ``report`` end to end, through click's runner."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner, Result

from engine.e2e_support import LINKFACE, TENCENT, SimCounter, parse_exports
from kycmux import Engine
from kycmux.cli._compare import EXIT_INCOMPLETE, EXIT_UNUSABLE
from kycmux.cli._main import main
from kycmux.compare import Manifest
from kycmux.results import SqliteResultStore
from kycmux.simkit import Sandbox

VENDORS = (LINKFACE, TENCENT)


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


@attrs.frozen
class Compared:
    """One ``synthetic-manifest`` + ``compare --sandbox`` run, shared by the tests below."""

    manifest: Path
    out: Path
    made: Result
    compared: Result


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Compared:
    folder = tmp_path_factory.mktemp("cli")
    made = invoke(["synthetic-manifest", str(folder / "data"), "--rows", "24", "--seed", "5"])
    assert made.exit_code == 0, made.output
    manifest = folder / "data" / "manifest.jsonl"
    out = folder / "report"
    args = ["compare", str(manifest), "--sandbox", "--out", str(out), "--bootstrap", "200"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    return Compared(manifest, out, made, result)


@pytest.fixture
def cli_env(box: Sandbox, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A ``kycmux.toml`` reaching the session's simulators, and the variables it refers to."""
    path = tmp_path / "kycmux.toml"
    path.write_text(box.toml(), encoding="utf-8")
    return path, parse_exports(box.exports())


def test_synthetic_manifest_then_compare_writes_the_report(compared: Compared) -> None:
    assert "Wrote 24 rows (12 genuine, 6 impostor, 6 spoof)" in compared.made.output
    assert Manifest.load(compared.manifest).rows
    out = compared.out
    assert (out / "index.html").is_file()
    assert (out / "results.sqlite").is_file()
    pngs = sorted(out.glob("*.png"))
    assert pngs
    assert all(png.read_bytes().startswith(b"\x89PNG") for png in pngs)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    statement = summary["verdict"]["statement"]
    assert statement
    output = compared.compared.output
    assert " ".join(statement.split()) in " ".join(output.split())
    assert str(out / "index.html") in output
    for vendor in VENDORS:
        assert any(vendor in line and "24/24" in line for line in output.splitlines()), output
    assert "Sent 48 verifications" in output


def test_the_summary_agrees_with_the_stored_results(compared: Compared) -> None:
    summary = json.loads((compared.out / "summary.json").read_text(encoding="utf-8"))
    with SqliteResultStore.open(compared.out / "results.sqlite") as store:
        (study,) = store.studies()
        results = store.results(study.name)
    assert study.name == "manifest"
    assert summary["study"]["name"] == "manifest"
    assert {(r.item, r.system) for r in results} == {
        (row.id, vendor) for row in Manifest.load(compared.manifest).rows for vendor in VENDORS
    }
    for vendor in VENDORS:
        mine = [r for r in results if r.system == vendor]
        outcomes = Counter(r.outcome for r in mine)
        rates = summary["outcomes"][vendor]["rates"]
        assert {name: rate["count"] for name, rate in rates.items() if rate["count"]} == outcomes
        assert {rate["n"] for rate in rates.values()} == {len(mine)}
        accuracy = summary["accuracy"]["systems"][vendor]
        attacks = [r for r in mine if r.label is not None and r.label.is_attack]
        assert accuracy["far"]["n"] == len(attacks)
        assert accuracy["far"]["count"] == sum(r.outcome == "accept" for r in attacks)
        for label in ("impostor", "spoof"):
            judged = [r for r in attacks if r.label == label]
            rate = accuracy[f"{label}_acceptance"]
            assert (rate["count"], rate["n"]) == (
                sum(r.outcome == "accept" for r in judged),
                len(judged),
            )


def test_report_re_renders_the_same_summary(compared: Compared, tmp_path: Path) -> None:
    again = tmp_path / "again"
    results = compared.out / "results.sqlite"
    args = ["report", "--results", str(results), "--out", str(again), "--bootstrap", "200"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    first = json.loads((compared.out / "summary.json").read_text(encoding="utf-8"))
    second = json.loads((again / "summary.json").read_text(encoding="utf-8"))
    assert second == first
    assert (again / "index.html").is_file()
    assert " ".join(first["verdict"]["statement"].split()) in " ".join(result.output.split())


def test_report_needs_study_when_the_store_holds_several(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    with SqliteResultStore.open(path) as store:
        store.open_study("spring", kind="offline", meta={})
        store.open_study("summer", kind="experiment", meta={})
    result = invoke(["report", "--results", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "holds several studies; choose one with --study" in result.output
    assert "spring (offline, created" in result.output
    assert "summer (experiment, created" in result.output
    unknown = ["report", "--results", str(path), "--study", "autumn"]
    result = invoke(unknown)
    assert result.exit_code == 2
    assert "no study 'autumn'" in result.output
    assert "spring (offline" in result.output
    assert not (tmp_path / "out").exists()


def test_compare_resumes_after_ctrl_c_without_resending(
    box: Sandbox,
    manifest_path: Path,
    cli_env: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # asyncio.run turns Ctrl-C into cancelling the run only with Python's own SIGINT handler.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    config, env = cli_env
    out = tmp_path / "out"
    args = ["compare", str(manifest_path), "--config", str(config), "--run", "resume"]
    args += ["--out", str(out), "--concurrency", "1", "--bootstrap", "0"]
    total = 2 * len(Manifest.load(manifest_path).rows)
    real = Engine.verify
    calls = 0

    async def ctrl_c_at_the_tenth(self: Engine, evidence: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 10:
            signal.raise_signal(signal.SIGINT)
            await asyncio.sleep(3600)  # cancelled: Ctrl-C cancels the run
        return await real(self, evidence, **kwargs)

    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    with monkeypatch.context() as patch:
        patch.setattr(Engine, "verify", ctrl_c_at_the_tenth)
        first = invoke(args, env)
    assert first.exit_code == 1, first.output
    assert "Interrupted." in first.output
    assert "9 results; 1 row results were in flight" in first.output
    assert not (out / "summary.json").exists()
    # Rows go out in manifest order, each to linkface then tencent_legacy.
    assert {v: sims[v].served() for v in VENDORS} == {LINKFACE: 5, TENCENT: 4}

    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    second = invoke([*args, "--skip-interrupted"], env)
    # The report is written, but the status says the study is not complete yet.
    assert second.exit_code == EXIT_INCOMPLETE, second.output
    assert "The study is incomplete: 1 row answers are not stored yet" in second.output
    assert "Resuming study 'resume': 9 row results already done, not re-sent" in second.output
    assert "1 row results were in flight" in second.output
    assert "Skipping them (--skip-interrupted)" in second.output
    assert sum(sim.served() for sim in sims.values()) == total - 10
    assert (out / "summary.json").is_file()

    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    third = invoke(args, env)
    assert third.exit_code == 0, third.output
    assert f"{total - 1} row results already done" in third.output
    assert "Re-sending them" in third.output
    assert {v: sims[v].served() for v in VENDORS} == {LINKFACE: 0, TENCENT: 1}
    with SqliteResultStore.open(out / "results.sqlite") as store:
        assert len(store.done("resume")) == total
        assert store.interrupted("resume") == set()


def test_compare_exits_4_when_a_vendor_is_unusable_and_never_ranks_it(
    box: Sandbox,
    manifest_path: Path,
    cli_env: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, env = cli_env
    out = tmp_path / "out"
    real = Engine.verify

    async def tencent_broken(self: Engine, evidence: Any, **kwargs: Any) -> Any:
        if kwargs["vendor"] == TENCENT:
            raise RuntimeError("a bug")
        return await real(self, evidence, **kwargs)

    monkeypatch.setattr(Engine, "verify", tencent_broken)
    args = ["compare", str(manifest_path), "--config", str(config), "--out", str(out)]
    result = invoke([*args, "--bootstrap", "0"], env)
    assert result.exit_code == EXIT_UNUSABLE, result.output
    assert "unusable (too many errors, never ranked): tencent_legacy" in result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["usability"]["unusable"] == [TENCENT]
    assert summary["verdict"]["ranking"] == []
    assert all(TENCENT not in {r["system"] for r in c["ranking"]} for c in summary["checks"])
    assert (
        "Not ranked: tencent_legacy is unusable: all 24 answers were errors"
        in (summary["verdict"]["statement"])
    )


def test_compare_checks_the_whole_manifest_before_sending_anything(
    box: Sandbox, manifest_path: Path, cli_env: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    config, env = cli_env
    lines = manifest_path.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines[:3]]
    rows[1]["label"] = "maybe"
    rows[2]["selfie"] = "files/nowhere.png"
    broken = manifest_path.with_name("broken.jsonl")
    broken.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    out = tmp_path / "out"
    result = invoke(["compare", str(broken), "--config", str(config), "--out", str(out)], env)
    assert result.exit_code == 2
    assert f"row {rows[1]['id']} (line 2): label" in result.output
    assert f"row {rows[2]['id']} (line 3): selfie" in result.output
    assert all(sim.served() == 0 for sim in sims.values())
    assert not out.exists()


def test_compare_refuses_a_study_name_used_for_another_manifest(
    compared: Compared, cli_env: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    config, env = cli_env
    lines = compared.manifest.read_text(encoding="utf-8").splitlines(keepends=True)
    shorter = compared.manifest.with_name("shorter.jsonl")
    shorter.write_text("".join(lines[:-1]), encoding="utf-8")
    results = str(compared.out / "results.sqlite")
    args = ["compare", str(shorter), "--config", str(config), "--results", results]
    result = invoke([*args, "--run", "manifest", "--out", str(tmp_path / "out")], env)
    assert result.exit_code == 2
    assert "Invalid value for '--run'" in result.output
    assert "'manifest' was run over another manifest" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sandbox", "--config", "kycmux.toml"], "--config and --sandbox exclude each other"),
        ([], "no configuration: pass --config FILE"),
        (["--sandbox", "--vendor", "nobody"], "Invalid value for '--vendor'"),
        (["--sandbox", "--check", "id_registry_match"], "linkface offers none of the checks"),
    ],
    ids=["config-and-sandbox", "no-config", "unknown-vendor", "check-not-offered"],
)
def test_compare_usage_errors(
    manifest_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(["compare", str(manifest_path), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "kycmux-report" / "summary.json").exists()


@pytest.mark.parametrize("command", ["compare", "report"])
def test_without_the_report_extra_nothing_runs(
    manifest_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "results.sqlite"
    SqliteResultStore.open(store).close()
    args = {
        "compare": ["compare", str(manifest_path), "--sandbox"],
        "report": ["report", "--results", str(store)],
    }[command]
    result = invoke(args)
    assert result.exit_code == 2
    assert "pip install 'kycmux[report]'" in result.output
    assert not (tmp_path / "kycmux-report").exists()
