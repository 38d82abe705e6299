"""``kycmux records``: read, filter, follow and verify the decision records a config's
``[engine] records`` sink holds (a JSON-lines file or PostgreSQL).

Nothing here prints a raw subject id (``--subject`` is hashed with the record key, as the
engine does) and no record text goes through Rich markup. Exit codes: 0 fine, 2 usage or
configuration error, ``BROKEN`` (5) when ``--verify`` finds the chain broken.
"""

from __future__ import annotations

import sys
import time
import tomllib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kycmux._config._config import Config
from kycmux._model._privacy import keyed_hash
from kycmux._model._secret import reveal
from kycmux._postgres._target import is_postgres_url
from kycmux._records._chain import Entry, Link, verify_chain
from kycmux._records._read import FileRecords, PostgresRecords, RecordFilter, parse_time
from kycmux._records._record import canonical_json
from kycmux.cli._exits import exit_help
from kycmux.exceptions import KycmuxError

__all__ = ["BROKEN", "records"]

DEFAULT_CONFIG = "kycmux.toml"
BROKEN = 5
"""Exit code of ``--verify`` when a record was edited, deleted, reordered or is unreadable."""
POLL_MIN, POLL_MAX = 0.1, 60.0

Source = FileRecords | PostgresRecords


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=_width())


def _width() -> int | None:
    """Rich's own guess, but 80 columns when the output is no terminal (a pipe, a file)."""
    return None if sys.stdout.isatty() else 80


def _settings(config_path: str) -> tuple[Source, bytes | None]:
    """The records sink and record key of the config's ``[engine]`` table (only that table
    is read: reading records needs no vendor credentials)."""
    try:
        data = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise click.BadParameter("file not found", param_hint="'--config'") from None
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"not valid TOML: {exc}", param_hint="'--config'") from None
    try:
        engine = Config.from_mapping({"engine": data.get("engine", {})}, {}).engine
        target = engine.records
        if target is None:
            raise click.UsageError(f"{config_path}: [engine] records is not set: no records")
        key = None if engine.record_key is None else str(reveal(engine.record_key)).encode()
        if is_postgres_url(target):
            return PostgresRecords.open(target), key
    except KycmuxError as exc:
        raise click.UsageError(str(exc)) from None
    # A relative path is the working directory's, as for the engine that writes it.
    return FileRecords(Path(target)), key


def _filter(options: Mapping[str, Any], key: bytes | None) -> RecordFilter:
    now = datetime.now(UTC)
    try:
        since = None if options["since"] is None else parse_time(options["since"], now, "--since")
        until = None if options["until"] is None else parse_time(options["until"], now, "--until")
    except KycmuxError as exc:
        raise click.UsageError(str(exc)) from None
    subject = options["subject"]
    if subject is not None:
        if key is None:
            raise click.UsageError(
                "--subject needs [engine] record_key: records hash subjects with it"
            )
        subject = keyed_hash(key, subject)  # the raw id is never kept nor printed
    return RecordFilter(
        outcomes=frozenset(options["outcomes"]),
        vendor=options["vendor"],
        reason=options["reason"],
        since=since,
        until=until,
        request_id=options["request_id"],
        subject=subject,
    )


@click.group(invoke_without_command=True, epilog=exit_help(0, 2, BROKEN))
@click.option(
    "--config",
    "config_path",
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Configuration file: its [engine] records and record_key.",
)
@click.option("--outcome", "outcomes", multiple=True, help="Only this outcome (repeatable).")
@click.option("--vendor", help="Only decisions that asked this vendor.")
@click.option("--reason", help="Only decisions with a reason that is or starts with this.")
@click.option("--since", help="Started at or after: an ISO time (UTC if no zone) or 30m, 1h, 2d.")
@click.option("--until", help="Started before: an ISO time or a duration ago.")
@click.option("--request-id", help="Only this request id.")
@click.option("--subject", help="Only this subject id (hashed with the record key; not shown).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--explain", is_flag=True, help="Explain each decision shown (as `show`).")
@click.option("--follow", is_flag=True, help="Then print new records as they come (Ctrl-C).")
@click.option(
    "--interval",
    type=click.FloatRange(POLL_MIN, POLL_MAX),
    default=1.0,
    show_default=True,
    help="Seconds between polls with --follow.",
)
@click.option("--seconds", type=float, help="Stop following after this many seconds.")
@click.option("--verify", is_flag=True, help=f"Check the records chain (exit {BROKEN}: broken).")
@click.option("--anchor", metavar="SEQ:HASH", help="With --verify: a head kept from before.")
@click.option(
    "--allow-unchained",
    is_flag=True,
    help="With --verify: accept records from before the chain began (written without a "
    "record key) and a chain that continues an earlier file; nothing protects them.",
)
@click.pass_context
def records(ctx: click.Context, /, config_path: str, **options: Any) -> None:
    """Read the decision records of a config's sink: list, filter, follow, explain, verify."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = config_path
        return
    source, key = _settings(config_path)
    console = _console()
    if options["verify"]:
        sys.exit(_verify(source, key, options["anchor"], options["allow_unchained"]))
    wanted = _filter(options, key)
    show = _printer(console, as_json=options["as_json"], explain=options["explain"])
    try:
        show(e for e in source.entries() if _keep(e, wanted))
        if options["follow"]:
            _follow(source, wanted, show, options["interval"], options["seconds"])
    except KycmuxError as exc:
        raise click.UsageError(str(exc)) from None


def _keep(entry: Entry, wanted: RecordFilter) -> bool:
    if entry.plain is None:  # an unreadable line: said on stderr, never fatal
        click.echo(f"line {entry.position}: {entry.problem}", err=True)
        return False
    return wanted.matches(entry.plain)


def _follow(
    source: Source, wanted: RecordFilter, show: Any, interval: float, seconds: float | None
) -> None:
    reader = source.follower()
    click.echo(f"following {source.where}; Ctrl-C to stop", err=True)
    until = None if seconds is None else time.monotonic() + seconds
    try:
        while until is None or time.monotonic() < until:
            show(e for e in reader.poll() if _keep(e, wanted))
            time.sleep(interval)
    except KeyboardInterrupt:
        return


def _printer(console: Console, *, as_json: bool, explain: bool) -> Any:
    def show(entries: Iterable[Entry]) -> None:
        chosen = list(entries)
        if as_json:
            for entry in chosen:
                plain = dict(entry.plain or {})
                if entry.link is not None:
                    plain["chain"] = entry.link.as_dict()
                click.echo(canonical_json(plain))
        elif explain:
            for entry in chosen:
                explain_record(console, entry.plain or {})
        elif chosen:
            console.print(_table(chosen))
        sys.stdout.flush()

    return show


def _when(value: Any) -> str:
    if not isinstance(value, int | float):
        return "?"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(entries: list[Entry]) -> Table:
    """One row per record, readable at 80 columns (the request id is never cut)."""
    table = Table(box=None, pad_edge=False)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("vendors", overflow="fold")
    table.add_column("request id", no_wrap=True)
    for entry in entries:
        r = entry.plain or {}
        vendors = sorted({str(a.get("vendor")) for a in _dicts(r.get("attempts"))})
        ms = r.get("duration_ms")
        cells = (
            _when(r.get("started_at"))[5:],  # the year is the file's, and costs 5 columns
            str(r.get("outcome")),
            f"{ms:.0f}" if isinstance(ms, int | float) else "?",
            " ".join(vendors),
            str(r.get("request_id")),
        )
        table.add_row(*(Text(c) for c in cells))  # Text: a record's strings are never markup
    return table


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def explain_record(console: Console, r: Mapping[str, Any]) -> None:
    """One decision explained: who was asked, what each said, how long, why the outcome."""
    say = console.print
    say(Text(f"{str(r.get('outcome')).upper()}  request {r.get('request_id')}", style="bold"))
    say(
        Text(
            f"started {_when(r.get('started_at'))} UTC, took {r.get('duration_ms')} ms, "
            f"policy {r.get('policy')}"
        )
    )
    say(Text(f"why: {r.get('explanation')}"))
    say(Text(f"reasons: {', '.join(map(str, _list(r.get('reasons')))) or '-'}"))
    # A hand-edited line may hold anything: only objects are read, and lists as text.
    for c in _dicts(r.get("checks")):
        vendors = ", ".join(map(str, _list(c.get("vendors")))) or "no vendor"
        say(Text(f"check {c.get('check')}: {c.get('verdict')} by {vendors} ({c.get('reason')})"))
    for a in _dicts(r.get("attempts")):
        given = a.get("verdicts")
        verdicts = (
            ", ".join(f"{k}={v}" for k, v in given.items()) if isinstance(given, Mapping) else ""
        )
        said = a.get("error_class") or verdicts or "-"
        code = f", vendor code {a.get('vendor_code')}" if a.get("vendor_code") else ""
        checks = ",".join(map(str, _list(a.get("checks"))))
        say(
            Text(
                f"asked {a.get('vendor')} ({a.get('role')}, {checks}): "
                f"{said} in {a.get('latency_ms')} ms, HTTP {a.get('http_status')}{code}"
            )
        )
    for s in _dicts(r.get("skipped")):
        say(Text(f"skipped {s.get('vendor')} for {s.get('check')}: {s.get('reason')}"))
    for s in _dicts(r.get("shadow")):
        say(Text(f"shadow {s.get('vendor')} ({s.get('experiment')}): {s.get('status')}"))
    if r.get("hint"):
        say(Text(f"tell the user: {r.get('hint')}"))
    say(Text(""))


@records.command()
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="The record as one JSON object.")
@click.pass_context
def show(ctx: click.Context, /, request_id: str, as_json: bool) -> None:
    """Explain one decision: who was asked, what each said, latency, why the outcome."""
    source, _key = _settings(ctx.obj or DEFAULT_CONFIG)
    try:
        found = [e for e in source.entries() if e.plain and e.plain.get("request_id") == request_id]
    except KycmuxError as exc:
        raise click.UsageError(str(exc)) from None
    if not found:
        raise click.ClickException(f"no record of request {request_id!r} in {source.where}")
    _printer(_console(), as_json=as_json, explain=True)(found)


def _verify(source: Source, key: bytes | None, anchor: str | None, allow_unchained: bool) -> int:
    """Check the chain, line by line (one report line each: never wrapped, for scripts)."""
    if key is None:
        raise click.UsageError(
            "--verify needs [engine] record_key: records are chained with it (without it they "
            "carry no chain)"
        )
    try:
        verdict = verify_chain(key, source.entries())
    except KycmuxError as exc:
        raise click.UsageError(str(exc)) from None
    unit = "row seq" if isinstance(source, PostgresRecords) else "line"
    for b in verdict.breaks:
        rid = f" (request {b.request_id})" if b.request_id else ""
        click.echo(f"{unit} {b.position}{rid}: {b.kind}: {b.detail}")
    problems = len(verdict.breaks)
    if anchor is not None:
        problems += _check_anchor(anchor, source)
    # Unlinked records before the first link, or a chain not starting at seq 1, are what
    # stripping the links off the oldest records (to rewrite them) would look like: broken,
    # unless the operator knows they predate the key (or continue a rotated file).
    unprotected = "" if allow_unchained else " (not protected: --allow-unchained accepts them)"
    if verdict.unchained:
        click.echo(f"{verdict.unchained} records from before the chain began{unprotected}")
    if verdict.first_seq not in (None, 1):
        click.echo(f"the chain continues from seq {verdict.first_seq}{unprotected}")
    if not allow_unchained:
        problems += bool(verdict.unchained) + (verdict.first_seq not in (None, 1))
    head = verdict.head
    state = "intact" if not problems else f"BROKEN ({problems} problems)"
    click.echo(f"{source.where}: {verdict.checked} chained records, {state}")
    if head is not None:  # kept elsewhere, it shows a later cut of the newest records
        click.echo(f"head {head.seq}:{head.hash}")
    if problems or (verdict.checked == 0 and verdict.unchained):
        return BROKEN
    return 0


def _check_anchor(anchor: str, source: Source) -> int:
    seq, _, digest = anchor.partition(":")
    if not seq.isdigit() or not digest:
        raise click.BadParameter("give SEQ:HASH, as --verify printed it", param_hint="--anchor")
    links: dict[int, Link] = {e.link.seq: e.link for e in source.entries() if e.link}
    if links.get(int(seq)) is None or links[int(seq)].hash != digest:
        click.echo(f"anchor {seq}: missing or different: records were cut or rewritten")
        return 1
    return 0
