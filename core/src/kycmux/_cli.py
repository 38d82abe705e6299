"""The ``kycmux`` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kycmux._config import Config
from kycmux._plugins import PluginHost
from kycmux._vendor import VendorSpec
from kycmux.exceptions import KycmuxError

__all__ = ["main"]

DEFAULT_CONFIG = "kycmux.toml"


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def load_config(host: PluginHost, path: str | None) -> Config | None:
    """The config at ``path``; the default file only if it exists; ``None`` without one."""
    if path is None:
        if not Path(DEFAULT_CONFIG).is_file():
            return None
        path = DEFAULT_CONFIG
    return Config.from_file(path, host.vendors)


def _vendor_entry(host: PluginHost, spec: VendorSpec, config: Config | None) -> dict[str, Any]:
    origin = host.origin(spec.name)
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
        "simulator": spec.simulator is not None,
        "configured": config is not None and spec.name in config.vendors,
    }


@click.group()
@click.version_option(package_name="kycmux")
def main() -> None:
    """kycmux: KYC face and liveness vendors behind one plugin contract."""


@main.command()
@click.option("--config", "config_path", help=f"Configuration file (default: ./{DEFAULT_CONFIG}).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of tables.")
def vendors(config_path: str | None, as_json: bool) -> None:
    """List every discovered vendor, and every plugin that failed to load."""
    host = PluginHost.from_entry_points()
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
        return
    _print_vendors(entries, failures)


def _print_vendors(entries: list[dict[str, Any]], failures: list[dict[str, Any]]) -> None:
    console = _console()
    table = Table(title="kycmux vendors", show_lines=True)
    for column in ("vendor", "distribution", "checks and evidence", "scores", "configured"):
        table.add_column(column)
    for e in entries:
        checks = "\n".join(
            f"[bold]{check}[/] via {c['operation']}: {', '.join(c['needs'])}"
            for check, c in e["checks"].items()
        )
        scores = "\n".join(
            f"{s['name']} ({s['check']}): "
            + (f"calibrated, {s['calibration']}" if s["calibrated"] else "uncalibrated")
            for s in e["scores"]
        )
        table.add_row(
            f"[bold]{e['name']}[/]\n{e['display_name']}",
            f"{e['distribution']} {e['version']}",
            checks,
            scores or "-",
            "yes" if e["configured"] else "no",
        )
    console.print(table)
    if not entries:
        console.print("No vendor plugins found (entry-point group 'kycmux').")
    for f in failures:
        console.print(
            f"[red]plugin {f['name']} ({f['distribution']}) failed to load:[/] {f['error']}"
        )
