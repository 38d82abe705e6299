"""The result store on the command line: ``--results`` (a SQLite file or a ``postgresql://``
URL), what an earlier or concurrent run of a study left, and choosing a study to report on.

A URL is only ever shown masked (``postgresql://kyc:***@db/kyc``): it may hold a password.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from kycmux._postgres._target import is_postgres_url, masked_url
from kycmux.compare import CompareSettings, CompareSummary, Manifest
from kycmux.exceptions import KycmuxError
from kycmux.results import PostgresResultStore, SqliteResultStore, StudyInfo, open_result_store
from kycmux.results._open import DEFAULT_LEASE

__all__ = [
    "OpenStore",
    "announce",
    "choose_study",
    "interrupted",
    "open_store",
    "print_run",
    "shown",
]

OpenStore = SqliteResultStore | PostgresResultStore


def shown(target: str) -> str:
    """``--results`` as it may be printed: a URL's password masked."""
    return masked_url(target)


def open_store(target: str, *, lease: float = DEFAULT_LEASE, must_exist: bool = False) -> OpenStore:
    """The store ``--results`` names; a usage error (exit 2) naming the option if it cannot
    be opened. ``must_exist``: a file path must name an existing file (``report``)."""
    if must_exist and not is_postgres_url(target) and not Path(target).is_file():
        missing = f"File {shown(target)!r} does not exist."
        raise click.BadParameter(missing, param_hint="'--results'")
    try:
        return open_result_store(target, lease=lease)
    except KycmuxError as exc:
        raise click.BadParameter(str(exc), param_hint="'--results'") from None


def _pairs(manifest: Manifest, settings: CompareSettings) -> set[tuple[str, str]]:
    return {(row.id, vendor) for row in manifest.rows for vendor in settings.vendors}


def _per_vendor(pairs: set[tuple[str, str]]) -> str:
    counts = Counter(vendor for _, vendor in pairs)
    return ", ".join(f"{vendor}: {count}" for vendor, count in sorted(counts.items()))


def announce(
    console: Console, store: OpenStore, manifest: Manifest, settings: CompareSettings
) -> None:
    """Say what an earlier run of the study left (answered rows, rows cut off in flight) and
    what other workers hold now."""
    wanted = _pairs(manifest, settings)
    done = store.done(settings.study) & wanted
    cut = store.interrupted(settings.study) & wanted
    elsewhere = store.busy(settings.study) & wanted
    name = escape(repr(settings.study))
    if done:
        console.print(
            f"Resuming study {name}: {len(done)} row results already done, not re-sent "
            f"({_per_vendor(done)})."
        )
    if cut:
        what = (
            "Re-sending them: a vendor may bill them twice (--skip-interrupted skips them)."
            if settings.resend_interrupted
            else "Skipping them (--skip-interrupted): they stay out of the report."
        )
        console.print(
            f"[yellow]Warning:[/] {len(cut)} row results were in flight when an earlier run "
            f"of study {name} stopped ({_per_vendor(cut)}); they may have reached the vendor. "
            + what
        )
    if elsewhere:
        console.print(
            f"{len(elsewhere)} row results of study {name} are in flight at another worker "
            f"({_per_vendor(elsewhere)}): left to it, and looked at again at the end."
        )


def interrupted(console: Console, store: OpenStore, settings: CompareSettings) -> None:
    """What Ctrl-C left: results kept, rows marked interrupted."""
    done = store.done(settings.study)
    cut = store.interrupted(settings.study)
    console.print(
        f"[yellow]Interrupted.[/] Study {escape(repr(settings.study))} has {len(done)} results; "
        f"{len(cut)} row results were in flight or skipped and are marked interrupted. Run "
        "the same command again to resume: answered rows are not re-sent."
    )


def print_run(console: Console, summary: CompareSummary) -> None:
    console.print(
        f"Sent {summary.sent} verifications ({summary.failed} ended in error); "
        f"{summary.skipped_done} already done."
    )
    if summary.busy:
        lapsed = summary.busy - summary.done_elsewhere - summary.busy_left
        console.print(
            f"{summary.busy} were in flight at another worker: {summary.done_elsewhere} done "
            f"there, {lapsed} taken over as interrupted once its lease lapsed, "
            f"{summary.busy_left} still in flight when this run stopped waiting."
        )
    if summary.interrupted_skipped:
        console.print(
            f"[yellow]{summary.interrupted_skipped} interrupted rows skipped[/] "
            "(--skip-interrupted): they are not in the report."
        )
    if summary.busy_left:
        console.print(
            f"[yellow]{summary.busy_left} rows are still in flight at another worker[/]: "
            "they are not in this report; run the same command again later to include them."
        )


def _describe(study: StudyInfo) -> str:
    created = datetime.fromtimestamp(study.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{study.name} ({study.kind}, created {created})"


def choose_study(store: OpenStore, where: str, name: str | None) -> StudyInfo:
    """The study ``--study`` names, or the only one ``where`` (the store, as shown) holds."""
    studies = store.studies()
    listing = "".join(f"\n  {_describe(study)}" for study in studies)
    if name is not None:
        for study in studies:
            if study.name == name:
                return study
        raise click.BadParameter(
            f"no study {name!r} in {where}; it holds:{listing or ' none'}",
            param_hint="'--study'",
        )
    if not studies:
        raise click.UsageError(f"{where} holds no study yet")
    if len(studies) > 1:
        raise click.UsageError(f"{where} holds several studies; choose one with --study:{listing}")
    return studies[0]
