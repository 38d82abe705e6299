"""``kycmux challenge`` and reading a challenge back for ``kycmux verify --challenge``.

``kycmux challenge --json`` prints the challenge as one JSON object (digits included: the app
shows them to the person); ``kycmux verify --challenge FILE`` reads it back from a file, from
standard input (``-``) or inline, so a script can pipe one into the other.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import click

from kycmux._engine._engine import Engine
from kycmux._model._challenge import Challenge
from kycmux.cli._exits import exit_help
from kycmux.exceptions import ChallengeUnavailableError, InvalidEvidenceError, KycmuxError

__all__ = ["challenge", "read_challenge"]

_MAX_TEXT = 64 * 1024  # a challenge is a few hundred bytes; refuse to slurp anything big


def read_challenge(source: str) -> Challenge:
    """The challenge in ``source``: ``-`` (standard input), inline JSON, or a file path."""
    if source == "-":
        text = sys.stdin.read(_MAX_TEXT)
    elif source.lstrip().startswith("{"):
        text = source
    else:
        try:
            with Path(source).open(encoding="utf-8") as f:
                text = f.read(_MAX_TEXT)
        except OSError as exc:
            raise click.BadParameter(
                f"cannot read {Path(source).name} ({exc.strerror})", param_hint="--challenge"
            ) from None
    try:
        data = json.loads(text)
    except ValueError:
        raise click.BadParameter(
            "not JSON: pass what `kycmux challenge --json` printed", param_hint="--challenge"
        ) from None
    try:
        return Challenge.from_dict(data)
    except InvalidEvidenceError as exc:
        raise click.BadParameter(f"{exc.field}: {exc.rule}", param_hint="--challenge") from None


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(timespec="seconds")


@click.command(epilog=exit_help(0, 2))
@click.option("--config", "config_path", help="Configuration file (default: ./kycmux.toml).")
@click.option("--subject", help="Your stable id for the person (picks an experiment's arm).")
@click.option("--policy", help="Policy name (default: the configured default).")
@click.option("--json", "as_json", is_flag=True, help="Print the challenge as one JSON object.")
def challenge(
    config_path: str | None, subject: str | None, policy: str | None, as_json: bool
) -> None:
    """Ask the vendor the policy would use for a challenge (Tencent: digits to read aloud).

    Pass it to `kycmux verify --challenge` with the capture: `--challenge FILE`, or `-` to read
    it from standard input.
    """
    try:
        with Engine.from_config_file(config_path or "kycmux.toml") as engine:
            found = engine.challenge_sync(subject, policy=policy)
    except ChallengeUnavailableError as exc:
        raise click.ClickException(str(exc)) from None
    except KycmuxError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(found.to_dict(), ensure_ascii=False))
        return
    click.echo(f"Read aloud: {found.value}")
    click.echo(
        f"Issued by {found.vendor} at {_when(found.issued_at)}; "
        f"use it before {_when(found.expires_at)}, once."
    )
    click.echo("Pass it to `kycmux verify --challenge` (use --json to save it to a file).")
