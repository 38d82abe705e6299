"""``PostgresResultStore``: comparison results in PostgreSQL, shared by several workers.

Same rows as the SQLite store (one per study, item and system: ``pending`` once claimed,
``done`` with its result), plus what several machines need: each claim names its *owner* (one
store instance) and holds a *lease* until a time on the database's clock, so no worker's
clock matters. ``claim`` is one atomic ``INSERT … ON CONFLICT … DO UPDATE … WHERE``: it takes
a new pair, or a pending pair whose lease lapsed (its worker died: ``INTERRUPTED``), and
nothing else; a pair whose lease is still live is another worker's (``BUSY``). The row lock
the upsert takes makes two workers' claims of one pair take turns, so exactly one of them wins.
``attempts`` counts the claims that led to a send: 1 for every pair sent once.

A store renews its own claims' leases in the background (every third of the lease) while it
is open, so a slow request never loses its claim; a worker that dies stops renewing and its
claims lapse after one lease. Closing the store lapses its unfinished claims at once.

The store is sync (the ``ResultStore`` protocol is), so it uses psycopg's sync
``ConnectionPool``: callers are already off the event loop (the compare runner and the engine
call it through worker threads), each call borrows one connection for one or two statements,
and no second event loop is needed on a private thread. Statements run in autocommit: each is
its own transaction.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from kycmux._postgres._schema import Component, prepare
from kycmux._postgres._target import PgTarget
from kycmux.exceptions import ConfigError, KycmuxError
from kycmux.results._labels import GroundTruth, LabelReport, label_report, overlay
from kycmux.results._model import Result, Role
from kycmux.results._open import DEFAULT_LEASE
from kycmux.results._store import Claim, StudyInfo, opened_as

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["DEFAULT_LEASE", "SCHEMA", "PostgresResultStore"]

log = logging.getLogger("kycmux.results")

DEFAULT_POOL_SIZE = 8
_WAIT_FOR_CONNECTION = 30.0

SCHEMA = Component(
    name="results",
    what="result store",
    tables=("kycmux_studies", "kycmux_results", "kycmux_results_stored", "kycmux_labels"),
    migrations=(
        (
            """CREATE TABLE kycmux_studies (
                seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                name text NOT NULL UNIQUE,
                kind text NOT NULL,
                created_at double precision NOT NULL,
                meta jsonb NOT NULL
            )""",
            # The order results were stored in (a replaced result moves last), across workers.
            "CREATE SEQUENCE kycmux_results_stored",
            """CREATE TABLE kycmux_results (
                study text NOT NULL REFERENCES kycmux_studies (name),
                item text NOT NULL,
                system text NOT NULL,
                state text NOT NULL CHECK (state IN ('pending', 'done')),
                owner text,
                lease_until timestamptz,
                attempts integer NOT NULL DEFAULT 0,
                claimed_at double precision,
                stored bigint NOT NULL DEFAULT nextval('kycmux_results_stored'),
                role text,
                outcome text,
                label text,
                recorded_at double precision,
                payload jsonb,
                PRIMARY KEY (study, item, system),
                CHECK (state = 'done' OR (owner IS NOT NULL AND lease_until IS NOT NULL))
            )""",
            "ALTER SEQUENCE kycmux_results_stored OWNED BY kycmux_results.stored",
            "CREATE INDEX kycmux_results_by_study ON kycmux_results (study, state, stored)",
            "CREATE INDEX kycmux_results_pending ON kycmux_results (owner) WHERE state = 'pending'",
        ),
        # 2: ground truth learnt after the fact (``kycmux label``), laid over results when read.
        (
            """CREATE TABLE kycmux_labels (
                study text NOT NULL REFERENCES kycmux_studies (name),
                item text NOT NULL,
                truth jsonb NOT NULL,
                source text NOT NULL,
                labelled_at double precision NOT NULL,
                PRIMARY KEY (study, item)
            )""",
        ),
    ),
)

# New: attempts = 1. A lapsed claim, or this store's own (a run it cancelled): attempts + 1.
# A done pair or another live worker's claim: no row comes back.
_CLAIM = """
    INSERT INTO kycmux_results AS r
        (study, item, system, state, owner, lease_until, claimed_at, attempts)
    VALUES (%(study)s, %(item)s, %(system)s, 'pending', %(owner)s,
        clock_timestamp() + make_interval(secs => %(lease)s), %(now)s, 1)
    ON CONFLICT (study, item, system) DO UPDATE
        SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,
            claimed_at = EXCLUDED.claimed_at, attempts = r.attempts + 1
        WHERE r.state = 'pending'
            AND (r.lease_until <= clock_timestamp() OR r.owner = EXCLUDED.owner)
    RETURNING r.attempts
"""
_ADD = """
    INSERT INTO kycmux_results AS r
        (study, item, system, state, role, outcome, label, recorded_at, payload)
    VALUES (%(study)s, %(item)s, %(system)s, 'done', %(role)s, %(outcome)s, %(label)s,
        %(recorded_at)s, %(payload)s::jsonb)
    ON CONFLICT (study, item, system) DO UPDATE
        SET state = 'done', owner = NULL, lease_until = NULL, role = EXCLUDED.role,
            outcome = EXCLUDED.outcome, label = EXCLUDED.label,
            recorded_at = EXCLUDED.recorded_at, payload = EXCLUDED.payload,
            stored = nextval('kycmux_results_stored')
"""
_RENEW = """
    UPDATE kycmux_results SET lease_until = clock_timestamp() + make_interval(secs => %(lease)s)
    WHERE owner = %(owner)s AND state = 'pending'
"""
_RELEASE = """
    UPDATE kycmux_results SET lease_until = clock_timestamp()
    WHERE owner = %(owner)s AND state = 'pending'
"""
_PAIRS = {
    "done": "SELECT item, system FROM kycmux_results WHERE study = %(study)s AND state = 'done'",
    "interrupted": "SELECT item, system FROM kycmux_results"
    " WHERE study = %(study)s AND state = 'pending'"
    " AND (lease_until <= clock_timestamp() OR owner = %(owner)s)",
    "busy": "SELECT item, system FROM kycmux_results"
    " WHERE study = %(study)s AND state = 'pending'"
    " AND lease_until > clock_timestamp() AND owner <> %(owner)s",
}


def _sorted_json(text: str) -> Any:
    """JSON read back with every object's keys sorted, as the SQLite store's (``sort_keys``)
    come back: jsonb keeps its own key order, and results must read the same from both."""
    return json.loads(text, object_pairs_hook=lambda pairs: dict(sorted(pairs)))


def _check_lease(value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.1 <= value <= 86400:
        raise ConfigError("lease", "must be a number of seconds from 0.1 to 86400")


def _lease(_inst: Any, _attribute: attrs.Attribute[float], value: float) -> None:
    _check_lease(value)


@attrs.define(repr=False)
class PostgresResultStore:
    """A ``ResultStore`` in PostgreSQL, for several workers (processes, machines) at once.

    Open with ``PostgresResultStore.open(url)``; use it as a context manager, or ``close()``
    it. Safe to call from several threads (each call borrows a pooled connection).

    Attributes:
        url: The database URL, its password masked (the only form kept for display).
        lease: Seconds one of this store's claims stays its own without renewal.
        owner: This store's id on its claims (random per store instance).
    """

    _target: PgTarget
    _pool: ConnectionPool[Any] = attrs.field(repr=False)
    lease: float = attrs.field(default=DEFAULT_LEASE, validator=_lease)
    owner: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    _closed: bool = attrs.field(init=False, default=False, repr=False)
    _stop: threading.Event = attrs.field(init=False, factory=threading.Event, repr=False)
    _renewer: threading.Thread | None = attrs.field(init=False, default=None, repr=False)

    @property
    def url(self) -> str:
        return self._target.shown

    def __repr__(self) -> str:
        return f"PostgresResultStore(url={self.url!r}, lease={self.lease!r}, owner={self.owner!r})"

    @classmethod
    def open(
        cls,
        url: str,
        *,
        lease: float = DEFAULT_LEASE,
        pool_size: int = DEFAULT_POOL_SIZE,
        timeout: float = _WAIT_FOR_CONNECTION,
    ) -> PostgresResultStore:
        """Connect to ``url``, creating or migrating kycmux's tables there.

        ``lease``: seconds a claim stays this store's without renewal (renewed while open).
        ``pool_size``: connections at most; ``timeout``: seconds a call waits for one.
        ``ConfigError`` (keyed by the masked URL) if psycopg is missing, the server cannot be
        reached, or the database holds someone else's tables or a newer kycmux schema.
        """
        _check_lease(lease)  # before any connection is made
        target = PgTarget.parse(url)
        import psycopg
        from psycopg_pool import ConnectionPool

        try:
            with psycopg.connect(target.conninfo(), autocommit=True) as conn:
                prepare(conn, SCHEMA, target.shown)
        except psycopg.Error as exc:
            raise ConfigError(
                target.shown, f"cannot open the result store ({target.describe(exc)})"
            ) from None
        pool: ConnectionPool[Any] = ConnectionPool(
            target.conninfo(),
            kwargs={"autocommit": True},
            min_size=1,
            max_size=max(1, pool_size),
            open=False,
            # A connection a server restart broke is replaced before use, not failed on.
            check=ConnectionPool.check_connection,
            timeout=timeout,
            name="kycmux-results",
        )
        pool.open(wait=False)
        return cls(target, pool, lease=lease)

    # studies ---------------------------------------------------------------------------------

    def open_study(self, name: str, *, kind: str, meta: Mapping[str, Any]) -> StudyInfo:
        """Create the study, or return it if it exists (``ConfigError`` if ``kind`` differs)."""
        if not name:
            raise ConfigError("study", "name must not be empty")
        with self._connection("open_study") as conn:
            conn.execute(
                "INSERT INTO kycmux_studies (name, kind, created_at, meta)"
                " VALUES (%s, %s, %s, %s::jsonb) ON CONFLICT (name) DO NOTHING",
                (name, kind, time.time(), json.dumps(dict(meta), sort_keys=True)),
            )
            info = _study(conn, name)
        return opened_as(info, name, kind)

    def study(self, name: str) -> StudyInfo | None:
        """The study called ``name``, if any."""
        with self._connection("study") as conn:
            return _study(conn, name)

    def studies(self) -> Sequence[StudyInfo]:
        """Every study, oldest first."""
        with self._connection("studies") as conn:
            rows = conn.execute(
                "SELECT name, kind, created_at, meta::text FROM kycmux_studies ORDER BY seq"
            ).fetchall()
        return [_study_info(row) for row in rows]

    # results ---------------------------------------------------------------------------------

    def claim(self, study: str, item: str, system: str) -> Claim:
        """Mark (item, system) in flight as this store's, for one lease (renewed while open).

        ``NEW``; ``INTERRUPTED`` when an earlier claim lapsed (its worker died, or this store's
        own run was cancelled); ``DONE``; ``BUSY`` when another live worker holds it.
        """
        self._start_renewing()
        key = {"study": study, "item": item, "system": system}
        with self._connection("claim") as conn:
            claimed = self._claimed(conn, key)
            if claimed is not None:
                return Claim.NEW if claimed == 1 else Claim.INTERRUPTED
            row = conn.execute(
                "SELECT state FROM kycmux_results"
                " WHERE study = %(study)s AND item = %(item)s AND system = %(system)s",
                key,
            ).fetchone()
        # A claim that lapsed between the two statements is reported busy, and taken on the
        # next ask: never sent twice, never lost.
        return Claim.DONE if row is not None and row[0] == "done" else Claim.BUSY

    def _claimed(self, conn: psycopg.Connection[Any], key: dict[str, str]) -> int | None:
        import psycopg

        params = {**key, "owner": self.owner, "lease": self.lease, "now": time.time()}
        try:
            row = conn.execute(_CLAIM, params).fetchone()
        except psycopg.errors.ForeignKeyViolation:
            raise _no_study(key["study"]) from None
        return None if row is None else int(row[0])

    def add(self, result: Result) -> None:
        """Store a result, replacing any earlier one (or claim) for its study, item and system.

        The replacement counts as stored now: ``results`` lists it in its new place.
        """
        import psycopg

        params = {
            "study": result.study,
            "item": result.item,
            "system": result.system,
            "role": result.role.value,
            "outcome": result.outcome,
            "label": None if result.label is None else result.label.value,
            "recorded_at": result.recorded_at,
            "payload": json.dumps(result.to_dict(), sort_keys=True),
        }
        with self._connection("add") as conn:
            try:
                conn.execute(_ADD, params)
            except psycopg.errors.ForeignKeyViolation:
                raise _no_study(result.study) from None

    def results(self, study: str, *, role: Role | None = None) -> Sequence[Result]:
        """The study's results in the order they were stored, optionally of one ``role``."""
        query = "SELECT payload::text FROM kycmux_results WHERE study = %s AND state = 'done'"
        params: tuple[Any, ...] = (study,)
        if role is not None:
            query += " AND role = %s"
            params += (Role(role).value,)
        with self._connection("results") as conn:
            rows = conn.execute(query + " ORDER BY stored", params).fetchall()
            truths = _labels(conn, study)
        return overlay((Result.from_dict(_sorted_json(p)) for (p,) in rows), truths)

    # ground truth ----------------------------------------------------------------------------

    def set_labels(self, study: str, truths: Sequence[GroundTruth], *, source: str) -> LabelReport:
        """Store each item's truth (replacing an earlier one); ids without a result are
        reported as unknown and not stored. Idempotent: the same file twice changes nothing."""
        with self._connection("set_labels") as conn, conn.transaction():
            if _study(conn, study) is None:
                raise _no_study(study)
            known = {
                str(item)
                for (item,) in conn.execute(
                    "SELECT DISTINCT item FROM kycmux_results WHERE study = %s AND state = 'done'",
                    (study,),
                )
            }
            before = _labels(conn, study)
            fresh = [t for t in truths if t.item in known and before.get(t.item) != t]
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO kycmux_labels (study, item, truth, source, labelled_at)"
                    " VALUES (%s, %s, %s::jsonb, %s, %s) ON CONFLICT (study, item) DO UPDATE"
                    " SET truth = EXCLUDED.truth, source = EXCLUDED.source,"
                    " labelled_at = EXCLUDED.labelled_at",
                    [(study, t.item, json.dumps(t.to_plain()), source, time.time()) for t in fresh],
                )
        return label_report(truths, known, len(fresh))

    def labels(self, study: str) -> dict[str, GroundTruth]:
        """The ground truth stored for the study's items, by item."""
        with self._connection("labels") as conn:
            return _labels(conn, study)

    def done(self, study: str) -> set[tuple[str, str]]:
        """(item, system) pairs with a stored result."""
        return self._pairs(study, "done")

    def interrupted(self, study: str) -> set[tuple[str, str]]:
        """Pairs claimed without a result and not held by another live worker: their claim
        lapsed, or is this store's own."""
        return self._pairs(study, "interrupted")

    def busy(self, study: str) -> set[tuple[str, str]]:
        """Pairs another live worker holds (claimed, its lease not lapsed)."""
        return self._pairs(study, "busy")

    def attempts(self, study: str) -> dict[tuple[str, str], int]:
        """How many claims of each pair led to a send (1: sent once; 0: stored unclaimed)."""
        with self._connection("attempts") as conn:
            rows = conn.execute(
                "SELECT item, system, attempts FROM kycmux_results WHERE study = %s", (study,)
            ).fetchall()
        return {(item, system): int(count) for item, system, count in rows}

    def _pairs(self, study: str, which: str) -> set[tuple[str, str]]:
        with self._connection(which) as conn:
            rows = conn.execute(_PAIRS[which], {"study": study, "owner": self.owner}).fetchall()
        return {(item, system) for item, system in rows}

    # leases ----------------------------------------------------------------------------------

    def _start_renewing(self) -> None:
        if self._renewer is not None:
            return
        with self._lock:
            if self._renewer is None and not self._closed:
                self._renewer = threading.Thread(
                    target=self._renew, name="kycmux-results-lease", daemon=True
                )
                self._renewer.start()

    def _renew(self) -> None:
        """Push this store's pending claims' leases forward until it closes."""
        failing = False
        while not self._stop.wait(self.lease / 3):
            try:
                with self._pool.connection(timeout=self.lease / 3) as conn:
                    conn.execute(_RENEW, {"owner": self.owner, "lease": self.lease})
            except Exception as exc:  # the store must keep working; the next turn retries
                if not failing:
                    log.warning(
                        "result store %s: renewing claims failed (%s); they lapse after %g s "
                        "unless a later try works",
                        self.url,
                        self._target.describe(exc),
                        self.lease,
                    )
                failing = True
            else:
                failing = False

    # lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Lapse this store's unfinished claims (other workers may take them as interrupted),
        close the pool (again: no-op); any further call raises ``KycmuxError``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if self._renewer is not None:  # it claimed something: let its unfinished claims go
            self._renewer.join()
            try:
                with self._pool.connection(timeout=5.0) as conn:
                    conn.execute(_RELEASE, {"owner": self.owner})
            except Exception as exc:  # unreachable now: the claims lapse after their lease
                log.warning(
                    "result store %s: could not release claims on close (%s)",
                    self.url,
                    self._target.describe(exc),
                )
        self._pool.close()

    def __enter__(self) -> PostgresResultStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _connection(self, operation: str) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; psycopg's failures become ``KycmuxError`` naming the store
        (masked) and the operation."""
        import psycopg

        if self._closed:
            raise KycmuxError(f"result store {self.url} is closed")
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise KycmuxError(
                f"result store {self.url}: {operation} failed ({self._target.describe(exc)})"
            ) from None


def _labels(conn: psycopg.Connection[Any], study: str) -> dict[str, GroundTruth]:
    rows = conn.execute("SELECT item, truth::text FROM kycmux_labels WHERE study = %s", (study,))
    return {item: GroundTruth.from_plain(item, json.loads(truth)) for item, truth in rows}


def _no_study(name: str) -> ConfigError:
    return ConfigError(f"study {name}", "does not exist in this store; open_study() it first")


def _study(conn: psycopg.Connection[Any], name: str) -> StudyInfo | None:
    row = conn.execute(
        "SELECT name, kind, created_at, meta::text FROM kycmux_studies WHERE name = %s", (name,)
    ).fetchone()
    return None if row is None else _study_info(row)


def _study_info(row: Any) -> StudyInfo:
    name, kind, created_at, meta = row
    return StudyInfo(name=name, kind=kind, created_at=created_at, meta=_sorted_json(meta))
