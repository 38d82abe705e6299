"""A result row with sensible defaults, for the result-store tests of every backend."""

from __future__ import annotations

from kycmux.results import Result, Role

STUDY = "ab-1"


def result(item: str, system: str = "linkface", **fields: object) -> Result:
    values: dict[str, object] = {
        "study": STUDY,
        "item": item,
        "system": system,
        "role": Role.OFFLINE,
        "outcome": "accept",
        "latency_ms": 12.5,
        "recorded_at": 1_700_000_000.25,
    }
    values.update(fields)
    return Result(**values)  # type: ignore[arg-type]
