"""Comparison results: the ``Result`` rows every report is computed from, and where they live.

``SqliteResultStore`` (a file, no server) is the default store, ``PostgresResultStore`` the one
several workers and replicas share (the ``postgres`` extra); ``open_result_store`` opens either
from a path or a ``postgresql://`` URL. Anything implementing ``ResultStore`` can replace them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kycmux.results._labels import GroundTruth, LabelReport, read_label_file
from kycmux.results._model import CheckResult, Label, Result, Role
from kycmux.results._open import open_result_store
from kycmux.results._provenance import AnswerSource, DataSource, Provenance
from kycmux.results._sqlite import SqliteResultStore
from kycmux.results._store import Claim, LabelStore, ResultStore, StudyInfo

if TYPE_CHECKING:
    from kycmux.results._postgres import PostgresResultStore


def __getattr__(name: str) -> Any:
    # Loaded on first use: an engine without PostgreSQL never needs the module.
    if name == "PostgresResultStore":
        from kycmux.results._postgres import PostgresResultStore

        return PostgresResultStore
    raise AttributeError(f"module 'kycmux.results' has no attribute {name!r}")


__all__ = [
    "AnswerSource",
    "CheckResult",
    "Claim",
    "DataSource",
    "GroundTruth",
    "Label",
    "LabelReport",
    "LabelStore",
    "PostgresResultStore",
    "Provenance",
    "Result",
    "ResultStore",
    "Role",
    "SqliteResultStore",
    "StudyInfo",
    "open_result_store",
    "read_label_file",
]
