"""Manifests: the labelled rows an offline comparison sends to every vendor.

A manifest is JSON lines (``.jsonl``, ``.json``: one object per line) or CSV (``.csv``: UTF-8,
header row first). Each row has an ``id``, an optional ``label``, optional per-check truths
(``liveness_truth``, ``face_match_truth``, ``id_registry_match_truth``) and the evidence fields;
media paths are relative to the manifest's folder. A manifest with row labels only (written
before per-check truth) is still read: each check takes what the label implies.
``Manifest.load`` checks every row before returning and reports all problems at once, so a
broken manifest costs one edit, not twenty.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from kycmux._model._evidence import Evidence, EvidenceKind
from kycmux.exceptions import ConfigError, InvalidEvidenceError
from kycmux.results._model import CHECK_TRUTHS, Label, implied_truth

__all__ = ["COLUMNS", "TRUTH_COLUMNS", "Manifest", "ManifestRow", "write_manifest"]

_MEDIA = (
    EvidenceKind.SELFIE,
    EvidenceKind.REFERENCE_PHOTO,
    EvidenceKind.VIDEO,
    EvidenceKind.LIVENESS_DATA,
)
_EVIDENCE_COLUMNS = (
    "selfie",
    "reference_photo",
    "video",
    "digits",
    "liveness_data",
    "id_number",
    "id_name",
    "subject_id",
)
TRUTH_COLUMNS: Mapping[str, str] = {f"{check}_truth": check for check in CHECK_TRUTHS}
"""Per-check ground-truth columns, and the check each one is about."""
COLUMNS: tuple[str, ...] = ("id", "label", *TRUTH_COLUMNS, *_EVIDENCE_COLUMNS)
"""Every column a manifest may have, in the order ``write_manifest`` writes them."""

_JSON_SUFFIXES = (".jsonl", ".json")
_MAX_LISTED = 20


def _non_empty(_inst: Any, _attribute: attrs.Attribute[Any], value: str) -> None:
    if not value:
        raise ValueError("a manifest row id must not be empty")


@attrs.frozen
class ManifestRow:
    """One item of the comparison: what every vendor is sent, and the truth if known.

    Attributes:
        id: Unique within the manifest; the item name in every result.
        label: The ground truth (genuine, impostor, spoof), or ``None`` if unknown; derived
            from the per-check truths when only those are given.
        evidence: The validated evidence, media paths resolved against the manifest folder.
        truth: Per-check ground truth the manifest gives, by check name (only those given).
    """

    id: str = attrs.field(validator=_non_empty)
    label: Label | None
    evidence: Evidence
    truth: Mapping[str, Label] = attrs.field(factory=dict)

    def truth_for(self, check: str) -> Label | None:
        """The ground truth of one check: the row's own, else what ``label`` implies."""
        return self.truth.get(check) or implied_truth(self.label, check)


@attrs.frozen
class Manifest:
    """A loaded, fully validated manifest.

    Attributes:
        path: The manifest file.
        rows: The rows, in file order.
        digest: ``sha256:<16 hex>`` of the file bytes: tells whether a rerun uses the same set.
    """

    path: Path
    rows: tuple[ManifestRow, ...]
    digest: str

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        """Read and validate the manifest at ``path`` (JSON lines or CSV, by suffix).

        Raises ``ConfigError`` (key ``<path>:<line>``) for format problems and
        ``InvalidEvidenceError`` (rule ``row <id> (line N): ...``) when only evidence is at
        fault; with several problems, one error lists up to 20 of them.
        """
        location = Path(path)
        data = _read_bytes(location)
        records, problems = _parse(location, data)
        rows = _Checker(location, problems).rows(records)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()[:16]
        return cls(location, rows, digest)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[ManifestRow]:
        return iter(self.rows)


def write_manifest(path: str | os.PathLike[str], rows: Iterable[Mapping[str, str]]) -> Path:
    """Write ``rows`` as a manifest ``Manifest.load`` reads: JSON lines or CSV by suffix.

    Columns come out in ``COLUMNS`` order; empty values are left out of JSON lines. Output
    is byte-for-byte deterministic for the same rows. ``ValueError`` for unknown columns.
    """
    location = Path(path)
    suffix = location.suffix.lower()
    records = [dict(row) for row in rows]
    for record in records:
        unknown = set(record) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown manifest columns {sorted(unknown)}")
    if suffix in _JSON_SUFFIXES:
        text = "".join(_json_line(record) for record in records)
    elif suffix == ".csv":
        text = _csv_text(records)
    else:
        raise ValueError(f"manifest suffix must be .jsonl, .json or .csv, not {suffix!r}")
    location.write_text(text, encoding="utf-8", newline="")
    return location


def _json_line(record: Mapping[str, str]) -> str:
    ordered = {column: record[column] for column in COLUMNS if record.get(column)}
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":")) + "\n"


def _csv_text(records: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


# reading ---------------------------------------------------------------------------------------


@attrs.frozen
class _Record:
    """One row as read.

    Attributes:
        line: The line it starts on (CSV: ends on).
        values: Its non-empty values, by column.
        damaged: Some value could not be read (already reported).
    """

    line: int
    values: Mapping[str, str]
    damaged: bool = False


@attrs.frozen
class _Problem:
    """One thing wrong with a manifest: where, which field, what rule it breaks.

    Attributes:
        line: The manifest line (the header is line 1 in CSV).
        text: The rule broken, without personal data.
        field: The column at fault, if one is.
        row: The row's id, when it has one.
        evidence: The evidence is at fault (not the file's format).
    """

    line: int
    text: str
    field: str | None = None
    row: str | None = None
    evidence: bool = False

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.row is None else f"row {self.row} (line {self.line})"

    @property
    def detail(self) -> str:
        return f"{self.field}: {self.text}" if self.field else self.text

    def describe(self) -> str:
        return f"{self.where}: {self.detail}"


class _Problems(Exception):
    """Problems that stop parsing (a broken CSV header or quoting)."""

    def __init__(self, problems: list[_Problem]) -> None:
        super().__init__(f"{len(problems)} manifest problems")
        self.problems = problems


def _read_bytes(path: Path) -> bytes:
    if path.suffix.lower() not in (*_JSON_SUFFIXES, ".csv"):
        raise ConfigError(str(path), "a manifest must be .jsonl, .json (JSON lines) or .csv")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "manifest file does not exist") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the manifest ({exc.strerror})") from None


def _parse(path: Path, data: bytes) -> tuple[list[_Record], list[_Problem]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8 text (byte {exc.start})") from None
    try:
        if path.suffix.lower() == ".csv":
            return _csv_records(text)
        return _json_records(text)
    except _Problems as found:
        raise _error(path, found.problems) from None


def _json_records(text: str) -> tuple[list[_Record], list[_Problem]]:
    records, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            problems.append(_Problem(number, "not valid JSON (one object per line)"))
            continue
        if not isinstance(document, dict):
            problems.append(_Problem(number, "must be a JSON object (one object per line)"))
            continue
        values, bad = _json_values(number, document)
        problems.extend(bad)
        records.append(_Record(number, values, damaged=bool(bad)))
    return records, problems


def _json_values(line: int, document: dict[str, Any]) -> tuple[dict[str, str], list[_Problem]]:
    values: dict[str, str] = {}
    problems = []
    row_id = document.get("id")
    row = row_id.strip() or None if isinstance(row_id, str) else None
    for key, value in document.items():
        if key not in COLUMNS:
            text = f"unknown field {key!r} (expected {_expected()})"
            problems.append(_Problem(line, text, row=row))
        elif value is None:
            continue
        elif not isinstance(value, str):
            problems.append(_Problem(line, "must be a string or null", field=key, row=row))
        elif value.strip():
            values[key] = value.strip()
    return values, problems


def _csv_records(text: str) -> tuple[list[_Record], list[_Problem]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise _Problems([_Problem(1, "the CSV header row is missing")])
        columns = [name.strip() for name in header]
        _check_header(columns)
        records = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            records.append(_csv_record(reader.line_num, columns, cells))
    except csv.Error as exc:
        raise _Problems([_Problem(reader.line_num, f"not valid CSV ({exc})")]) from None
    problems = [record for record in records if isinstance(record, _Problem)]
    return [record for record in records if isinstance(record, _Record)], problems


def _check_header(columns: list[str]) -> None:
    problems = [
        _Problem(1, f"unknown column {name!r} (expected {_expected()})")
        for name in columns
        if name not in COLUMNS
    ]
    problems += [
        _Problem(1, f"column {name!r} appears more than once")
        for name in sorted({n for n in columns if columns.count(n) > 1})
    ]
    if "id" not in columns:
        problems.append(_Problem(1, "the header has no 'id' column"))
    if problems:
        raise _Problems(problems)


def _csv_record(line: int, columns: list[str], cells: list[str]) -> _Record | _Problem:
    if len(cells) != len(columns):
        return _Problem(line, f"has {len(cells)} cells, the header {len(columns)}")
    values = {name: cell.strip() for name, cell in zip(columns, cells, strict=True)}
    return _Record(line, {name: value for name, value in values.items() if value})


def _expected() -> str:
    return ", ".join(COLUMNS)


# checking --------------------------------------------------------------------------------------


@attrs.define
class _Checker:
    """Turns parsed records into rows, collecting every problem on the way."""

    _path: Path
    _problems: list[_Problem] = attrs.field(factory=list)
    _seen: dict[str, int] = attrs.field(factory=dict)

    def rows(self, records: list[_Record]) -> tuple[ManifestRow, ...]:
        rows = [row for record in records if (row := self._row(record)) is not None]
        if not records and not self._problems:
            self._problems.append(_Problem(1, "the manifest has no rows"))
        if self._problems:
            raise _error(self._path, self._problems)
        return tuple(rows)

    def _row(self, record: _Record) -> ManifestRow | None:
        row_id = record.values.get("id", "")
        row = row_id or None
        count = len(self._problems)
        if not row_id:
            self._problems.append(_Problem(record.line, "must not be empty", field="id"))
        elif row_id in self._seen:
            first = f"duplicate: already on line {self._seen[row_id]}"
            self._problems.append(_Problem(record.line, first, row=row))
        else:
            self._seen[row_id] = record.line
        label = self._label(record, row)
        truth = self._truths(record, row, label)
        evidence = self._evidence(record, row)
        if len(self._problems) > count or evidence is None:
            return None
        return ManifestRow(row_id, label or _label_of(truth), evidence, truth)

    def _truths(self, record: _Record, row: str | None, label: Label | None) -> dict[str, Label]:
        truths = {}
        for column, check in TRUTH_COLUMNS.items():
            value = record.values.get(column)
            if value is None:
                continue
            allowed = CHECK_TRUTHS[check]
            truth = next((t for t in allowed if t.value == value.lower()), None)
            implied = implied_truth(label, check)
            if truth is None:
                rule = f"must be {' or '.join(sorted(t.value for t in allowed))}, or empty"
            elif implied is not None and truth is not implied:
                rule = f"contradicts label {label}: a row labelled {label} is {implied} for {check}"
            else:
                truths[check] = truth
                continue
            self._problems.append(_Problem(record.line, rule, field=column, row=row))
        return truths

    def _label(self, record: _Record, row: str | None) -> Label | None:
        value = record.values.get("label")
        if value is None:
            return None
        try:
            return Label(value.lower())
        except ValueError:
            # The value itself is not repeated: a shifted CSV cell may hold personal data.
            expected = ", ".join(label.value for label in Label)
            rule = f"must be one of {expected}, or empty"
            self._problems.append(_Problem(record.line, rule, field="label", row=row))
            return None

    def _evidence(self, record: _Record, row: str | None) -> Evidence | None:
        fields: dict[str, Any] = {
            name: self._media(value) if name in _MEDIA else value
            for name, value in record.values.items()
            if name in _EVIDENCE_COLUMNS
        }
        if not fields:
            if not record.damaged:
                self._problems.append(_Problem(record.line, "the row has no evidence", row=row))
            return None
        # Field by field first, so a row with two bad fields reports both.
        failed = False
        for name, value in fields.items():
            try:
                Evidence(**{name: value})
            except InvalidEvidenceError as exc:
                failed = True
                problem = _Problem(record.line, exc.rule, field=exc.field, row=row, evidence=True)
                self._problems.append(problem)
        return None if failed else Evidence(**fields)

    def _media(self, value: str) -> str | Path:
        if value.startswith(("http://", "https://")):
            return value
        path = Path(value)
        return path if path.is_absolute() else self._path.parent / path


def _label_of(truth: Mapping[str, Label]) -> Label | None:
    """The row label the per-check truths add up to, when all three are given: any spoof makes
    a spoof, else any impostor an impostor, else genuine. Fewer leave the label unknown, so
    no check is given a truth the manifest did not state."""
    if set(truth) != set(CHECK_TRUTHS):
        return None
    values = set(truth.values())
    for label in (Label.SPOOF, Label.IMPOSTOR):
        if label in values:
            return label
    return Label.GENUINE


def _error(path: Path, problems: list[_Problem]) -> ConfigError | InvalidEvidenceError:
    """One exception for every problem: evidence-only problems raise ``InvalidEvidenceError``."""
    problems = sorted(problems, key=lambda p: p.line)
    first = problems[0]
    evidence_only = all(p.evidence for p in problems)
    if len(problems) == 1:
        if evidence_only:
            assert first.field is not None
            return InvalidEvidenceError(first.field, f"{first.where}: {first.text}")
        row = "" if first.row is None else f"row {first.row}: "
        return ConfigError(f"{path}:{first.line}", row + first.detail)
    listed = "\n".join(f"  {p.describe()}" for p in problems[:_MAX_LISTED])
    more = len(problems) - _MAX_LISTED
    tail = f"\n  ... and {more} more" if more > 0 else ""
    summary = f"{len(problems)} problems in {path}:\n{listed}{tail}"
    if evidence_only:
        assert first.field is not None
        return InvalidEvidenceError(first.field, summary)
    return ConfigError(f"{path}:{first.line}", summary)
