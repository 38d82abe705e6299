"""The result store interface: where comparison results live, whatever the database."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from kycmux.exceptions import ConfigError
from kycmux.results._labels import GroundTruth, LabelReport
from kycmux.results._model import Result, Role

__all__ = ["Claim", "LabelStore", "ResultStore", "StudyInfo", "opened_as"]


class Claim(enum.StrEnum):
    """What ``ResultStore.claim`` found for an (item, system) pair.

    Attributes:
        NEW: Never sent; now marked in flight, so go ahead and send it.
        DONE: A result is stored; do not send it again (the vendor may bill twice).
        INTERRUPTED: Marked in flight by an earlier run that never stored a result: it may
            have reached the vendor. Now marked in flight again; the caller decides.
        BUSY: In flight at another live worker (its claim's lease has not lapsed): nothing
            was marked; skip it for now and ask again later. Only stores shared by several
            workers answer it (``PostgresResultStore``); ``SqliteResultStore`` never does.
    """

    NEW = "new"
    DONE = "done"
    INTERRUPTED = "interrupted"
    BUSY = "busy"


@attrs.frozen
class StudyInfo:
    """A study's identity and settings.

    Attributes:
        name: The study name (offline run name or experiment name).
        kind: ``offline`` or ``experiment``.
        created_at: UNIX time it was first opened.
        meta: Free-form JSON-ready settings (manifest, vendors, checks, policy hash...).
    """

    name: str
    kind: str
    created_at: float
    meta: Mapping[str, Any] = attrs.field(factory=dict)


def opened_as(info: StudyInfo | None, name: str, kind: str) -> StudyInfo:
    """The study ``open_study`` found or made, refused if it exists as another kind."""
    assert info is not None
    if info.kind != kind:
        raise ConfigError(
            f"study {name}", f"exists as a {info.kind!r} study, cannot open it as {kind!r}"
        )
    return info


@runtime_checkable
class ResultStore(Protocol):
    """Where results are kept. ``SqliteResultStore`` is the default, ``PostgresResultStore``
    the one several machines share; ``open_result_store`` picks one from a path or URL.
    Implementations must be safe to call from several threads."""

    def open_study(self, name: str, *, kind: str, meta: Mapping[str, Any]) -> StudyInfo:
        """Create the study, or return it if it exists (``ConfigError`` if ``kind`` differs).

        ``meta`` is stored on creation; an existing study keeps its own.
        """
        ...

    def study(self, name: str) -> StudyInfo | None:
        """The study called ``name``, if any."""
        ...

    def studies(self) -> Sequence[StudyInfo]:
        """Every study, oldest first."""
        ...

    def claim(self, study: str, item: str, system: str) -> Claim:
        """Mark (item, system) in flight before sending it; say whether it was already done
        (or, for a shared store, is in flight elsewhere: ``Claim.BUSY``)."""
        ...

    def add(self, result: Result) -> None:
        """Store a result (replacing an earlier one for the same study, item and system)."""
        ...

    def results(self, study: str, *, role: Role | None = None) -> Sequence[Result]:
        """The study's results, in the order they were stored."""
        ...

    def close(self) -> None:
        """Release the connection; further calls fail."""
        ...


@runtime_checkable
class LabelStore(Protocol):
    """A result store that also keeps ground truth learnt after the fact (``kycmux label``).

    Both bundled stores are; a ``ResultStore`` written before it existed still works
    everywhere except ``kycmux label``. Stored truth is laid over ``results``: each
    labelled item's results carry its label.
    """

    def set_labels(self, study: str, truths: Sequence[GroundTruth], *, source: str) -> LabelReport:
        """Store each known item's truth (``source``: where it came from, e.g. the file
        name); ids the study has no result for are reported, not stored."""
        ...

    def labels(self, study: str) -> Mapping[str, GroundTruth]:
        """The ground truth stored for the study's items, by item."""
        ...
