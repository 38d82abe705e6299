"""Reading decision records back from a sink (``kycmux records``): a JSON-lines file or the
PostgreSQL table, filtered, followed, and as entries for chain verification.

Pure filtering (``RecordFilter``, ``parse_time``) apart from the two readers' I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from kycmux._postgres._target import PgTarget
from kycmux._records._chain import Entry, Link
from kycmux._records._file import TailReader, read_entries
from kycmux.exceptions import ConfigError

__all__ = ["FileRecords", "PostgresRecords", "RecordFilter", "parse_time"]

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: datetime, field: str) -> float:
    """``text`` as a UNIX time: ISO 8601 (no zone: UTC), or ``30m`` / ``1h`` / ``2d`` ago."""
    match = _RELATIVE.match(text.strip())
    if match is not None:
        ago = float(match.group(1)) * _UNITS[match.group(2)]
        return (now - timedelta(seconds=ago)).timestamp()
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            field, "must be an ISO time (2026-12-04T20:00) or a duration ago (30m, 1h, 2d)"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@attrs.frozen
class RecordFilter:
    """Which records to show; every given condition must hold.

    Attributes:
        outcomes: One of these outcomes (empty: any).
        vendor: A vendor was asked (an attempt) or decided a check.
        reason: One of the record's reasons, or its checks', is this or starts with it.
        since: Started at or after this UNIX time.
        until: Started before this UNIX time.
        request_id: This request id.
        subject: This subject's keyed hash (as records hold it).
    """

    outcomes: frozenset[str] = frozenset()
    vendor: str | None = None
    reason: str | None = None
    since: float | None = None
    until: float | None = None
    request_id: str | None = None
    subject: str | None = None

    def matches(self, record: Mapping[str, Any]) -> bool:
        if self.outcomes and record.get("outcome") not in self.outcomes:
            return False
        if self.request_id is not None and record.get("request_id") != self.request_id:
            return False
        if self.subject is not None and record.get("subject") != self.subject:
            return False
        if not self._in_time(record.get("started_at")):
            return False
        if self.vendor is not None and self.vendor not in _vendors(record):
            return False
        reason = self.reason
        return reason is None or any(r.startswith(reason) for r in _reasons(record))

    def _in_time(self, started: Any) -> bool:
        if self.since is None and self.until is None:
            return True
        if isinstance(started, bool) or not isinstance(started, int | float):
            return False
        return (self.since is None or started >= self.since) and (
            self.until is None or started < self.until
        )


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _vendors(record: Mapping[str, Any]) -> set[str]:
    asked = {a.get("vendor") for a in _dicts(record.get("attempts"))}
    for check in _dicts(record.get("checks")):
        vendors = check.get("vendors")
        asked.update(vendors if isinstance(vendors, list) else ())
    return {v for v in asked if isinstance(v, str)}


def _reasons(record: Mapping[str, Any]) -> list[str]:
    reasons = record.get("reasons")
    found = list(reasons) if isinstance(reasons, list) else []
    found += [c.get("reason") for c in _dicts(record.get("checks"))]
    return [r for r in found if isinstance(r, str)]


@attrs.define
class FileRecords:
    """A JSON-lines records file.

    Attributes:
        path: The file.
    """

    path: Path

    @property
    def where(self) -> str:
        return str(self.path)

    def entries(self) -> Iterator[Entry]:
        if not self.path.exists():
            return iter(())
        return read_entries(self.path)

    def follower(self) -> TailReader:
        """A reader of the lines written from now on."""
        reader = TailReader(self.path)
        reader.skip_to_end()
        return reader


@attrs.define
class PostgresRecords:
    """The ``kycmux_records`` table (read-only: nothing is created or migrated here).

    Attributes:
        target: The database.
    """

    target: PgTarget
    _last: int = 0

    @property
    def where(self) -> str:
        return self.target.shown

    @classmethod
    def open(cls, url: str) -> PostgresRecords:
        return cls(PgTarget.parse(url, options=("queue_size",)))

    def _rows(self, after: int) -> list[tuple[Any, ...]]:
        import psycopg

        query = (
            "SELECT seq, record::text, chain_seq, chain_prev, chain_hash FROM kycmux_records"
            " WHERE seq > %s ORDER BY seq"
        )
        try:
            with psycopg.connect(self.target.conninfo()) as conn:
                columns = {
                    str(name)
                    for (name,) in conn.execute(
                        "SELECT column_name FROM information_schema.columns WHERE"
                        " table_name = 'kycmux_records' AND table_schema = current_schema()"
                    ).fetchall()
                }
                if not columns:
                    return []
                if "chain_seq" not in columns:  # schema 1: no chain yet
                    query = query.replace("chain_seq, chain_prev, chain_hash", "NULL, NULL, NULL")
                return conn.execute(query, (after,)).fetchall()
        except psycopg.Error as exc:
            raise ConfigError(self.where, self.target.describe(exc)) from None

    def entries(self) -> Iterator[Entry]:
        return iter(self._entries(self._rows(0)))

    def _entries(self, rows: Sequence[tuple[Any, ...]]) -> list[Entry]:
        entries = []
        for seq, text, chain_seq, prev, digest in rows:
            self._last = max(self._last, int(seq))
            data = json.loads(text)
            rid = data.get("request_id")
            link = None if chain_seq is None else Link(int(chain_seq), str(prev), str(digest))
            entries.append(Entry(int(seq), rid if isinstance(rid, str) else None, data, link))
        return entries

    def follower(self) -> PostgresRecords:
        """A reader of the rows written from now on (by their ``seq``): ``entries`` read them
        all, so it starts after the last."""
        return self

    def poll(self) -> list[Entry]:
        return self._entries(self._rows(self._last))
