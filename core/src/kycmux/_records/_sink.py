"""Decision record sinks: the JSON-lines file that ships with core, what any sink must do, and
the engine's list of them.

A sink's ``on_decision`` runs on the engine's observer thread, after the decision. A sink that
writes in the background (``PostgresRecordSink``) also has ``flush(timeout)`` and
``close(timeout)``: the engine's ``drain`` flushes it, closing the engine closes it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from kycmux._contract._markers import hookimpl
from kycmux._postgres._target import is_postgres_url
from kycmux._records._record import DecisionRecord, canonical_json

if TYPE_CHECKING:
    from kycmux._records._postgres import PostgresRecordSink

__all__ = ["JsonLinesSink", "RecordSink", "Sinks", "open_record_sink"]

log = logging.getLogger("kycmux.engine")


@runtime_checkable
class RecordSink(Protocol):
    """Where decision records go. ``on_decision`` must not raise but ``OSError`` (logged and
    ignored); a sink may also have ``flush(timeout: float) -> bool`` and
    ``close(timeout: float) -> None``, which the engine calls when present."""

    def on_decision(self, record: DecisionRecord) -> None: ...


@attrs.define(eq=False)  # plugins must be hashable: pluggy keeps them in sets
class JsonLinesSink:
    """An ``on_decision`` plugin appending every decision record as one JSON line.

    Records are already masked (no secrets, no raw personal data). Each line is written with
    a single ``write`` on a file opened in append mode, so several processes can share a file.

    Attributes:
        path: The file to append to (parents are created).
    """

    path: Path = attrs.field(converter=Path)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    @hookimpl
    def on_decision(self, record: DecisionRecord) -> None:
        line = canonical_json(record) + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)


def open_record_sink(target: str) -> JsonLinesSink | PostgresRecordSink:
    """The sink ``[engine] records`` names: a ``postgresql://`` URL, or a JSON-lines file."""
    if is_postgres_url(target):
        # Only now: the module is light, but psycopg is the postgres extra's.
        from kycmux._records._postgres import PostgresRecordSink

        return PostgresRecordSink.open(target)
    return JsonLinesSink(target)


def _name(sink: RecordSink) -> str:
    """How a sink is named in a log line: its file, its (masked) URL, or its type."""
    for attribute in ("path", "url"):
        where = getattr(sink, attribute, None)
        if where is not None:
            return str(where)
    return type(sink).__name__


@attrs.define
class Sinks:
    """An engine's record sinks, in the order they were added.

    Attributes:
        sinks: Each sink, and whether the engine owns it (closes it when it closes).
    """

    sinks: list[tuple[RecordSink, bool]] = attrs.field(factory=list)

    def add(self, sink: RecordSink, *, owned: bool) -> None:
        self.sinks.append((sink, owned))

    def write(self, record: DecisionRecord) -> None:
        """Give ``record`` to every sink (on the observer thread); one failing sink is logged
        and the others still get it."""
        for sink, _owned in self.sinks:
            try:
                sink.on_decision(record)
            except OSError as exc:
                log.warning("decision record sink %s failed (%s); ignored", _name(sink), exc)

    @property
    def background(self) -> bool:
        """Whether a sink writes in the background (so ``flush`` has something to wait for)."""
        return any(hasattr(sink, "flush") for sink, _owned in self.sinks)

    def flush(self, timeout: float) -> None:
        """Wait, ``timeout`` seconds in all, for the sinks writing in the background."""
        until = time.monotonic() + timeout
        for sink, _owned in self.sinks:
            flush = getattr(sink, "flush", None)
            if flush is not None and not flush(max(0.0, until - time.monotonic())):
                log.warning(
                    "decision record sink %s still writing after %g s; not waiting for it",
                    _name(sink),
                    timeout,
                )

    def close(self, timeout: float) -> None:
        """Close the sinks the engine owns, each given at most ``timeout`` seconds."""
        for sink, owned in self.sinks:
            close = getattr(sink, "close", None)
            if owned and close is not None:
                close(timeout)
