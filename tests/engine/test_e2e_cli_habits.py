"""The command line's habits: exit statuses, logging, the sandbox's first minute, the demo at
80 columns, data never read as markup."""

from __future__ import annotations

import io
import logging
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner, Result
from rich.cells import cell_len
from rich.console import Console

from engine.e2e_support import LINKFACE, parse_exports
from kycmux import Engine, Evidence, PluginHost
from kycmux._decision._verdict import Outcome
from kycmux.cli._demo import run_demo, steps
from kycmux.cli._exits import EXIT_TABLE, VERIFY_EXIT, verify_exit
from kycmux.cli._logs import LOGGERS, configure_logging
from kycmux.cli._main import main, print_decision
from kycmux.simkit import Sandbox
from kycmux.synthetic import DemoSet

ROOT = Path(__file__).resolve().parents[2]
GETTING_STARTED = ROOT / "docs" / "getting-started.md"


def _run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


@pytest.fixture
def cli_config(box: Sandbox, tmp_path: Path) -> Path:
    path = tmp_path / "kycmux.toml"
    path.write_text(box.toml(), encoding="utf-8")
    return path


def _verify(config: Path, box: Sandbox, demo: DemoSet, liveness: str, *args: str) -> Result:
    return _run(
        [
            "verify", "--config", str(config),
            "--selfie", str(demo["selfie"]), "--liveness-data", str(demo[liveness]), *args,
        ],
        env=parse_exports(box.exports()),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("liveness", "outcome"),
    [("live_liveness_data", "ACCEPT"), ("attack_liveness_data", "REJECT")],
)
def test_verify_exits_with_its_outcome(
    box: Sandbox, cli_config: Path, demo: DemoSet, liveness: str, outcome: str
) -> None:
    result = _verify(cli_config, box, demo, liveness)
    assert outcome in result.output
    assert result.exit_code == VERIFY_EXIT[outcome.lower()]


def test_verify_exits_13_when_no_vendor_answers(
    box: Sandbox, cli_config: Path, demo: DemoSet
) -> None:
    box.app(LINKFACE).faults.inject("http_5xx=503", duration=60.0)
    result = _verify(cli_config, box, demo, "live_liveness_data")
    assert "ERROR" in result.output
    assert result.exit_code == 13


def test_a_usage_error_stays_2_and_lists_the_policies(
    box: Sandbox, cli_config: Path, demo: DemoSet
) -> None:
    result = _verify(cli_config, box, demo, "live_liveness_data", "--policy", "defualt")
    assert result.exit_code == 2
    assert "no such policy, did you mean 'default'? (defined: default)" in result.output


def test_every_outcome_has_a_status_of_its_own() -> None:
    statuses = {outcome: verify_exit(outcome) for outcome in Outcome}
    assert statuses[Outcome.ACCEPT] == 0
    others = [s for o, s in statuses.items() if o is not Outcome.ACCEPT]
    assert len(set(others)) == len(others)
    assert not set(others) & {0, 1, 2, 3, 4}  # 1, 2: failures; 3, 4: compare's verdicts
    assert set(statuses.values()) <= set(EXIT_TABLE)


def test_help_and_docs_carry_the_exit_statuses() -> None:
    verify_help = _run(["verify", "--help"]).output
    for outcome, status in VERIFY_EXIT.items():
        assert re.search(rf"^\s+{status}\s+.*{outcome}", verify_help, re.M), outcome
    assert "usage or configuration error" in verify_help
    for command in ("vendors", "sandbox", "demo", "compare", "label", "report", "challenge"):
        assert "Exit status:" in _run([command, "--help"]).output, command
    documented = re.findall(r"^\| (\d+) \| (.+) \|$", GETTING_STARTED.read_text("utf-8"), re.M)
    assert sorted(int(code) for code, _ in documented) == sorted(EXIT_TABLE)


@pytest.fixture
def kycmux_logger() -> Iterator[logging.Logger]:
    """The ``kycmux`` logger, put back as it was after the test."""
    logger = logging.getLogger("kycmux")
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_log_level_prints_kycmux_loggers_on_stderr(
    kycmux_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info")
    configure_logging("info")  # once: a second call adds no second handler
    logging.getLogger("kycmux.engine").info("probe-info")
    logging.getLogger("kycmux.engine").debug("probe-debug")
    err = capsys.readouterr().err
    assert err.count("INFO kycmux.engine: probe-info") == 1
    assert "probe-debug" not in err


@pytest.mark.parametrize(
    ("args", "env", "level"),
    [
        (["--log-level", "debug"], {}, logging.DEBUG),
        ([], {"KYCMUX_LOG_LEVEL": "error"}, logging.ERROR),
        (["--log-level", "info"], {"KYCMUX_LOG_LEVEL": "error"}, logging.INFO),
    ],
)
def test_log_level_option_and_variable(
    kycmux_logger: logging.Logger, args: list[str], env: dict[str, str], level: int
) -> None:
    result = _run([*args, "vendors", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert kycmux_logger.level == level


def test_every_logger_is_listed_and_documented() -> None:
    sources = [*(ROOT / "core" / "src").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
    used = {
        name
        for path in sources
        for name in re.findall(r"getLogger\(\"([^\"]+)\"\)", path.read_text("utf-8"))
    }
    assert used - {"httpx", "kycmux"} == set(LOGGERS)  # kycmux: their parent, for --log-level
    logging_section = GETTING_STARTED.read_text("utf-8").partition("## Logging")[2]
    documented = set(re.findall(r"^\| `(kycmux\.\w+)` \|", logging_section, re.M))
    assert documented == set(LOGGERS)


def test_sandbox_says_where_and_how_to_stop_at_once_and_writes_samples(tmp_path: Path) -> None:
    folder = tmp_path / "sandbox"
    command = [str(Path(sys.executable).parent / "kycmux"), "sandbox", "--write", str(folder)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        # Piped, and still flushed at once: the endpoints come before anything blocks.
        first = process.stdout.readline()
        assert re.fullmatch(r"# linkface: http://127\.0\.0\.1:\d+\n", first), first
        assert "stop them with Ctrl-C" in process.stderr.readline()
        assert {p.name for p in folder.iterdir()} == {
            "kycmux.toml", "sandbox.env", "selfie.png", "card.jpg", "live.bin", "spoof.bin",
        }  # fmt: skip
        env = parse_exports((folder / "sandbox.env").read_text("utf-8"))
        config = ["verify", "--config", str(folder / "kycmux.toml")]
        selfie = ["--selfie", str(folder / "selfie.png")]
        live = _run([*config, *selfie, "--liveness-data", str(folder / "live.bin")], env=env)
        assert live.exit_code == 0, live.output
        spoof = _run([*config, *selfie, "--liveness-data", str(folder / "spoof.bin")], env=env)
        assert spoof.exit_code == 10, spoof.output
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate()
    assert process.returncode == 0


def test_sandbox_seconds_stops_it(tmp_path: Path) -> None:
    result = _run(["sandbox", "--seconds", "0"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# linkface: http://127.0.0.1:")
    assert "Simulators running for 0 s" in result.output  # stderr: mixed in on click 8.1


def test_decision_data_is_never_read_as_markup(box: Sandbox, demo: DemoSet) -> None:
    host = PluginHost.from_entry_points()
    with Engine.from_config(box.config(host), host=host) as engine:
        evidence = Evidence(selfie=demo["selfie"], liveness_data=demo["live_liveness_data"])
        decision = engine.verify_sync(evidence)
    text = "[bold]:selfie: [/] capture_unusable"
    record = attrs.evolve(decision.record, explanation=text, hint=text)
    console = Console(file=io.StringIO(), width=80, emoji=False, highlight=False)
    print_decision(console, attrs.evolve(decision, record=record))
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert printed.count(text) == 2


def test_demo_shows_every_scene_at_80_columns_and_cleans_up(demo: DemoSet) -> None:
    out = io.StringIO()
    run_demo(Console(file=out, width=80, emoji=False, highlight=False))
    text = out.getvalue()
    scenes = [s.scene for s in steps(demo)]
    for number, scene in enumerate(scenes, start=1):
        assert f"{number:>2}/{len(scenes)} {scene}: " in text
    assert f"{len(scenes)} scenes: " in text
    assert all(cell_len(line) <= 80 for line in text.splitlines())
    assert "…" not in text
    workdir = re.search(r"files in (\S+)", text)
    assert workdir is not None
    assert not Path(workdir[1]).exists()
