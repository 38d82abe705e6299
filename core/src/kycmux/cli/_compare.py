"""``kycmux synthetic-manifest``, ``compare`` and ``report``: offline vendor comparisons.

``kycmux.report`` (matplotlib, numpy: the ``report`` extra) is imported only when a report is
written, so the rest of the command line works without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import shlex
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from kycmux._config._config import Config
from kycmux._contract._host import PluginHost
from kycmux._engine._engine import Engine
from kycmux._model._evidence import Check
from kycmux.cli._exits import exit_help
from kycmux.cli._stores import (
    OpenStore,
    announce,
    choose_study,
    interrupted,
    open_store,
    print_run,
    shown,
)
from kycmux.compare import (
    MAX_CONCURRENCY,
    MAX_ERROR_SHARE,
    CompareSettings,
    CompareSummary,
    Manifest,
    ProgressCallback,
    prepare_study,
    run_comparison,
    write_synthetic_manifest,
)
from kycmux.exceptions import ConfigError, KycmuxError
from kycmux.results import Result, StudyInfo
from kycmux.results._open import DEFAULT_LEASE
from kycmux.simkit import run_sandbox

__all__ = [
    "COMMANDS",
    "EXIT_INCOMPLETE",
    "EXIT_UNUSABLE",
    "compare",
    "report",
    "study_status",
    "synthetic_manifest",
]

DEFAULT_CONFIG = "kycmux.toml"
DEFAULT_OUT = "kycmux-report"
REPORT_EXTRA = "pip install 'kycmux[report]'"
F = TypeVar("F", bound=Callable[..., Any])
EXIT_INCOMPLETE = 3
"""``compare`` exit status: the report is written, but some row was not answered by some
vendor (left to another worker, or an interrupted row skipped): run it again to finish."""
EXIT_UNUSABLE = 4
"""``compare`` exit status: every answer is stored, but some system is unusable (too many
errors): it is reported and never ranked."""

# Settings errors name the setting; on the command line, the option that sets it.
_OPTION_OF = {
    "study": "--run",
    "vendors": "--vendor",
    "checks": "--check",
    "policy": "--policy",
    "policies": "--policy",
    "concurrency": "--concurrency",
}


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _usage(exc: KycmuxError) -> click.UsageError:
    """A usage error (exit 2) for ``exc``, naming the option at fault when there is one."""
    if isinstance(exc, ConfigError):
        option = _OPTION_OF.get(exc.key.split(".")[0])
        if option is not None:
            return click.BadParameter(exc.rule, param_hint=f"'{option}'")
    return click.UsageError(str(exc))


def _report_options(command: F) -> F:
    """``--out`` and the statistics options, shared by ``compare`` and ``report``."""
    options = (
        click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False),
            default=DEFAULT_OUT,
            show_default=True,
            help="Where the report goes.",
        ),
        click.option(
            "--confidence",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.95,
            show_default=True,
            help="Confidence level of the intervals.",
        ),
        click.option(
            "--bootstrap",
            type=click.IntRange(min=0),
            default=1000,
            show_default=True,
            help="Bootstrap resamples for the intervals (0: none).",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Seed of the bootstrap: the same seed, the same intervals.",
        ),
        click.option(
            "--max-error-share",
            type=click.FloatRange(0, 1, max_open=True),
            default=MAX_ERROR_SHARE,
            show_default=True,
            help="A system with more of its answers in error is unusable: reported, never ranked.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _require_report_extra() -> None:
    """Fail before anything is sent if the report could not be written afterwards."""
    missing = [name for name in ("matplotlib", "numpy") if importlib.util.find_spec(name) is None]
    if missing:
        raise click.UsageError(
            f"reports need {' and '.join(missing)}, which are not installed: {REPORT_EXTRA}"
        )


# synthetic-manifest --------------------------------------------------------------------------


@click.command("synthetic-manifest", epilog=exit_help(0, 2))
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--rows", type=click.IntRange(min=1), default=200, show_default=True, help="Rows to write."
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="The same seed writes the same files.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="Manifest format.",
)
def synthetic_manifest(directory: str, rows: int, seed: int, fmt: str) -> None:
    """Write labelled synthetic captures and a manifest over them, for `kycmux compare`.

    Every row is one capture session both bundled simulators can judge; the labels are the
    ground truth (genuine, impostor, spoof) the report measures error rates against.
    """
    try:
        path = write_synthetic_manifest(directory, rows=rows, seed=seed, fmt=fmt)
        manifest = Manifest.load(path)
    except KycmuxError as exc:
        raise click.UsageError(str(exc)) from None
    labels = Counter(row.label.value if row.label else "unlabelled" for row in manifest.rows)
    mix = ", ".join(f"{count} {label}" for label, count in sorted(labels.items()))
    click.echo(f"Wrote {len(manifest.rows)} rows ({mix}) to {path}")
    click.echo(f"Compare the simulators on it: kycmux compare {shlex.quote(str(path))} --sandbox")


# compare -------------------------------------------------------------------------------------


def _load_manifest(path: str) -> Manifest:
    """The manifest, every row checked: all problems are listed before anything is sent."""
    try:
        return Manifest.load(path)
    except KycmuxError as exc:
        raise click.BadParameter(str(exc), param_hint="'MANIFEST'") from None


@contextlib.contextmanager
def _vendor_config(host: PluginHost, path: str | None, sandbox: bool) -> Iterator[Config]:
    """The configuration to compare under: a file, or the simulators (running meanwhile)."""
    if sandbox:
        if path is not None:
            raise click.UsageError("--config and --sandbox exclude each other")
        # Recorded captures read recorded digits: no vendor issued them for this run.
        with run_sandbox(host, caller_challenges=True) as box:
            yield box.config(host)
        return
    if path is None and not Path(DEFAULT_CONFIG).is_file():
        raise click.UsageError(
            f"no configuration: pass --config FILE (default ./{DEFAULT_CONFIG}), or --sandbox "
            "to compare the installed vendors' simulators"
        )
    try:
        config = Config.from_file(path or DEFAULT_CONFIG, host.vendors)
    except KycmuxError as exc:
        raise click.UsageError(str(exc)) from None
    yield config


@contextlib.contextmanager
def _progress_bar(
    console: Console, manifest: Manifest, settings: CompareSettings
) -> Iterator[ProgressCallback]:
    """One bar per vendor, rows done of rows, with errors and skips; kept after the run."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[errors]} errors, {task.fields[skipped]} skipped"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {
            vendor: bar.add_task(vendor, total=len(manifest.rows), errors=0, skipped=0)
            for vendor in settings.vendors
        }
        counts = {vendor: Counter[str]() for vendor in settings.vendors}

        def tell(vendor: str, result: Result | None, skipped: bool) -> None:
            seen = counts[vendor]
            if skipped:
                seen["skipped"] += 1
            elif result is not None and result.outcome == "error":
                seen["errors"] += 1
            bar.update(tasks[vendor], advance=1, errors=seen["errors"], skipped=seen["skipped"])

        yield tell


@contextlib.contextmanager
def _errors_to(console: Console) -> Iterator[None]:
    """Show rows the runner caught raising through ``console``, above the bars.

    Its warning about re-sending interrupted rows is left out: ``_announce`` said it already.
    """
    handler = RichHandler(logging.ERROR, console=console, show_time=False, show_path=False)
    logger = logging.getLogger("kycmux.compare")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


async def _send(
    console: Console,
    engine: Engine,
    manifest: Manifest,
    store: OpenStore,
    settings: CompareSettings,
) -> CompareSummary:
    async with engine:
        try:
            prepare_study(engine, manifest, store, settings)
        except KycmuxError as exc:
            raise _usage(exc) from None
        announce(console, store, manifest, settings)
        with _errors_to(console), _progress_bar(console, manifest, settings) as tell:
            return await run_comparison(engine, manifest, store, settings, progress=tell)


def _report_and_print(
    console: Console,
    results: Sequence[Result],
    out: Path,
    study: StudyInfo | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    try:
        from kycmux.report import write_report
    except ImportError as exc:
        raise click.UsageError(f"cannot write the report ({exc}): {REPORT_EXTRA}") from None
    files = write_report(results, out, study=study, **options)
    summary: dict[str, Any] = json.loads(files.summary.read_text(encoding="utf-8"))
    console.print()
    console.print(f"[bold]{escape(summary['verdict']['statement'])}[/]")
    console.print(f"Report:  {escape(str(files.html))}")
    console.print(f"Summary: {escape(str(files.summary))}")
    if files.plots:
        console.print(f"Plots:   {len(files.plots)} PNG files in {escape(str(files.directory))}")
    return summary


def study_status(
    manifest: Manifest, settings: CompareSettings, results: Sequence[Result], summary: Any
) -> tuple[int, str | None]:
    """``compare``'s exit status, and why when not 0: ``EXIT_INCOMPLETE`` when some (row,
    vendor) pair has no stored answer, else ``EXIT_UNUSABLE`` when a system is unusable."""
    done = {(r.item, r.system) for r in results}
    missing = sum(
        (row.id, vendor) not in done for row in manifest.rows for vendor in settings.vendors
    )
    if missing:
        return EXIT_INCOMPLETE, f"incomplete: {missing} row answers are not stored yet"
    unusable = summary["usability"]["unusable"]
    if unusable:
        return EXIT_UNUSABLE, f"unusable (too many errors, never ranked): {', '.join(unusable)}"
    return 0, None


@click.command(epilog=exit_help(0, 1, 2, 3, 4))
@click.argument("manifest_path", metavar="MANIFEST", type=click.Path(dir_okay=False))
@click.option("--config", "config_path", help=f"Configuration file (default: ./{DEFAULT_CONFIG}).")
@click.option(
    "--sandbox", is_flag=True, help="Compare the installed vendors' simulators, on loopback."
)
@click.option(
    "--vendor",
    "vendors",
    multiple=True,
    help="A vendor to compare (repeatable; default: every configured vendor).",
)
@click.option(
    "--check",
    "checks",
    multiple=True,
    type=click.Choice([c.value for c in Check]),
    help="A check to compare on (repeatable; default: those at least two vendors offer), "
    "each judged by every vendor offering it.",
)
@click.option("--policy", help="Policy for thresholds, retries, limits (default: the default).")
@click.option("--run", "run_name", help="Study name (default: the manifest's file name stem).")
@click.option(
    "--results",
    "results_path",
    help="Result store: a SQLite file, or a postgresql:// URL that several workers can share "
    "(default: OUT/results.sqlite).",
)
@click.option(
    "--lease",
    type=click.FloatRange(0.1, 86400),
    default=DEFAULT_LEASE,
    show_default=True,
    help="PostgreSQL store: seconds a row in flight stays this run's without renewal (renewed "
    "while it runs); a dead worker's rows are taken over as interrupted after it.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    default=4,
    show_default=True,
    help="Verifications in flight at once (vendor rate limits apply on top).",
)
@click.option(
    "--skip-interrupted",
    is_flag=True,
    help="Do not re-send rows an earlier run left in flight (they may have been billed).",
)
@_report_options
@click.pass_context
def compare(
    ctx: click.Context,
    /,
    manifest_path: str,
    config_path: str | None,
    sandbox: bool,
    vendors: tuple[str, ...],
    checks: tuple[str, ...],
    policy: str | None,
    run_name: str | None,
    results_path: str | None,
    lease: float,
    out_dir: str,
    concurrency: int,
    skip_interrupted: bool,
    **report_options: Any,
) -> None:
    """Send every MANIFEST row to every vendor, store the answers and write the report.

    Run the same command again to resume: rows already answered are never re-sent.
    """
    _require_report_extra()
    manifest = _load_manifest(manifest_path)
    console = _console()
    host = PluginHost.from_entry_points()
    out = Path(out_dir)
    with _vendor_config(host, config_path, sandbox) as config:
        try:
            settings = CompareSettings.from_host(
                config.specs(host.vendors),  # instances of a vendor compare as vendors do
                study=run_name or Path(manifest_path).stem,
                vendors=vendors or tuple(config.vendors),
                checks=checks,
                policy=policy,
                concurrency=concurrency,
                resend_interrupted=not skip_interrupted,
                # Long enough for a dead worker's lease to lapse (at least a minute).
                busy_wait=max(2 * lease, 60.0),
            )
        except KycmuxError as exc:
            raise _usage(exc) from None
        target = results_path or str(out / "results.sqlite")
        with open_store(target, lease=lease) as store:
            try:
                engine = Engine.from_config(config, host=host)
            except KycmuxError as exc:
                raise _usage(exc) from None
            try:
                summary = asyncio.run(_send(console, engine, manifest, store, settings))
            except KeyboardInterrupt:
                interrupted(console, store, settings)
                ctx.exit(1)
            except KycmuxError as exc:  # the store failed mid-run (a server gone, say)
                console.print(f"[red]Stopped:[/] {escape(str(exc))}")
                console.print("Run the same command again to resume: answered rows are kept.")
                ctx.exit(1)
            results = store.results(settings.study)
            study = store.study(settings.study)
    print_run(console, summary)
    report = _report_and_print(console, results, out, study, report_options)
    console.print(f"Results: {escape(shown(target))} (study {escape(repr(settings.study))})")
    status, why = study_status(manifest, settings, results, report)
    if status:
        console.print(f"[red]The study is {escape(why or '')}[/] (exit status {status}).")
        ctx.exit(status)


# report --------------------------------------------------------------------------------------


@click.command(epilog=exit_help(0, 2))
@click.option(
    "--results",
    "results_path",
    required=True,
    help="The result store to read: a SQLite file or a postgresql:// URL.",
)
@click.option("--study", help="The study to report on (needed when the store holds several).")
@_report_options
def report(results_path: str, study: str | None, out_dir: str, **report_options: Any) -> None:
    """Write the report of stored results: an offline run or a live experiment."""
    _require_report_extra()
    console = _console()
    with open_store(results_path, must_exist=True) as store:
        chosen = choose_study(store, shown(results_path), study)
        results = store.results(chosen.name)
    if not results:
        raise click.UsageError(f"study {chosen.name!r} has no results yet")
    _report_and_print(console, results, Path(out_dir), chosen, report_options)


COMMANDS: tuple[click.Command, ...] = (synthetic_manifest, compare, report)
"""The commands ``kycmux.cli._main`` adds to ``kycmux``."""
