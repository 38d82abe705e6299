"""``SqliteResultStore``: comparison results in one SQLite file, no server needed.

One row per (study, item, system). ``claim`` inserts it ``pending`` before anything is sent and
``add`` turns it ``done`` with the result; a row still ``pending`` when a later run claims it
was sent by a run that never finished, so the vendor may already have seen (and billed) it.
Results are kept as JSON (``Result.to_dict``) next to the columns queries filter on.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from kycmux.exceptions import ConfigError, KycmuxError
from kycmux.results._labels import GroundTruth, LabelReport, label_report, overlay
from kycmux.results._model import Result, Role
from kycmux.results._store import Claim, StudyInfo, opened_as

__all__ = ["SCHEMA_VERSION", "SqliteResultStore"]

# "kycx": marks the file as ours, so another application's database is never mistaken for an
# empty store and written into.
APPLICATION_ID = 0x6B796378
SCHEMA_VERSION = 2

# _MIGRATIONS[n] takes a store from schema n to n + 1 (0: a new, empty file). A future schema
# appends a step; opening an older file replays the missing steps in one transaction.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE studies (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        created_at REAL NOT NULL,
        meta TEXT NOT NULL
    );
    CREATE TABLE results (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        study TEXT NOT NULL REFERENCES studies (name),
        item TEXT NOT NULL,
        system TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
        claimed_at REAL,
        role TEXT,
        outcome TEXT,
        label TEXT,
        recorded_at REAL,
        payload TEXT,
        UNIQUE (study, item, system)
    );
    CREATE INDEX results_by_study_state ON results (study, state, seq);
    CREATE INDEX results_by_study_role ON results (study, role, seq);
    """,
    # 2: ground truth learnt after the fact (``kycmux label``), laid over results when read.
    """
    CREATE TABLE labels (
        study TEXT NOT NULL REFERENCES studies (name),
        item TEXT NOT NULL,
        truth TEXT NOT NULL,
        source TEXT NOT NULL,
        labelled_at REAL NOT NULL,
        PRIMARY KEY (study, item)
    );
    """,
)
assert len(_MIGRATIONS) == SCHEMA_VERSION

_PENDING, _DONE = "pending", "done"


@attrs.define
class SqliteResultStore:
    """A ``ResultStore`` in a SQLite file (WAL journal), safe to share between threads.

    Open with ``SqliteResultStore.open(path)``; use it as a context manager, or ``close()`` it.
    One connection serves every thread, behind a lock; writes run in ``BEGIN IMMEDIATE``
    transactions, so several processes on one file also see each claim atomically.

    Attributes:
        path: The database file.
    """

    _path: Path
    _conn: sqlite3.Connection | None = attrs.field(repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    @property
    def path(self) -> Path:
        return self._path

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SqliteResultStore:
        """Open the store at ``path``, creating the file (and its folder) and schema if needed.

        ``ConfigError`` if the file is not a kycmux result store, or was written by a newer
        kycmux.
        """
        location = Path(path)
        location.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                location, isolation_level=None, check_same_thread=False, timeout=30.0
            )
        except sqlite3.Error as exc:
            raise ConfigError(str(location), f"cannot open as a SQLite database ({exc})") from None
        try:
            _prepare(conn, location)
        except BaseException:
            conn.close()
            raise
        return cls(location, conn)

    # studies ---------------------------------------------------------------------------------

    def open_study(self, name: str, *, kind: str, meta: Mapping[str, Any]) -> StudyInfo:
        """Create the study, or return it if it exists (``ConfigError`` if ``kind`` differs)."""
        if not name:
            raise ConfigError("study", "name must not be empty")
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO studies (name, kind, created_at, meta) VALUES (?, ?, ?, ?)",
                (name, kind, time.time(), json.dumps(dict(meta), sort_keys=True)),
            )
            info = _study(conn, name)
        return opened_as(info, name, kind)

    def study(self, name: str) -> StudyInfo | None:
        """The study called ``name``, if any."""
        with self._locked() as conn:
            return _study(conn, name)

    def studies(self) -> Sequence[StudyInfo]:
        """Every study, oldest first."""
        with self._locked() as conn:
            rows = conn.execute("SELECT name, kind, created_at, meta FROM studies ORDER BY seq")
            return [_study_info(row) for row in rows]

    # results ---------------------------------------------------------------------------------

    def claim(self, study: str, item: str, system: str) -> Claim:
        """Mark (item, system) in flight; ``NEW``, ``DONE`` or ``INTERRUPTED`` (see ``Claim``)."""
        with self._transaction() as conn:
            _require_study(conn, study)
            row = conn.execute(
                "SELECT state FROM results WHERE study = ? AND item = ? AND system = ?",
                (study, item, system),
            ).fetchone()
            if row is not None and row[0] == _DONE:
                return Claim.DONE
            if row is None:
                conn.execute(
                    "INSERT INTO results (study, item, system, state, claimed_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (study, item, system, _PENDING, time.time()),
                )
                return Claim.NEW
            conn.execute(
                "UPDATE results SET claimed_at = ? WHERE study = ? AND item = ? AND system = ?",
                (time.time(), study, item, system),
            )
            return Claim.INTERRUPTED

    def add(self, result: Result) -> None:
        """Store a result, replacing any earlier one (or claim) for its study, item and system.

        The replacement counts as stored now: ``results`` lists it in its new place.
        """
        payload = json.dumps(result.to_dict(), sort_keys=True)
        key = (result.study, result.item, result.system)
        with self._transaction() as conn:
            _require_study(conn, result.study)
            conn.execute("DELETE FROM results WHERE study = ? AND item = ? AND system = ?", key)
            conn.execute(
                "INSERT INTO results (study, item, system, state, role, outcome, label,"
                " recorded_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *key,
                    _DONE,
                    result.role.value,
                    result.outcome,
                    None if result.label is None else result.label.value,
                    result.recorded_at,
                    payload,
                ),
            )

    def results(self, study: str, *, role: Role | None = None) -> Sequence[Result]:
        """The study's results in the order they were stored, optionally of one ``role``."""
        query = "SELECT payload FROM results WHERE study = ? AND state = ?"
        params: tuple[Any, ...] = (study, _DONE)
        if role is not None:
            query += " AND role = ?"
            params += (Role(role).value,)
        with self._locked() as conn:
            rows = conn.execute(query + " ORDER BY seq", params).fetchall()
            truths = _labels(conn, study)
        return overlay((Result.from_dict(json.loads(payload)) for (payload,) in rows), truths)

    # ground truth ----------------------------------------------------------------------------

    def set_labels(self, study: str, truths: Sequence[GroundTruth], *, source: str) -> LabelReport:
        """Store each item's truth (replacing an earlier one); ids without a result are
        reported as unknown and not stored. Idempotent: the same file twice changes nothing."""
        with self._transaction() as conn:
            _require_study(conn, study)
            known = {
                item
                for (item,) in conn.execute(
                    "SELECT DISTINCT item FROM results WHERE study = ? AND state = ?",
                    (study, _DONE),
                )
            }
            before = _labels(conn, study)
            fresh = [t for t in truths if t.item in known and before.get(t.item) != t]
            conn.executemany(
                "INSERT OR REPLACE INTO labels (study, item, truth, source, labelled_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (study, t.item, json.dumps(t.to_plain(), sort_keys=True), source, time.time())
                    for t in fresh
                ],
            )
        return label_report(truths, known, len(fresh))

    def labels(self, study: str) -> dict[str, GroundTruth]:
        """The ground truth stored for the study's items, by item."""
        with self._locked() as conn:
            return _labels(conn, study)

    def interrupted(self, study: str) -> set[tuple[str, str]]:
        """(item, system) pairs claimed but without a result: in flight, or cut off."""
        return self._pairs(study, _PENDING)

    def done(self, study: str) -> set[tuple[str, str]]:
        """(item, system) pairs with a stored result."""
        return self._pairs(study, _DONE)

    def busy(self, study: str) -> set[tuple[str, str]]:
        """Pairs another live worker holds: none, as claims here have no owner or lease (one
        machine); ``claim`` never answers ``BUSY``. (``PostgresResultStore`` has them.)"""
        return set()

    def _pairs(self, study: str, state: str) -> set[tuple[str, str]]:
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT item, system FROM results WHERE study = ? AND state = ?", (study, state)
            )
            return {(item, system) for item, system in rows}

    # lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (again: no-op); any further call raises ``KycmuxError``."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SqliteResultStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise KycmuxError(f"result store {self._path} is closed")
            yield self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: the lock orders threads, ``BEGIN IMMEDIATE`` other processes."""
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Check the file is ours (or new), bring its schema up to date, set the journal."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        version = _schema_version(conn, path)
        for step in _MIGRATIONS[version:]:
            _run_script(conn, step)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.OperationalError as exc:
        # Locked, read-only, disk full...: a store we cannot use now, not a foreign file.
        raise ConfigError(str(path), f"cannot open the result store ({exc})") from None
    except sqlite3.DatabaseError as exc:
        raise ConfigError(str(path), f"not a kycmux result store ({exc})") from None


def _schema_version(conn: sqlite3.Connection, path: Path) -> int:
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app == 0 and version == 0 and tables == 0:
        return 0
    if app != APPLICATION_ID:
        raise ConfigError(str(path), "is a SQLite database, but not a kycmux result store")
    if not 1 <= version <= SCHEMA_VERSION:
        raise ConfigError(
            str(path),
            f"result store schema {version} is not supported (this kycmux reads up to "
            f"{SCHEMA_VERSION}); upgrade kycmux",
        )
    return int(version)


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction first; statement by statement keeps the
    # migration atomic.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _labels(conn: sqlite3.Connection, study: str) -> dict[str, GroundTruth]:
    rows = conn.execute("SELECT item, truth FROM labels WHERE study = ?", (study,))
    return {item: GroundTruth.from_plain(item, json.loads(truth)) for item, truth in rows}


def _require_study(conn: sqlite3.Connection, name: str) -> None:
    if conn.execute("SELECT 1 FROM studies WHERE name = ?", (name,)).fetchone() is None:
        raise ConfigError(f"study {name}", "does not exist in this store; open_study() it first")


def _study(conn: sqlite3.Connection, name: str) -> StudyInfo | None:
    row = conn.execute(
        "SELECT name, kind, created_at, meta FROM studies WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else _study_info(row)


def _study_info(row: tuple[str, str, float, str]) -> StudyInfo:
    name, kind, created_at, meta = row
    return StudyInfo(name=name, kind=kind, created_at=created_at, meta=json.loads(meta))
