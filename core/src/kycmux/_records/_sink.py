"""Decision record sinks: the JSON-lines file that ships with core, what any sink must do, and
the engine's list of them.

A sink's ``on_decision`` runs on the engine's observer thread, after the decision. A sink that
writes in the background (``JsonLinesSink``, ``PostgresRecordSink``) also has
``flush(timeout)`` and ``close(timeout)``: the engine's ``drain`` flushes it, closing the
engine closes it; and ``offer(record)``, which queues a record only if there is room right
now: the engine offers a decision's record straight from the event loop when no observer
plugin wants it, which saves the observers' thread a wake-up per decision.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from kycmux._contract._markers import hookimpl
from kycmux._postgres._target import is_postgres_url
from kycmux._records._chain import CHAIN_FIELD, Link, next_link
from kycmux._records._file import last_line, parse_line
from kycmux._records._record import DecisionRecord, record_json

try:  # POSIX: several processes appending to one file take turns, one chain for them all
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writer per file
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from kycmux._records._postgres import PostgresRecordSink

__all__ = ["JsonLinesSink", "RecordSink", "Sinks", "open_record_sink"]

log = logging.getLogger("kycmux.engine")

DEFAULT_QUEUE_SIZE = 10_000
"""Records waiting for the JSON-lines writer at most."""
FULL_WAIT = 1.0
"""Seconds a record waits for room on a full queue before it is lost (and counted)."""
BATCH_SIZE = 1_000
LINGER = 0.002
"""Seconds the writer waits once a record woke it, so that records arriving meanwhile share
its wake-up and its write: at one decision in flight, this halves the writer's CPU per record
(measured: ~150 -> ~80 us) and its contention with the event loop; a record is in the file at
most this much later."""
WARN_EVERY = 10.0
_STOP = None


@runtime_checkable
class RecordSink(Protocol):
    """Where decision records go. ``on_decision`` must not raise but ``OSError`` (logged and
    ignored); a sink may also have ``flush(timeout: float) -> bool`` and
    ``close(timeout: float) -> None``, which the engine calls when present.

    And ``offer(record: DecisionRecord) -> bool``, optional too: take the record only if that
    costs nothing right now (a free place on the sink's queue: never wait, no I/O), and say
    whether it was taken. The engine calls it on the thread that posted the decision (the
    event loop) when no observer plugin observes the decision; a sink that answers False, or
    has no ``offer``, gets the record by ``on_decision`` on the observers' thread, so each
    sink gets each record exactly once. ``flush`` must cover offered records too."""

    def on_decision(self, record: DecisionRecord) -> None: ...


_OPEN: weakref.WeakSet[JsonLinesSink] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """The interpreter is ending: write what is queued (the writer threads are daemons)."""
    for sink in list(_OPEN):
        sink.close(FULL_WAIT * 5)


@attrs.define(eq=False, repr=False)  # plugins must be hashable: pluggy keeps them in sets
class JsonLinesSink:
    """An ``on_decision`` plugin appending every decision record as one JSON line.

    Records are already masked (no secrets, no raw personal data). ``on_decision`` (or
    ``offer``) queues the record; a writer thread, woken by a record, waits ``LINGER`` (2 ms)
    and appends what has queued up by then with one ``write`` on a file it keeps
    open in append mode, under an exclusive ``flock`` (so several processes can share a
    file). With a ``key`` every line carries a ``chain`` link (see ``kycmux._records._chain``)
    continuing the file's last line, whoever wrote it. A record is in the file (the OS's cache)
    once ``flush`` returns, or ``close``, or the engine's ``drain``; on disk after ``fsync``
    with ``fsync=True``.

    Attributes:
        path: The file to append to (parents are created).
        key: The record key: each line's chain link is keyed with it; ``None``: no links.
        queue_size: Records that may wait for the writer; beyond, a record waits up to
            ``FULL_WAIT`` seconds for room, then is lost (counted in ``lost``).
        fsync: ``fsync`` after every batch (each batch on disk, at a cost).
        written: Records written so far.
        lost: Records lost so far (the queue stayed full, or writing failed).
    """

    path: Path = attrs.field(converter=Path)
    key: bytes | None = attrs.field(default=None, kw_only=True)
    queue_size: int = attrs.field(default=DEFAULT_QUEUE_SIZE, kw_only=True)
    fsync: bool = attrs.field(default=False, kw_only=True)
    written: int = attrs.field(init=False, default=0)
    lost: int = attrs.field(init=False, default=0)
    _queue: queue.Queue[DecisionRecord | None] = attrs.field(init=False)
    _cond: threading.Condition = attrs.field(init=False, factory=threading.Condition)
    _pending: int = attrs.field(init=False, default=0)
    _thread: threading.Thread | None = attrs.field(init=False, default=None)
    _fd: int | None = attrs.field(init=False, default=None)
    _end: int = attrs.field(init=False, default=-1)  # the file's size after our last write
    _link: Link | None = attrs.field(init=False, default=None)
    _warned: dict[str, float] = attrs.field(init=False, factory=dict)
    # One writer at a time, even while a closing writer and a new one overlap.
    _writing: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    def __attrs_post_init__(self) -> None:
        self._queue = queue.Queue(maxsize=self.queue_size)

    def __repr__(self) -> str:
        return f"JsonLinesSink(path={str(self.path)!r}, chained={self.key is not None})"

    @hookimpl
    def on_decision(self, record: DecisionRecord) -> None:
        """Queue ``record`` for the writer (started on the first record), waiting up to
        ``FULL_WAIT`` seconds for room."""
        self._accept()
        try:
            self._queue.put(record, timeout=FULL_WAIT)
        except queue.Full:
            self._settle(lost=1, why="the queue stayed full: the disk is stuck or too slow")

    def offer(self, record: DecisionRecord) -> bool:
        """Queue ``record`` if the queue has room right now (never waits); whether it did.
        A record refused is not counted anywhere: the caller gives it to ``on_decision``."""
        self._accept()
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._settle(refused=1)
            return False
        return True

    def _accept(self) -> None:
        """Count one more record pending (``flush`` waits for it); start the writer."""
        with self._cond:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="kycmux-records-file", daemon=True
                )
                self._thread.start()
                _OPEN.add(self)

    def flush(self, timeout: float = FULL_WAIT * 5) -> bool:
        """Wait up to ``timeout`` seconds until every queued record is written (or lost);
        whether it happened."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=max(0.0, timeout))

    def close(self, timeout: float = FULL_WAIT * 5) -> None:
        """Flush (for at most ``timeout`` seconds), stop the writer and close the file. A
        record given later starts a new writer."""
        self.flush(timeout)
        with self._cond:
            thread, self._thread = self._thread, None
        if thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(_STOP, timeout=FULL_WAIT)
            thread.join(max(FULL_WAIT, timeout))
        _OPEN.discard(self)
        # A writer stuck in a write (a hung disk) keeps the file: never wait on it for ever.
        if self._writing.acquire(timeout=FULL_WAIT):
            try:
                self._release()
            finally:
                self._writing.release()

    # the writer's side ----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            records = [self._queue.get()]
            if records[-1] is not None:
                time.sleep(LINGER)  # see LINGER: one wake-up and one write for several records
            while records[-1] is not None and len(records) < BATCH_SIZE:
                try:
                    records.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            batch = [r for r in records if r is not None]
            if batch:
                with self._writing:
                    self._write_batch(batch)
            if records[-1] is None:
                return

    def _write_batch(self, batch: list[DecisionRecord]) -> None:
        bodies = []
        for record in batch:
            try:
                bodies.append(record_json(record))
            except Exception as exc:  # not serialisable: this one record cannot be kept
                self._settle(lost=1, why=f"it could not be serialised ({type(exc).__name__})")
        try:
            self._append(bodies)
        except OSError as exc:
            self._release()
            self._settle(lost=len(bodies), why=f"writing failed ({exc.strerror or exc})")
        else:
            self._settle(written=len(bodies))

    def _append(self, bodies: list[str]) -> None:
        fd = self._open()
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            lead = b""
            if size != self._end:  # another process wrote, or the file is new to us
                shrunk = 0 <= size < self._end
                if shrunk:
                    log.warning(
                        "decision record file %s shrank from %d to %d bytes: records were "
                        "cut; the chain goes on from this writer's last link, so --verify "
                        "shows the cut",
                        self.path,
                        self._end,
                        size,
                    )
                lead = self._recover(fd, size, keep_link=shrunk)
            data = lead + b"".join(self._line(body) for body in bodies)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
            self._end = size + len(data)
        finally:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _line(self, body: str) -> bytes:
        if self.key is None:
            return (body + "\n").encode("utf-8")
        self._link = next_link(self.key, self._link, body)
        # The record's own text, then its link: the link is never part of what it hashes.
        link = record_link_json(self._link)
        return (body[:-1] + f',"{CHAIN_FIELD}":{link}}}\n').encode("utf-8")

    def _recover(self, fd: int, size: int, *, keep_link: bool = False) -> bytes:
        """Take up the chain where the file's last line left it (unless ``keep_link``: the
        file was cut behind this writer, whose own last link must stay the chain's); a torn
        last line (a write cut short by a crash) is ended, so the next record starts on a line
        of its own."""
        line, torn = last_line(fd, size)
        if not keep_link and (line is not None or size):
            # The last line's link; none (a line without one, or unreadable): a new chain.
            self._link = parse_line(0, line).link if line is not None else None
        # An empty file (new, or rotated away): the chain goes on from our last link.
        return b"\n" if torn else b""

    def _open(self) -> int:
        """The open file, reopened when it was rotated (another file at the path)."""
        fd = self._fd
        if fd is not None:
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                return fd
            self._release()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Read and write: the last line is read back to take up the chain.
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self._end = -1
        return self._fd

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        self._end = -1
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _settle(self, *, written: int = 0, lost: int = 0, refused: int = 0, why: str = "") -> None:
        """Records no longer pending: written, lost, or refused by ``offer`` (not kept, but
        not lost either: the caller hands them to ``on_decision``)."""
        with self._cond:
            self._pending -= written + lost + refused
            self.written += written
            self.lost += lost
            total = self.lost
            self._cond.notify_all()
        if lost:
            now = time.monotonic()
            if now - self._warned.get("lost", -math.inf) >= WARN_EVERY:
                self._warned["lost"] = now
                log.warning(
                    "decision record sink %s: %d records lost so far (%s)", self.path, total, why
                )


def record_link_json(link: Link) -> str:
    """A link as the JSON text a line carries."""
    return f'{{"hash":"{link.hash}","prev":"{link.prev}","seq":{link.seq}}}'


def open_record_sink(
    target: str, *, key: bytes | None = None
) -> JsonLinesSink | PostgresRecordSink:
    """The sink ``[engine] records`` names: a ``postgresql://`` URL, or a JSON-lines file;
    with ``key`` (the configured record key) its records are chained."""
    if is_postgres_url(target):
        # Only now: the module is light, but psycopg is the postgres extra's.
        from kycmux._records._postgres import PostgresRecordSink

        return PostgresRecordSink.open(target, key=key)
    return JsonLinesSink(target, key=key)


def _offered(
    sink: RecordSink, offer: Callable[[DecisionRecord], bool], record: DecisionRecord
) -> bool:
    """Whether ``sink`` took ``record`` by ``offer``; one that raised did not (it gets the
    record by ``on_decision`` instead), and the decision it follows never sees the error."""
    try:
        return offer(record) is True
    except Exception as exc:  # the type only: a message may quote the record
        log.warning("decision record sink %s: offer raised %s", _name(sink), type(exc).__name__)
        return False


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
    # Each sink and its ``offer`` (None: it has none), looked up once, not per record.
    _routes: tuple[tuple[RecordSink, Callable[[DecisionRecord], bool] | None], ...] = attrs.field(
        init=False, default=()
    )

    def add(self, sink: RecordSink, *, owned: bool) -> None:
        self.sinks.append((sink, owned))

    def offer(self, record: DecisionRecord) -> tuple[RecordSink, ...]:
        """Offer ``record`` to every sink that takes records by ``offer`` (on the posting
        thread: none waits); the sinks still to be given it by ``write`` (no ``offer``, or
        it refused), in order: none, usually."""
        left: tuple[RecordSink, ...] = ()
        for sink, offer in self._known():
            if offer is None or not _offered(sink, offer, record):
                left += (sink,)
        return left

    def write(self, record: DecisionRecord, sinks: Iterable[RecordSink] | None = None) -> None:
        """Give ``record`` to ``sinks`` (default: every sink), on the observer thread; one
        failing sink is logged and the others still get it."""
        for sink in (sink for sink, _owned in self.sinks) if sinks is None else sinks:
            try:
                sink.on_decision(record)
            except OSError as exc:
                log.warning("decision record sink %s failed (%s); ignored", _name(sink), exc)

    def _known(self) -> tuple[tuple[RecordSink, Callable[[DecisionRecord], bool] | None], ...]:
        routes = self._routes
        if len(routes) != len(self.sinks):  # a sink was added
            routes = tuple((sink, getattr(sink, "offer", None)) for sink, _owned in self.sinks)
            self._routes = routes
        return routes

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
