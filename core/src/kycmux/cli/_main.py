"""The ``kycmux`` command line."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kycmux._config._config import Config
from kycmux._contract._host import PluginHost
from kycmux._contract._vendor import CheckOffer, VendorSpec
from kycmux._engine._engine import Decision, Engine
from kycmux._model._evidence import Check, Consent, Evidence
from kycmux.cli._challenge import challenge, read_challenge
from kycmux.cli._compare import COMMANDS as COMPARE_COMMANDS
from kycmux.cli._exits import exit_help, verify_exit
from kycmux.cli._logs import LEVELS, LOGGERS, configure_logging
from kycmux.cli._records import records
from kycmux.cli._sandbox import sandbox
from kycmux.cli._truth import COMMANDS as TRUTH_COMMANDS
from kycmux.exceptions import InvalidEvidenceError, KycmuxError

__all__ = ["main"]

DEFAULT_CONFIG = "kycmux.toml"


def _console() -> Console:
    # No emoji codes: data such as a file named :selfie: is printed as it is.
    return Console(highlight=False, soft_wrap=True, emoji=False)


def load_config(host: PluginHost, path: str | None) -> Config | None:
    """The config at ``path``; the default file only if it exists; ``None`` without one."""
    if path is None:
        if not Path(DEFAULT_CONFIG).is_file():
            return None
        path = DEFAULT_CONFIG
    return Config.from_file(path, host.vendors)


def _roles(offer: CheckOffer) -> dict[str, Any]:
    """A face comparison's declared sides (``"live"``, ``"reference"``: ``None`` for the
    registry), only when the offer declares them."""
    if offer.roles is None:
        return {}
    reference = offer.roles.reference
    return {
        "roles": {
            "live": offer.roles.live.value,
            "reference": None if reference is None else reference.value,
        }
    }


def _vendor_entry(host: PluginHost, spec: VendorSpec, config: Config | None) -> dict[str, Any]:
    origin = host.origin(spec.name)
    configured = config.vendors.values() if config is not None else ()
    instances = [c.vendor for c in configured if c.plugin == spec.name]
    return {
        "name": spec.name,
        "display_name": spec.display_name,
        "distribution": origin.distribution,
        "version": origin.version,
        "plugin": origin.plugin,
        "default_base_url": spec.default_base_url,
        "checks": {
            offer.check.value: {
                "operation": offer.operation,
                "needs": [need.describe() for need in offer.needs],
                **_roles(offer),
            }
            for offer in spec.offers
        },
        "scores": [
            {
                "name": s.name,
                "check": s.check.value,
                "kind": s.kind.value,
                "scale": [s.low, s.high],
                "calibrated": s.calibrated,
                "calibration": s.calibration.describe() if s.calibration else None,
                "recommended_threshold": s.recommended_threshold,
                "note": s.note,
            }
            for s in spec.scores
        ],
        "config_fields": [
            {"name": f.name, "type": f.type.__name__, "required": f.required, "secret": f.secret}
            for f in spec.config_fields
        ],
        "challenge": None
        if spec.challenge is None
        else {
            "checks": sorted(c.value for c in spec.challenge.checks),
            "kind": spec.challenge.kind.value,
            "operation": spec.challenge.operation,
            "ttl": spec.challenge.ttl,
        },
        "simulator": spec.simulator is not None,
        "configured": bool(instances),
        # The [vendors.<instance>] tables this vendor serves (its own name, other accounts).
        "instances": instances,
        # What caps each instance's traffic in this process: never a silent default.
        "limits": {
            c.vendor: {
                "max_in_flight": c.resilience.rate_limit.max_in_flight,
                "rate": c.resilience.rate_limit.rate,
            }
            for c in configured
            if c.plugin == spec.name
        },
    }


_GROUP_EPILOG = (
    "\b\nLoggers (--log-level sets them all, under kycmux):\n"
    + "\n".join(f"  {name}" for name in LOGGERS)
    + "\n\n\b\nShell completion (bash; zsh and fish alike):\n"
    + '  eval "$(_KYCMUX_COMPLETE=bash_source kycmux)"\n\n'
    + exit_help(0, 1, 2, 3, 4, 10, 11, 12, 13)
)


@click.group(epilog=_GROUP_EPILOG)
@click.version_option(package_name="kycmux")
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    envvar="KYCMUX_LOG_LEVEL",
    show_envvar=True,
    help="Print kycmux's log messages at this level and above on standard error "
    "(default: warnings and worse, unformatted).",
)
def main(log_level: str | None) -> None:
    """kycmux: KYC face and liveness vendors behind one plugin contract."""
    if log_level is not None:
        configure_logging(log_level)


@main.command(epilog=exit_help(0, 1, 2))
@click.option("--config", "config_path", help=f"Configuration file (default: ./{DEFAULT_CONFIG}).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of tables.")
@click.option(
    "--strict", is_flag=True, help="Exit 1 when any installed plugin failed to load (for CI)."
)
def vendors(config_path: str | None, as_json: bool, strict: bool) -> None:
    """List every discovered vendor, and every plugin that failed to load."""
    plugins_log = logging.getLogger("kycmux.plugins")
    # This command reports each failure itself; the host's own warning would print it twice.
    plugins_log.disabled, was = True, plugins_log.disabled
    try:
        host = PluginHost.from_entry_points()
    finally:
        plugins_log.disabled = was
    try:
        config = load_config(host, config_path)
    except KycmuxError as exc:
        raise click.UsageError(str(exc)) from None
    entries = [_vendor_entry(host, spec, config) for spec in host.vendors.values()]
    failures = [
        {"name": f.name, "distribution": f.distribution, "version": f.version, "error": f.error}
        for f in host.failures
    ]
    if as_json:
        click.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        for failure in failures:
            click.echo(f"plugin {failure['name']} failed to load: {failure['error']}", err=True)
    else:
        _print_vendors(entries, failures)
    if strict and failures:
        raise SystemExit(1)


def _print_vendors(entries: list[dict[str, Any]], failures: list[dict[str, Any]]) -> None:
    console = _console()
    table = Table(title="kycmux vendors", show_lines=True)
    # Fold, never cut: on 80 columns a vendor's name and evidence stay whole.
    for column in ("vendor", "distribution", "checks and evidence", "scores", "configured"):
        table.add_column(column, overflow="fold")
    for e in entries:
        checks = "\n".join(
            f"[bold]{escape(check)}[/] via {escape(c['operation'])}: "
            + escape(", ".join(c["needs"]))
            for check, c in e["checks"].items()
        )
        scores = "\n".join(
            escape(f"{s['name']} ({s['check']}): ")
            + (escape(f"calibrated, {s['calibration']}") if s["calibrated"] else "uncalibrated")
            for s in e["scores"]
        )
        table.add_row(
            f"[bold]{escape(e['name'])}[/]\n{escape(e['display_name'])}",
            escape(f"{e['distribution']} {e['version']}"),
            checks,
            scores or "-",
            escape(_configured(e)),
        )
    console.print(table)
    if not entries:
        console.print("No vendor plugins found (entry-point group 'kycmux').")
    for f in failures:
        console.print(
            f"[red]plugin {escape(f['name'])} ({escape(str(f['distribution']))}) failed to "
            f"load:[/] {escape(f['error'])}"
        )


def _configured(entry: dict[str, Any]) -> str:
    if entry["instances"] in ([], [entry["name"]]):
        said = "yes" if entry["configured"] else "no"
    else:
        said = "as " + ", ".join(entry["instances"])
    for instance, limits in entry["limits"].items():
        rate = "" if limits["rate"] is None else f", {limits['rate']:g}/s"
        said += f"\n{instance}: ≤ {limits['max_in_flight']} in flight{rate}"
    return said


_EVIDENCE_OPTIONS = {
    "selfie": "--selfie",
    "reference_photo": "--card",
    "video": "--video",
    "digits": "--digits",
    "liveness_data": "--liveness-data",
    "id_number": "--id-number",
    "id_name": "--id-name",
    "subject_id": "--subject",
    "challenge": "--challenge",
}


@main.command(epilog=exit_help(0, 10, 11, 12, 13, 2))
@click.option("--config", "config_path", help=f"Configuration file (default: ./{DEFAULT_CONFIG}).")
@click.option("--policy", help="Policy name (default: the configured default).")
@click.option("--vendor", help="Limit the decision to this vendor.")
@click.option(
    "--check",
    "checks",
    multiple=True,
    type=click.Choice([c.value for c in Check]),
    help="Only these checks (repeatable).",
)
@click.option("--selfie", help="Selfie photo: a file path or an https URL.")
@click.option("--card", help="Reference (ID card) photo: a file path.")
@click.option("--video", help="Lip-reading liveness video: a file path.")
@click.option(
    "--challenge",
    "challenge_source",
    help="The challenge from `kycmux challenge --json`: a file, - for stdin, or the JSON.",
)
@click.option("--digits", help="Digits you chose (vendors' opt-in only; prefer --challenge).")
@click.option("--liveness-data", help="Liveness-SDK data file: a file path or an https URL.")
@click.option("--id-number", help="PRC resident ID number (18 characters).")
@click.option("--id-name", help="Name on the ID.")
@click.option("--subject", help="Your stable id for the person.")
@click.option(
    "--consent",
    "consents",
    multiple=True,
    type=click.Choice([c.value for c in Consent]),
    help="What the person agreed to beyond the verification (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision record as JSON.")
def verify(
    config_path: str | None,
    policy: str | None,
    vendor: str | None,
    checks: tuple[str, ...],
    consents: tuple[str, ...],
    as_json: bool,
    challenge_source: str | None,
    **evidence_options: str | None,
) -> None:
    """Verify one person with the configured vendors and print the decision.

    The exit status says the outcome, so a script can act on it.
    """
    issued = read_challenge(challenge_source) if challenge_source is not None else None
    try:
        evidence = Evidence(
            selfie=evidence_options["selfie"],
            reference_photo=evidence_options["card"],
            video=evidence_options["video"],
            digits=evidence_options["digits"],
            liveness_data=evidence_options["liveness_data"],
            id_number=evidence_options["id_number"],
            id_name=evidence_options["id_name"],
            subject_id=evidence_options["subject"],
            consents=consents,
            challenge=issued,
        )
    except InvalidEvidenceError as exc:
        raise click.BadParameter(exc.rule, param_hint=_EVIDENCE_OPTIONS[exc.field]) from None
    try:
        engine = Engine.from_config_file(config_path or DEFAULT_CONFIG)
        with engine:
            decision = engine.verify_sync(
                evidence,
                policy=policy,
                checks=[Check(c) for c in checks] or None,
                vendor=vendor,
            )
    except InvalidEvidenceError as exc:  # no vendor of the policy can take it: nothing sent
        hint = _EVIDENCE_OPTIONS.get(exc.field, exc.field)
        raise click.BadParameter(exc.rule, param_hint=hint) from None
    except KycmuxError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(decision.record.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_decision(_console(), decision)
    raise SystemExit(verify_exit(decision.record.outcome))


def print_decision(console: Console, decision: Decision) -> None:
    """A human-readable decision: outcome, why, and every attempt (data never read as markup)."""
    record = decision.record
    colour = {"accept": "green", "reject": "red", "retry_capture": "yellow"}.get(
        record.outcome, "magenta"
    )
    console.print(f"[bold {colour}]{record.outcome.upper()}[/]  request {record.request_id}")
    console.print(record.explanation, markup=False)
    if record.hint:
        console.print("[yellow]Tell the user:[/] " + escape(record.hint))
    console.print(_attempts_table(decision))
    for skip in record.skipped:
        console.print(f"skipped {skip.vendor} for {skip.check}: {skip.reason}", markup=False)
    if record.experiment is not None:
        line = f"experiment {record.experiment['name']}: arm {record.experiment['arm']}"
        console.print(line, markup=False)
    for shadow in record.shadow:
        said = f", would have said {shadow.outcome}" if shadow.outcome else ""
        line = f"shadow {shadow.vendor} ({shadow.experiment}): {shadow.status}{said}"
        console.print(line, markup=False)


def _attempts_table(decision: Decision) -> Table:
    """Every attempt; columns fold rather than cut, so 80 columns lose nothing."""
    table = Table()
    for column in ("vendor", "role", "checks", "result", "ms", "vendor code"):
        table.add_column(column, overflow="fold")
    for a in decision.record.attempts:
        result = a.error_class or "\n".join(f"{c}={v}" for c, v in a.verdicts.items())
        cells = (a.vendor, a.role, "\n".join(a.checks), result, f"{a.latency_ms:.0f}")
        table.add_row(*(escape(c) for c in (*cells, a.vendor_code or "")))
    return table


@main.command(epilog=exit_help(0, 1))
@click.option(
    "--records", type=click.Path(dir_okay=False), help="Also copy the decision records here."
)
@click.option(
    "--keep", is_flag=True, help="Keep the temp folder (evidence, records, results) afterwards."
)
def demo(records: str | None, keep: bool) -> None:
    """A scripted tour against the embedded simulators (no setup; writes only to a temp dir,
    removed at the end unless --keep)."""
    from kycmux.cli._demo import run_demo

    run_demo(Console(highlight=False, emoji=False), copy_records_to=records, keep=keep)


@main.command("new-vendor", epilog=exit_help(0, 1, 2))
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Where the kycmux-NAME folder is written.",
)
def new_vendor(name: str, directory: str) -> None:
    """Write a ready-to-run vendor plugin skeleton (spec, hooks, simulator, tests) for NAME.

    Exits 1, writing nothing, if its folder exists.
    """
    from pathlib import Path

    from kycmux.cli._template import write_skeleton
    from kycmux.exceptions import InvalidVendorNameError

    try:
        root = write_skeleton(name, Path(directory))
    except InvalidVendorNameError as exc:
        raise click.BadParameter(exc.rule, param_hint="NAME") from None
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {root}: pip install -e '{root}[sim,test]' && pytest {root}")


main.add_command(challenge)
main.add_command(records)
main.add_command(sandbox)
for command in (*COMPARE_COMMANDS, *TRUTH_COMMANDS):
    main.add_command(command)
