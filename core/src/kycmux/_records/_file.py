"""Reading a JSON-lines records file back: its last link (a bounded read from the end), its
lines as entries (malformed ones reported by line number), and new lines as they come.

No line is ever trusted: anything that is not one JSON object is an ``Entry`` with a
``problem``, never an exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from kycmux._records._chain import CHAIN_FIELD, Entry, Link

__all__ = ["TAIL_LIMIT", "Tail", "TailReader", "last_line", "parse_line", "read_entries"]

TAIL_LIMIT = 8 * 1024 * 1024
"""Bytes read back from a file's end, at most, to find its last line (a record is far less)."""
_CHUNK = 64 * 1024


def last_line(fd: int, size: int) -> tuple[bytes | None, bool]:
    """The last complete line of the open file ``fd`` (``size`` bytes), read backwards from
    its end, never more than ``TAIL_LIMIT`` bytes; and whether the file ends in a torn line
    (a write cut short: no newline at its end)."""
    if size == 0:
        return None, False
    torn = os.pread(fd, 1, size - 1) != b"\n"
    end = size if not torn else _line_start(fd, size)
    if not end:  # torn, and no complete line before it (or none within reach)
        return None, torn
    begin = _line_start(fd, end - 1)  # where the line ending at ``end`` begins
    if begin is None:
        return None, torn
    return os.pread(fd, end - 1 - begin, begin), torn


def _line_start(fd: int, before: int) -> int | None:
    """The offset just past the last newline before ``before`` (0: none, the file's start);
    ``None`` if none is within ``TAIL_LIMIT`` bytes."""
    pos = before
    while pos > 0:
        if before - pos >= TAIL_LIMIT:
            return None
        size = min(_CHUNK, pos)
        pos -= size
        at = os.pread(fd, size, pos).rfind(b"\n")
        if at >= 0:
            return pos + at + 1
    return 0


def parse_line(number: int, raw: bytes) -> Entry:
    """Line ``number`` of a records file as an entry (with a ``problem`` if it is not a
    record: bad UTF-8, bad JSON, not an object, a malformed link)."""
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Entry(number, None, None, None, "not a JSON object (malformed line)")
    if not isinstance(data, dict):
        return Entry(number, None, None, None, "not a JSON object")
    rid = data.get("request_id")
    request_id = rid if isinstance(rid, str) else None
    if CHAIN_FIELD not in data:
        return Entry(number, request_id, data, None)
    link = Link.from_plain(data.pop(CHAIN_FIELD))
    if link is None:
        return Entry(number, request_id, None, None, "its chain link is malformed")
    return Entry(number, request_id, data, link)


def read_entries(path: Path) -> Iterator[Entry]:
    """Every line of ``path`` as an entry, line numbers from 1 (blank lines skipped)."""
    with path.open("rb") as file:
        for number, raw in enumerate(file, 1):
            if raw.strip():
                yield parse_line(number, raw.rstrip(b"\r\n"))


@attrs.frozen
class Tail:
    """Where a ``TailReader`` is in its file.

    Attributes:
        inode: The file's inode (another one at the path: the file was rotated).
        offset: Bytes read so far (whole lines only).
        line: Lines read so far.
    """

    inode: int
    offset: int
    line: int


@attrs.define
class TailReader:
    """New lines of a records file, each time ``poll`` is called (``kycmux records --follow``).

    A file replaced at the path (rotated) or cut shorter is read again from its start.

    Attributes:
        path: The file.
        at: Where reading stopped; ``None`` before the first poll.
    """

    path: Path
    at: Tail | None = None

    def skip_to_end(self) -> None:
        """Start after what the file holds now (only lines written later are polled)."""
        for _entry in self.poll():
            pass

    def poll(self) -> list[Entry]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        at = self.at
        if at is None or at.inode != stat.st_ino or stat.st_size < at.offset:
            at = Tail(stat.st_ino, 0, 0)
        with self.path.open("rb") as file:
            file.seek(at.offset)
            data = file.read(max(0, stat.st_size - at.offset))
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        entries = []
        line = at.line
        for raw in complete.splitlines():
            line += 1
            if raw.strip():
                entries.append(parse_line(line, raw))
        self.at = Tail(stat.st_ino, at.offset + len(complete), line)
        return entries
