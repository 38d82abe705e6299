"""kycmux's tables in a PostgreSQL database: created, versioned and migrated by kycmux.

Every table is named ``kycmux_*`` and lives in the connection's current schema (the first
existing one on its ``search_path``: ``public`` unless the URL says otherwise, e.g.
``?options=-csearch_path%3Dkyc``), so several deployments can share a database in separate
schemas. ``kycmux_schema`` holds one row per component (``results``, ``records``) with its
schema version; a comment on it marks it as kycmux's, the way SQLite's ``application_id``
marks a result store file.

Opening a component takes a transaction-scoped advisory lock (so workers starting together
migrate once), then refuses a database that is not kycmux's (a ``kycmux_schema`` without the
mark, or the component's table there without a version row) and a schema newer than this
kycmux knows, and replays the missing migration steps. DDL is transactional in PostgreSQL: a
failed migration leaves the previous schema untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from kycmux.exceptions import ConfigError

if TYPE_CHECKING:
    import psycopg

__all__ = ["VERSIONS_TABLE", "Component", "prepare"]

VERSIONS_TABLE = "kycmux_schema"
MARK = "kycmux schema versions"
# "kycx", as the SQLite store's application id: one lock for every kycmux migration in a
# database (they take milliseconds, and only when a process opens a store).
LOCK_KEY = 0x6B796378

_VERSIONS_DDL = (
    """CREATE TABLE kycmux_schema (
        component text PRIMARY KEY,
        version integer NOT NULL CHECK (version > 0),
        migrated_at timestamptz NOT NULL DEFAULT now()
    )""",
    f"COMMENT ON TABLE kycmux_schema IS '{MARK}'",
)


@attrs.frozen
class Component:
    """One part of kycmux keeping tables in PostgreSQL.

    Attributes:
        name: Its row in ``kycmux_schema`` (``results``, ``records``).
        what: What it is, for messages (``result store``).
        tables: Its tables: one of them present without a version row is someone else's.
        migrations: ``migrations[n]`` takes its tables from version n to n + 1 (0: none),
            each a sequence of statements; the last version is ``len(migrations)``.
    """

    name: str
    what: str
    tables: tuple[str, ...]
    migrations: tuple[tuple[str, ...], ...]

    @property
    def version(self) -> int:
        return len(self.migrations)


def prepare(conn: psycopg.Connection[Any], component: Component, shown: str) -> int:
    """Bring ``component``'s tables up to date on ``conn``; the version they were at.

    ``ConfigError`` (keyed by ``shown``, the masked URL) for a database that is not kycmux's
    or was migrated by a newer kycmux. ``conn`` must not be inside a transaction.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        row = conn.execute("SELECT current_schema()").fetchone()
        if row is None or row[0] is None:
            raise ConfigError(
                shown, "no schema to create kycmux's tables in (the search_path names none)"
            )
        schema = str(row[0])
        present = _tables(conn, schema)
        if VERSIONS_TABLE in present:
            _check_mark(conn, schema, shown)
        else:
            for statement in _VERSIONS_DDL:
                conn.execute(statement)
        found = conn.execute(
            "SELECT version FROM kycmux_schema WHERE component = %s", (component.name,)
        ).fetchone()
        version = 0 if found is None else int(str(found[0]))
        if version == 0:
            theirs = sorted(present & set(component.tables))
            if theirs:
                raise ConfigError(
                    shown,
                    f"schema {schema} has a table {theirs[0]} that kycmux did not create: not "
                    f"a kycmux {component.what}; choose another database or schema",
                )
        if version > component.version:
            raise ConfigError(
                shown,
                f"{component.what} schema {version} is newer than this kycmux reads (up to "
                f"{component.version}); upgrade kycmux",
            )
        for step in component.migrations[version:]:
            for statement in step:
                conn.execute(statement)
        if version < component.version:
            conn.execute(
                "INSERT INTO kycmux_schema (component, version) VALUES (%s, %s)"
                " ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version,"
                " migrated_at = now()",
                (component.name, component.version),
            )
    return version


def _tables(conn: psycopg.Connection[Any], schema: str) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname LIKE 'kycmux%%'",
        (schema,),
    ).fetchall()
    return {str(name) for (name,) in rows}


def _check_mark(conn: psycopg.Connection[Any], schema: str, shown: str) -> None:
    row = conn.execute(
        "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (schema, VERSIONS_TABLE),
    ).fetchone()
    if row is None or row[0] != MARK:
        raise ConfigError(
            shown,
            f"schema {schema} has a table {VERSIONS_TABLE} that kycmux did not create: not a "
            "kycmux database; choose another database or schema",
        )
