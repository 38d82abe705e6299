"""Comparison results: the ``Result`` rows every report is computed from, and where they live.

``SqliteResultStore`` (a file, no server) is the default store; anything implementing
``ResultStore`` can replace it.
"""

from __future__ import annotations

from kycmux.results._model import CheckResult, Label, Result, Role
from kycmux.results._sqlite import SqliteResultStore
from kycmux.results._store import Claim, ResultStore, StudyInfo

__all__ = [
    "CheckResult",
    "Claim",
    "Label",
    "Result",
    "ResultStore",
    "Role",
    "SqliteResultStore",
    "StudyInfo",
]
