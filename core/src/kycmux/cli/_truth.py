"""``kycmux label`` and ``kycmux replay``: ground truth after the fact, and what-if policies.

Neither calls a vendor: ``label`` writes ground truth into the result store, ``replay``
re-decides stored answers under another policy with the engine's own decision machine.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kycmux._contract._host import PluginHost
from kycmux._decision._policy import Policy
from kycmux.cli._exits import exit_help
from kycmux.cli._stores import OpenStore, choose_study, open_store, shown
from kycmux.compare._replay import ReplayReport, replay_results, replayed_result
from kycmux.exceptions import KycmuxError
from kycmux.results import LabelStore, StudyInfo, read_label_file
from kycmux.results._provenance import AnswerSource, DataSource, Provenance, source_meta

__all__ = ["COMMANDS", "label", "replay"]

DEFAULT_CONFIG = "kycmux.toml"
_SHOWN_UNKNOWN = 20


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


# label -----------------------------------------------------------------------------------------


@click.command(epilog=exit_help(0, 1, 2))
@click.argument("label_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--results",
    "results_path",
    required=True,
    help="The result store: a SQLite file or a postgresql:// URL.",
)
@click.option("--study", help="Label this study only (default: every study holding the ids).")
def label(label_file: str, results_path: str, study: str | None) -> None:
    """Store ground truth for decisions already made (CSV or JSON lines: request_id, label
    and/or the truth per check), so their report gets an accuracy section.

    Running it again with the same file changes nothing. Request ids no study holds are
    listed and not stored; the command fails (exit 1) only when none is known.
    """
    console = _console()
    try:
        truths = read_label_file(label_file)
    except KycmuxError as exc:
        raise click.BadParameter(str(exc), param_hint="'FILE'") from None
    with open_store(results_path, must_exist=True) as store:
        if not isinstance(store, LabelStore):
            raise click.UsageError(f"{shown(results_path)} cannot keep labels")
        studies = [choose_study(store, shown(results_path), study)] if study else store.studies()
        known: set[str] = set()
        for info in studies:
            report = store.set_labels(info.name, truths, source=Path(label_file).name)
            known |= {t.item for t in truths} - set(report.unknown)
            if report.applied or report.unchanged:
                console.print(
                    f"{escape(info.name)}: {report.applied} labelled, "
                    f"{report.unchanged} already had this truth"
                )
    unknown = [t.item for t in truths if t.item not in known]
    if unknown:
        listed = ", ".join(unknown[:_SHOWN_UNKNOWN]) + (" ..." if len(unknown) > 20 else "")
        console.print(f"[yellow]{len(unknown)} request ids are in no study[/]: {escape(listed)}")
    if truths and len(unknown) == len(truths):
        raise click.exceptions.Exit(1)


# replay ----------------------------------------------------------------------------------------


def _policy(config_path: str, name: str, host: PluginHost) -> Policy:
    """``[policies.<name>]`` of the file, checked against the installed vendors. Only that
    table is read: a replay needs no vendor credentials."""
    try:
        document = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(
            f"cannot read {config_path} ({type(exc).__name__})", param_hint="'--config'"
        ) from None
    tables = document.get("policies")
    if not isinstance(tables, Mapping) or not isinstance(tables.get(name), Mapping):
        found = ", ".join(sorted(tables)) if isinstance(tables, Mapping) else "none"
        raise click.BadParameter(
            f"no [policies.{name}] in {config_path} (it has: {found or 'none'})",
            param_hint="'--policy'",
        )
    try:
        return Policy.from_table(name, tables[name]).validate(host.vendors)
    except KycmuxError as exc:
        raise click.BadParameter(str(exc), param_hint="'--policy'") from None


def _print_replay(console: Console, summary: Mapping[str, Any]) -> None:
    console.print(
        f"Replayed study [bold]{escape(summary['study'])}[/] under policy "
        f"[bold]{escape(summary['policy'])}[/]: no vendor was called."
    )
    table = Table()
    for column in ("System", "Rows", "Replayed", "Unchanged", "accept→reject", "reject→accept"):
        table.add_column(column, overflow="fold")  # fold, never cut, on 80 columns
    for system, entry in summary["systems"].items():
        table.add_row(
            escape(system),
            str(entry["n"]),
            str(entry["replayed"]),
            str(entry["unchanged"]),
            str(entry["accept_to_reject"]),
            str(entry["reject_to_accept"]),
        )
    console.print(table)
    for system, entry in summary["systems"].items():
        for move, found in entry["changed"].items():
            examples = ", ".join(found["examples"])
            console.print(f"  {escape(system)} {move}: {found['count']} (e.g. {escape(examples)})")
        refused = entry["refused"]
        for reason, count in refused["reasons"].items():
            console.print(
                f"  [yellow]{escape(system)}: {count} not replayable[/]: {escape(reason)}"
            )


def _save(store: OpenStore, study: StudyInfo, report: ReplayReport, name: str) -> int:
    """The replayed rows as a study of their own, marked as a replay."""
    systems = {r.result.system for r in report.rows if r.conclusion is not None}
    original = Provenance.of(study.meta)
    data = original.data or DataSource.MANIFEST
    meta = {
        "replay_of": study.name,
        "policy": report.policy,
        "policy_hash": report.policy_hash,
        "source": source_meta(
            dict.fromkeys(systems, AnswerSource.REPLAY),
            data,
            replay_of=study.name,
            policy=report.policy,
            recorded={s: a.value for s, a in original.answers.items()},
        ),
    }
    store.open_study(name, kind=study.kind, meta=meta)
    saved = [replayed_result(r, name) for r in report.rows if r.conclusion is not None]
    for result in saved:
        store.add(result)
    return len(saved)


@click.command(epilog=exit_help(0, 2))
@click.option(
    "--results",
    "results_path",
    required=True,
    help="The result store: a SQLite file or a postgresql:// URL.",
)
@click.option("--study", help="The study to replay (needed when the store holds several).")
@click.option("--policy", "policy_name", required=True, help="The policy to re-decide under.")
@click.option(
    "--config",
    "config_path",
    default=DEFAULT_CONFIG,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The file holding [policies.<name>] (only that table is read).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.option("--examples", type=click.IntRange(0, 1000), default=10, show_default=True)
@click.option("--save-as", help="Also store the replayed outcomes as a new study (a replay).")
def replay(
    results_path: str,
    study: str | None,
    policy_name: str,
    config_path: str,
    as_json: bool,
    examples: int,
    save_as: str | None,
) -> None:
    """Re-decide stored vendor answers under another policy, without calling any vendor,
    and show which outcomes would change (accepts that become rejects, and back)."""
    host = PluginHost.from_entry_points()
    policy = _policy(config_path, policy_name, host)
    with open_store(results_path, must_exist=True) as store:
        chosen = choose_study(store, shown(results_path), study)
        results: Sequence[Any] = store.results(chosen.name)
        report = ReplayReport(
            chosen.name, policy.name, policy.digest(), replay_results(results, policy, host.vendors)
        )
        saved = _save(store, chosen, report, save_as) if save_as else None
    summary = report.to_dict(examples)
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
    else:
        _print_replay(_console(), summary)
    if saved is not None and not as_json:
        _console().print(f"Stored {saved} replayed rows as study {escape(repr(save_as))}.")


COMMANDS: tuple[click.Command, ...] = (label, replay)
"""The commands ``kycmux.cli._main`` adds to ``kycmux``."""
