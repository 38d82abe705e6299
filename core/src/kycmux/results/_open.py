"""``open_result_store``: the result store a path or URL names."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kycmux._postgres._target import is_postgres_url, masked_url
from kycmux.exceptions import ConfigError
from kycmux.results._sqlite import SqliteResultStore

if TYPE_CHECKING:
    from kycmux.results._postgres import PostgresResultStore

DEFAULT_LEASE = 300.0
"""Seconds a ``PostgresResultStore`` claim stays its worker's without renewal, by default."""

__all__ = ["open_result_store"]


def open_result_store(
    target: str | os.PathLike[str], *, lease: float = DEFAULT_LEASE
) -> SqliteResultStore | PostgresResultStore:
    """Open the store ``target`` names: a ``postgresql://`` (or ``postgres://``) URL opens a
    ``PostgresResultStore`` (``lease``: its claims' lease, in seconds), anything else is the
    path of a ``SqliteResultStore`` file.

    psycopg is imported only for a URL (``ConfigError`` naming the ``kycmux[postgres]`` extra
    when it is missing). Another ``scheme://`` is refused rather than taken for a file name.
    """
    text = os.fspath(target)
    if is_postgres_url(text):
        from kycmux.results._postgres import PostgresResultStore

        return PostgresResultStore.open(text, lease=lease)
    scheme, sep, _ = text.partition("://")
    if sep and scheme.isalnum():
        raise ConfigError(
            masked_url(text), "a result store is a SQLite file path or a postgresql:// URL"
        )
    return SqliteResultStore.open(text)
