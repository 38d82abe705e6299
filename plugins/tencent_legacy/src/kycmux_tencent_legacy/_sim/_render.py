"""Answers in the vendor's own layout, trailing comma included.

The documents print every response with one member per line and a comma after the last
member of ``data``::

    {
    "data":{
    "live_status":0,
    "photo":"xxxx",
    },
    "code":0,
    "message":"OK"
    }

The simulator writes exactly that, so clients meet the same non-strict JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from kycmux.simkit import SimResponse

__all__ = ["render", "render_error"]

Member = tuple[str, object]


def _value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def render(
    code: int, message: str, data: Sequence[Member] = (), *, status: int = 200
) -> SimResponse:
    """A Tencent JSON answer; ``data`` members in order, each followed by a comma."""
    lines = ["{"]
    if data:
        lines.append('"data":{')
        lines.extend(f"{_value(name)}:{_value(value)}," for name, value in data)
        lines.append("},")
    lines.append(f'"code":{code},')
    lines.append(f'"message":{_value(message)}')
    lines.append("}")
    return SimResponse.json_text(status, "\n".join(lines) + "\n")


def render_error(code: int, message: str, *, status: int = 200) -> SimResponse:
    """A top-level error answer (no ``data``)."""
    return render(code, message, status=status)
