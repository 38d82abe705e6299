"""``kycmux sandbox``: every simulator on loopback, a config that reaches them, sample files.

It serves until stopped, so it says so at once, on standard error, before it blocks; what it
writes goes to a temporary name first and is renamed, ``sandbox.env`` last, so a script that
waits for that file finds everything complete.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

import click

from kycmux._contract._host import PluginHost
from kycmux.cli._exits import exit_help
from kycmux.simkit import Sandbox, run_sandbox
from kycmux.synthetic import Population, demo_truths, write_image, write_liveness_data

__all__ = ["SAMPLES", "sandbox", "write_samples"]

DEFAULT_CONFIG = "kycmux.toml"

SAMPLES = {
    "selfie.png": "selfie",
    "card.jpg": "card_photo",
    "live.bin": "live_liveness_data",
    "spoof.bin": "attack_liveness_data",
}
"""The sample evidence ``--write`` puts beside the config: file name -> demo file."""


def write_samples(folder: Path) -> list[Path]:
    """Write the sample evidence into ``folder``: the demo's subject, live and spoofed."""
    truths = demo_truths(Population.default())
    written = []
    for filename, name in SAMPLES.items():
        truth = truths[name][1]
        path = folder / filename
        if filename.endswith(".bin"):
            write_liveness_data(path, truth)  # type: ignore[arg-type]
        else:
            write_image(path, truth)  # type: ignore[arg-type]
        written.append(path)
    return written


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


RECORD_KEY_VAR = "KYCMUX_SANDBOX_RECORD_KEY"
"""The variable the written configuration's ``[engine] record_key`` names."""


def configuration(box: Sandbox) -> tuple[str, str]:
    """The sandbox's ``kycmux.toml`` text and the ``export`` lines it needs.

    With a fresh record key shared by every command run with this configuration: subject
    hashes join across processes, records are chained, and a challenge one `kycmux challenge`
    issued is accepted by a later `kycmux verify` (its seal is keyed from it).
    """
    engine = f'[engine]\nrecord_key = "${{{RECORD_KEY_VAR}}}"\n\n'
    key = f"export {RECORD_KEY_VAR}='{secrets.token_hex(32)}'\n"
    return engine + box.toml(), box.exports() + key


def _write(folder: Path, box: Sandbox, toml: str, exports: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    samples = write_samples(folder)
    _write_atomically(folder / DEFAULT_CONFIG, toml)
    _write_atomically(folder / "sandbox.env", exports)
    names = ", ".join(p.name for p in samples)
    click.echo(f"# Wrote {folder / DEFAULT_CONFIG}, {folder / 'sandbox.env'} and samples: {names}")


@click.command(epilog=exit_help(0, 2))
@click.option(
    "--write",
    "write_dir",
    type=click.Path(file_okay=False),
    help="Also write kycmux.toml, sandbox.env and sample evidence (selfie.png, card.jpg, "
    "live.bin, spoof.bin) here.",
)
@click.option("--seconds", type=float, help="Stop after this many seconds (default: until Ctrl-C).")
@click.option(
    "--instance",
    "instances",
    multiple=True,
    metavar="NAME=VENDOR",
    help="Also serve another account of VENDOR as instance NAME, on its own simulator.",
)
def sandbox(write_dir: str | None, seconds: float | None, instances: tuple[str, ...]) -> None:
    """Serve every installed vendor's simulator on loopback and print a ready config.

    It keeps serving until Ctrl-C (or --seconds): run it in its own terminal, or in the
    background with `&`, and verify from another.
    """
    host = PluginHost.from_entry_points()
    named = dict(_instance_option(i, host) for i in instances)
    with run_sandbox(host, instances=named) as box:
        for name, sim in box.running.items():
            click.echo(f"# {name}: {sim.base_url}")
        toml, exports = configuration(box)
        click.echo(toml)
        click.echo("# Export the simulators' (fake) credentials and the record key it refers to:")
        click.echo(exports)
        if write_dir is not None:
            _write(Path(write_dir), box, toml, exports)
        until = f"for {seconds:g} s" if seconds is not None else "until Ctrl-C"
        click.echo(f"# Simulators running {until}; stop them with Ctrl-C.", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(seconds if seconds is not None else 10**9)


def _instance_option(text: str, host: PluginHost) -> tuple[str, str]:
    name, _, vendor = text.partition("=")
    if not name or vendor not in host.vendors:
        known = ", ".join(sorted(host.vendors)) or "none"
        raise click.BadParameter(f"{text!r}: give NAME=VENDOR, VENDOR one of {known}")
    return name, vendor
