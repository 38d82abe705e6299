"""The JSON-lines decision sink that ships with core."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import attrs

from kycmux._contract._markers import hookimpl
from kycmux._records._record import DecisionRecord

__all__ = ["JsonLinesSink"]


@attrs.define(eq=False)  # plugins must be hashable: pluggy keeps them in sets
class JsonLinesSink:
    """An ``on_decision`` plugin appending every decision record as one JSON line.

    Records are already masked (no secrets, no raw personal data). Each line is written with
    a single ``write`` on a file opened in append mode, so several processes can share a file.

    Attributes:
        path: The file to append to (parents are created).
    """

    path: Path = attrs.field(converter=Path)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    @hookimpl
    def on_decision(self, record: DecisionRecord) -> None:
        line = json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
