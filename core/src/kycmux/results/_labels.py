"""Ground truth learnt after the fact: a label file read, checked, and laid over results.

Live decisions have no labels when they are made; manual review or later fraud findings give
them. A *label file* maps request ids (a study's items) to their truth, as CSV with a header
or JSON lines with the same keys:

``request_id``
    The item: a live request id, or an offline manifest row id. Required.
``label``
    The item's truth: ``genuine``, ``impostor`` or ``spoof``.
``liveness``, ``face_match``, ``id_registry_match``
    The truth per check: ``liveness`` is ``genuine`` or ``spoof``; ``face_match`` and
    ``id_registry_match`` are ``genuine`` or ``impostor``. An empty value: not known.

Each line needs ``label`` or at least one check. Without ``label`` the item's label is
derived from its checks (any ``spoof``: spoof; else any ``impostor``: impostor; else
genuine); with both, they must agree. Every problem is reported at once, keyed
``<file>:<line>`` and naming the field and the rule; nothing is stored unless the whole file
is valid. The same request id twice is allowed only with the same truth.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from kycmux.exceptions import ConfigError
from kycmux.results._model import Label, Result

__all__ = [
    "CHECK_TRUTHS",
    "GroundTruth",
    "LabelReport",
    "label_report",
    "overlay",
    "read_label_file",
]

CHECK_TRUTHS: Mapping[str, frozenset[Label]] = {
    "liveness": frozenset({Label.GENUINE, Label.SPOOF}),
    "face_match": frozenset({Label.GENUINE, Label.IMPOSTOR}),
    "id_registry_match": frozenset({Label.GENUINE, Label.IMPOSTOR}),
}
_FIELDS = ("request_id", "label", *CHECK_TRUTHS)
_MAX_ITEM = 200
_MAX_LISTED = 20


def _checks(value: Mapping[str, Label | str]) -> dict[str, Label]:
    return {check: Label(truth) for check, truth in sorted(value.items())}


@attrs.frozen
class GroundTruth:
    """One item's truth, as a label file gives it.

    Attributes:
        item: The request id (the study's item).
        label: The item's label (given, or derived from ``checks``).
        checks: The truth per check, where known.
    """

    item: str
    label: Label = attrs.field(converter=Label)
    checks: Mapping[str, Label] = attrs.field(factory=dict, converter=_checks)

    def to_plain(self) -> dict[str, Any]:
        return {"label": self.label.value, "checks": {c: t.value for c, t in self.checks.items()}}

    @classmethod
    def from_plain(cls, item: str, data: Mapping[str, Any]) -> GroundTruth:
        return cls(item, data["label"], data.get("checks") or {})


@attrs.frozen
class LabelReport:
    """What storing a label file changed in one study.

    Attributes:
        applied: Items whose truth was stored or changed.
        unchanged: Items that already had exactly this truth (a second run changes nothing).
        unknown: Request ids the study has no result for (not stored).
    """

    applied: int = 0
    unchanged: int = 0
    unknown: tuple[str, ...] = ()


def label_report(truths: Sequence[GroundTruth], known: set[str], applied: int) -> LabelReport:
    """The report of a store's ``set_labels``: ``applied`` stored, the other known ones
    unchanged, the rest unknown (in file order)."""
    matched = sum(1 for t in truths if t.item in known)
    unknown = tuple(t.item for t in truths if t.item not in known)
    return LabelReport(applied, matched - applied, unknown)


def overlay(results: Iterable[Result], truths: Mapping[str, GroundTruth]) -> list[Result]:
    """``results`` with each labelled item's label and per-check truth replaced by its ground
    truth (so the report's per-check sections judge by what was learnt, not the old label)."""
    return [
        attrs.evolve(r, label=truths[r.item].label, truth=truths[r.item].checks)
        if r.item in truths
        else r
        for r in results
    ]


def _derived(checks: Mapping[str, Label]) -> Label:
    values = set(checks.values())
    if Label.SPOOF in values:
        return Label.SPOOF
    return Label.IMPOSTOR if Label.IMPOSTOR in values else Label.GENUINE


def _truth(record: Mapping[str, Any]) -> tuple[GroundTruth | None, list[str]]:
    """The truth of one line, or the problems with it (``field: rule``)."""
    problems = [f"{key}: not a known field (expected {', '.join(_FIELDS)})" for key in record]
    problems = [p for p, key in zip(problems, record, strict=True) if key not in _FIELDS]
    item = record.get("request_id")
    if not isinstance(item, str) or not item.strip():
        problems.append("request_id: must be a non-empty string")
    elif item != item.strip() or len(item) > _MAX_ITEM:
        problems.append(f"request_id: must have no surrounding spaces, {_MAX_ITEM} chars at most")
    checks: dict[str, Label] = {}
    for check, allowed in CHECK_TRUTHS.items():
        value = record.get(check)
        if value in (None, ""):
            continue
        if value not in {t.value for t in allowed}:
            problems.append(f"{check}: must be one of {', '.join(sorted(allowed))} or empty")
        else:
            checks[check] = Label(value)
    label = record.get("label")
    if label in (None, ""):
        if not checks and not problems:
            problems.append("label: give label or at least one check's truth")
        label = _derived(checks) if checks else None
    elif label not in {v.value for v in Label}:
        problems.append(f"label: must be one of {', '.join(v.value for v in Label)}")
    elif checks and _derived(checks) is not Label(label):
        problems.append(f"label: {label} contradicts the per-check truth")
    if problems or label is None or not isinstance(item, str):
        return None, problems
    return GroundTruth(item, label, checks), []


def _records(path: Path, text: str) -> Iterable[tuple[int, Any]]:
    if path.suffix.lower() in (".jsonl", ".json"):
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, ValueError(f"not valid JSON ({exc.msg})")
        return
    if path.suffix.lower() != ".csv":
        raise ConfigError(str(path), "a label file must be .csv, .jsonl or .json")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or "request_id" not in reader.fieldnames:
        raise ConfigError(f"{path.name}:1", "request_id: the header must name this column")
    for record in reader:
        yield reader.line_num, {k: v for k, v in record.items() if k is not None}


def read_label_file(path: str | os.PathLike[str]) -> Sequence[GroundTruth]:
    """Every truth in the label file at ``path``, one per request id, in file order.

    ``ConfigError`` keyed ``<file>:<line>`` naming the field and rule (up to 20 problems
    listed in one error) if any line is invalid; nothing is returned then.
    """
    location = Path(path)
    try:
        text = location.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problem = f"cannot be read as UTF-8 text ({type(exc).__name__})"
        raise ConfigError(location.name, problem) from None
    found: dict[str, GroundTruth] = {}
    problems: list[str] = []
    for number, record in _records(location, text):
        where = f"{location.name}:{number}"
        if isinstance(record, ValueError) or not isinstance(record, Mapping):
            problems.append(
                f"{where}: {record if isinstance(record, ValueError) else 'not an object'}"
            )
            continue
        truth, wrong = _truth(record)
        problems += [f"{where}: {p}" for p in wrong]
        if truth is None:
            continue
        earlier = found.setdefault(truth.item, truth)
        if earlier != truth:
            problems.append(f"{where}: request_id: given earlier with another truth")
    if problems:
        more = len(problems) - _MAX_LISTED
        listed = "; ".join(problems[:_MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")
        raise ConfigError(location.name, f"{len(problems)} problem(s): {listed}")
    return list(found.values())
