"""``PostgresRecordSink``: decision records appended to PostgreSQL, never in a decision's way.

``on_decision`` only puts the record on a bounded queue; one background thread writes what has
queued up, in batches (one ``COPY`` and one transaction per batch: under load a batch holds
whatever arrived while the previous one was written, at most ``batch_size``). So a stopped,
paused or slow server never delays a decision. While it cannot be reached, records wait on the
queue and the writer retries (backing off to ``RETRY_MAX`` seconds); once the queue is full,
each new record is dropped (the newest, not the older ones waiting), counted in ``lost`` and
reported by a warning at most every ``WARN_EVERY`` seconds. Records still queued when the sink
closes and the server stays unreachable for ``CLOSE_WAIT`` seconds are counted lost too.

The table is append-only: a statement trigger refuses ``UPDATE``, ``DELETE`` and ``TRUNCATE``
(retention is a deliberate act of the database owner, who can disable the trigger), and this
module has no statement but ``COPY … FROM STDIN``. Each row keeps the masked record as
``jsonb`` (``DecisionRecord.to_dict()``: no secret, no raw personal data) next to the indexed
``request_id``, ``started_at``, ``outcome`` and ``policy``.

With a record key the rows form one chain, whichever replica wrote them (schema 2: columns
``chain_seq``, ``chain_prev``, ``chain_hash``): a batch's transaction locks the one row of
``kycmux_records_chain`` (``SELECT … FOR UPDATE``), links its records after that head, copies
them and moves the head. One lock per batch, not per record, so replicas take turns per batch
and the insert cost stays one ``COPY``; and the table's ``seq`` order is the chain's order.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from kycmux._contract._markers import hookimpl
from kycmux._postgres._schema import Component, prepare
from kycmux._postgres._target import PgTarget
from kycmux._records._chain import Link, next_link
from kycmux._records._record import DecisionRecord, record_json
from kycmux.exceptions import ConfigError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "CLOSE_WAIT",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_QUEUE_SIZE",
    "SCHEMA",
    "PostgresRecordSink",
]

log = logging.getLogger("kycmux.records")

DEFAULT_QUEUE_SIZE = 10_000
"""Records waiting for the database at most (``?kycmux_queue_size=N`` in the URL)."""
DEFAULT_BATCH_SIZE = 500
CLOSE_WAIT = 5.0
"""Seconds ``close`` waits for queued records to be written."""
WARN_EVERY = 10.0
RETRY_FIRST, RETRY_MAX = 0.1, 5.0

SCHEMA = Component(
    name="records",
    what="records table",
    tables=("kycmux_records", "kycmux_records_chain"),
    migrations=(
        (
            """CREATE TABLE kycmux_records (
                seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                request_id text NOT NULL,
                started_at timestamptz NOT NULL,
                outcome text NOT NULL,
                policy text NOT NULL,
                record jsonb NOT NULL,
                written_at timestamptz NOT NULL DEFAULT now()
            )""",
            "CREATE INDEX kycmux_records_request ON kycmux_records (request_id)",
            "CREATE INDEX kycmux_records_started ON kycmux_records (started_at)",
            "CREATE INDEX kycmux_records_outcome ON kycmux_records (outcome, started_at)",
            "CREATE INDEX kycmux_records_policy ON kycmux_records (policy, started_at)",
            """CREATE FUNCTION kycmux_records_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'kycmux_records is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$""",
            # Statement-level: refused even when no row matches, and TRUNCATE too.
            """CREATE TRIGGER kycmux_records_append_only
                BEFORE UPDATE OR DELETE OR TRUNCATE ON kycmux_records
                FOR EACH STATEMENT EXECUTE FUNCTION kycmux_records_refuse()""",
        ),
        (  # 2: the records chain (rows written before it have none)
            """ALTER TABLE kycmux_records ADD COLUMN chain_seq bigint,
                ADD COLUMN chain_prev text, ADD COLUMN chain_hash text""",
            """CREATE TABLE kycmux_records_chain (
                only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
                seq bigint NOT NULL,
                hash text NOT NULL
            )""",
            "INSERT INTO kycmux_records_chain (seq, hash) VALUES (0, '')",
        ),
    ),
)

_COPY = "COPY kycmux_records (request_id, started_at, outcome, policy, record) FROM STDIN"
_COPY_CHAINED = (
    "COPY kycmux_records (request_id, started_at, outcome, policy, record, chain_seq,"
    " chain_prev, chain_hash) FROM STDIN"
)
_HEAD = "SELECT seq, hash FROM kycmux_records_chain FOR UPDATE"
_MOVE_HEAD = "UPDATE kycmux_records_chain SET seq = %s, hash = %s"
_STOP = None  # on the queue: the writer's cue to look at ``closing``


_Row = tuple[str, datetime, str, str, str]


def _row(record: DecisionRecord) -> _Row:
    started = datetime.fromtimestamp(record.started_at, UTC)
    return record.request_id, started, record.outcome, record.policy, record_json(record)


def _positive(_inst: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(attribute.name, "must be a whole number of at least 1")


@attrs.define(eq=False, repr=False)  # plugins must be hashable: pluggy keeps them in sets
class PostgresRecordSink:
    """An ``on_decision`` sink writing every decision record to ``kycmux_records``.

    Open with ``PostgresRecordSink.open(url)``; ``flush()`` waits for the queue to be written,
    ``close()`` flushes (for at most ``CLOSE_WAIT`` s) and stops the writer. The engine does
    both for the sink ``[engine] records = "postgresql://…"`` makes.

    Attributes:
        url: The database URL, its password masked.
        queue_size: Records that may wait for the database; beyond, new ones are lost.
        batch_size: Records written in one ``COPY`` at most.
        written: Records written so far.
        lost: Records dropped so far: the queue was full, the server refused one, or they were
            still queued when the sink closed with the server unreachable.
        batches: Transactions that wrote records (one per batch).
    """

    _target: PgTarget
    _key: bytes | None = attrs.field(default=None, kw_only=True)
    queue_size: int = attrs.field(default=DEFAULT_QUEUE_SIZE, validator=_positive)
    batch_size: int = attrs.field(default=DEFAULT_BATCH_SIZE, validator=_positive)
    written: int = attrs.field(init=False, default=0)
    lost: int = attrs.field(init=False, default=0)
    batches: int = attrs.field(init=False, default=0)
    _queue: queue.Queue[DecisionRecord | None] = attrs.field(init=False)
    _cond: threading.Condition = attrs.field(init=False, factory=threading.Condition)
    _pending: int = attrs.field(init=False, default=0)  # accepted, not yet written or lost
    # Set by close: whatever was pending then is counted lost already.
    _abandoned: bool = attrs.field(init=False, default=False)
    _closing: threading.Event = attrs.field(init=False, factory=threading.Event)
    _conn: psycopg.Connection[Any] | None = attrs.field(init=False, default=None)
    _thread: threading.Thread | None = attrs.field(init=False, default=None)
    _warned: dict[str, float] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self._queue = queue.Queue(maxsize=self.queue_size)

    @property
    def url(self) -> str:
        return self._target.shown

    @property
    def pending(self) -> int:
        """Records accepted and not yet written or lost (queued, or in the writer's batch)."""
        with self._cond:
            return self._pending

    def __repr__(self) -> str:
        return f"PostgresRecordSink(url={self.url!r}, queue_size={self.queue_size})"

    @classmethod
    def open(
        cls,
        url: str,
        *,
        queue_size: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        key: bytes | None = None,
    ) -> PostgresRecordSink:
        """A sink writing to ``url``, its writer started; with ``key`` (the record key) its
        rows are chained.

        ``queue_size`` defaults to the URL's ``kycmux_queue_size`` parameter, else
        ``DEFAULT_QUEUE_SIZE``. The first connection is tried here: a database holding someone
        else's tables or a newer kycmux schema raises ``ConfigError``; an unreachable server
        only logs a warning (records queue until it answers).
        """
        target = PgTarget.parse(url, options=("queue_size",))
        if queue_size is None:
            queue_size = target.int_option("queue_size", DEFAULT_QUEUE_SIZE, low=1, high=10_000_000)
        sink = cls(target, queue_size, batch_size, key=key)
        import psycopg

        try:
            sink._connection()
        except psycopg.Error as exc:
            log.warning(
                "decision records: PostgreSQL at %s cannot be reached (%s); records queue "
                "(up to %d) until it can",
                sink.url,
                target.describe(exc),
                queue_size,
            )
        sink._thread = threading.Thread(target=sink._work, name="kycmux-records", daemon=True)
        sink._thread.start()
        return sink

    # the decision side: never waits ---------------------------------------------------------

    @hookimpl
    def on_decision(self, record: DecisionRecord) -> None:
        """Queue ``record`` for the writer; if the queue is full (or the sink closed), it is
        lost and counted."""
        if self.offer(record):
            return
        with self._cond:
            closed = self._abandoned
            self.lost += 1
            total = self.lost
        if closed:
            self._warn("lost", "decision records: %d lost so far (the sink is closed)", total)
        else:
            why = "the queue is full: the database is down or too slow"
            self._warn("lost", "decision records: %d lost so far (%s)", total, why)

    def offer(self, record: DecisionRecord) -> bool:
        """Queue ``record`` if the queue has room right now and the sink is open; whether it
        did. A record refused is not counted: the caller gives it to ``on_decision``."""
        with self._cond:
            if self._abandoned:
                return False
            self._pending += 1
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()
            return False
        return True

    # flushing and closing -------------------------------------------------------------------

    def flush(self, timeout: float = CLOSE_WAIT) -> bool:
        """Wait up to ``timeout`` seconds until every queued record is written (or lost);
        whether it happened."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=max(0.0, timeout))

    def close(self, timeout: float = CLOSE_WAIT) -> None:
        """Flush for at most ``timeout`` seconds, then stop the writer; records still
        queued are counted lost. Again: no-op."""
        if self._closing.is_set():
            return
        self.flush(timeout)
        self._closing.set()
        # Wakes a writer waiting on an empty queue (a full one: the writer is not waiting).
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)
        if self._thread is not None:
            self._thread.join(1.0)
        with self._cond:
            left, self._pending, self._abandoned = self._pending, 0, True
            self.lost += left
            self._cond.notify_all()
        if left:
            why = "the sink closed before the database took them"
            self._warn("lost", "decision records: %d lost so far (%s)", self.lost, why)
        if self._thread is None or not self._thread.is_alive():
            self._disconnect()  # else the writer, stuck in a call, closes it when it returns
        if self.lost:  # the warnings were rate-limited: the whole count, once
            log.warning(
                "decision records: %d lost in all, %d written, to %s",
                self.lost,
                self.written,
                self.url,
            )

    # the writer's side ----------------------------------------------------------------------

    def _work(self) -> None:
        batch: list[_Row] = []
        delay = RETRY_FIRST
        while not self._closing.is_set():
            if not batch:
                batch = self._take()
                continue
            try:
                written = self._write(batch)
            except Exception as exc:  # a bug here must not stop the writer for good
                self._disconnect()
                self._warn("bug", "decision records: writer failed (%s)", type(exc).__name__)
                written = False
            if written:
                delay = RETRY_FIRST
                continue
            # Unreachable: keep the batch and try again; meanwhile the queue fills up.
            self._closing.wait(delay)
            delay = min(delay * 2, RETRY_MAX)
        self._disconnect()

    def _take(self) -> list[_Row]:
        """The next batch: waits for one record, then takes what else is queued already."""
        records = [self._queue.get()]
        while records[-1] is not None and len(records) < self.batch_size:
            try:
                records.append(self._queue.get_nowait())
            except queue.Empty:
                break
        batch = []
        for record in records:
            if record is None:
                continue
            try:
                batch.append(_row(record))
            except Exception as exc:  # not serialisable: this one record cannot be kept
                self._settle(lost=1, why=f"it could not be serialised ({type(exc).__name__})")
        return batch

    def _write(self, batch: list[_Row]) -> bool:
        """Write ``batch`` (emptying it as rows are written or refused); ``False`` when the
        server cannot be reached, with what is left still in ``batch``."""
        import psycopg

        try:
            conn = self._connection()
            self._copy(conn, batch)
        except ConfigError as exc:  # a foreign or newer schema appeared: an operator's problem
            self._disconnect()
            self._warn("schema", "decision records: %s; records wait", exc, level=logging.ERROR)
            return False
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError) or self._conn is None or self._conn.closed:
                self._disconnect()
                self._warn(
                    "down",
                    "decision records: PostgreSQL at %s failed (%s); records wait (%d queued)",
                    self.url,
                    self._target.describe(exc),
                    self._queue.qsize() + len(batch),
                )
                return False
            return self._one_by_one(batch)
        self._settle(written=len(batch), batches=1)
        batch.clear()
        return True

    def _one_by_one(self, batch: list[_Row]) -> bool:
        """The server refused a batch's data: write its records one by one, dropping (and
        counting) those it refuses, so one bad record never blocks the others."""
        import psycopg

        while batch:
            try:
                self._copy(self._connection(), batch[:1])
            except psycopg.OperationalError:
                self._disconnect()
                return False
            except psycopg.Error as exc:
                why = f"the server refused it ({type(exc).__name__})"
                self._settle(lost=1, why=why)
            else:
                self._settle(written=1, batches=1)
            batch.pop(0)
        return True

    def _copy(self, conn: psycopg.Connection[Any], batch: list[_Row]) -> None:
        if self._key is None:
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(_COPY) as copy:
                for row in batch:
                    copy.write_row(row)
            return
        with conn.transaction(), conn.cursor() as cursor:
            head = cursor.execute(_HEAD).fetchone()
            if head is None:  # the row was removed by hand: a new chain begins
                cursor.execute("INSERT INTO kycmux_records_chain (seq, hash) VALUES (0, '')")
                head = (0, "")
            seq, digest = int(head[0]), str(head[1])
            link = Link(seq, "", digest) if seq else None
            with cursor.copy(_COPY_CHAINED) as copy:
                for row in batch:
                    link = next_link(self._key, link, row[4])
                    copy.write_row((*row, link.seq, link.prev, link.hash))
            if link is not None:
                cursor.execute(_MOVE_HEAD, (link.seq, link.hash))

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            import psycopg

            conn = psycopg.connect(self._target.conninfo(), autocommit=True)
            try:
                prepare(conn, SCHEMA, self.url)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # closing a broken connection: nothing left to save
                log.debug("decision records: closing the connection: %s", type(exc).__name__)

    # bookkeeping ----------------------------------------------------------------------------

    def _settle(self, *, written: int = 0, lost: int = 0, batches: int = 0, why: str = "") -> None:
        with self._cond:
            if self._abandoned:  # counted lost by close already: a late write moves them back
                self.lost -= written
            else:
                self._pending -= written + lost
                self.lost += lost
            self.written += written
            self.batches += batches
            total = self.lost
            self._cond.notify_all()
        if lost:
            self._warn("lost", "decision records: %d lost so far (%s)", total, why)

    def _warn(self, kind: str, message: str, *args: Any, level: int = logging.WARNING) -> None:
        """Log at most once every ``WARN_EVERY`` seconds per kind: a down database must not
        flood the log with one line per decision."""
        now = time.monotonic()
        if now - self._warned.get(kind, -math.inf) >= WARN_EVERY:
            self._warned[kind] = now
            log.log(level, message, *args)
