"""The lenient JSON reader: the vendor's trailing commas, in time linear in the body, and
nothing else beyond strict JSON (no NaN/Infinity, no unbounded nesting)."""

from __future__ import annotations

import contextlib
import gc
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kycmux import Check, VendorRequest, VendorResponse
from kycmux.exceptions import ProtocolError
from kycmux_tencent_legacy._parse import loads_lenient, parse_response

# Bodies that made a backtracking reader quadratic: many quotes inside one string that never
# ends (each quote would start another scan to the end of the body).
ADVERSARIAL: dict[str, Callable[[int], bytes]] = {
    "unterminated escaped quotes": lambda n: b'{"data":"' + b'\\"' * n,
    "escaped quotes outside a string": lambda n: b"[" + b'\\"' * n,
    "commas before long blanks": lambda n: b"[" + b", " * n + b"1",
    "empty strings": lambda n: b'["' + b'",,"' * n,
}


def _per_read(body: bytes, reads: int) -> float:
    """Seconds one read of ``body`` takes, averaged over ``reads`` reads."""
    start = time.perf_counter()
    for _ in range(reads):
        with contextlib.suppress(ValueError):
            loads_lenient(body)
    return (time.perf_counter() - start) / reads


@pytest.mark.parametrize("make", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_reading_time_grows_linearly_with_the_body(make: Callable[[int], bytes]) -> None:
    # Eight times the body takes about eight times as long when reading is linear, about 64
    # times when quadratic. A ratio does not depend on the machine's speed; noise only adds
    # time, so the least of a few rounds counts, and the bound of 20 leaves a wide margin.
    small_body, large_body = make(500), make(4000)
    gc.disable()
    try:
        small = min(_per_read(small_body, 64) for _ in range(3))
        ratios = []
        for _ in range(3):
            ratios.append(_per_read(large_body, 4) / small)
            if ratios[-1] < 20:
                break
    finally:
        gc.enable()
    assert min(ratios) < 20, f"8x the body took {min(ratios):.1f}x the time"


def test_the_reported_48_kb_answer_is_read_as_not_json() -> None:
    with pytest.raises(ValueError, match="Unterminated string"):
        loads_lenient(b'{"data":"' + b'\\"' * 24000)


@pytest.mark.parametrize("body", [b"[" * 5000, b'{"a":' * 5000, b"[" * 2000 + b"]" * 2000])
def test_deep_nesting_is_invalid_json_not_a_recursion_error(body: bytes) -> None:
    with pytest.raises(ValueError, match="nest"):
        loads_lenient(body)


def test_a_deeply_nested_answer_is_a_protocol_error() -> None:
    request = VendorRequest(
        "tencent_legacy", "livedetectfour", frozenset({Check.LIVENESS}), "POST", "https://x/y"
    )
    body = b'{"code":0,"message":"OK","data":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(ProtocolError):
        parse_response(request, VendorResponse(200, {}, body))


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("trailing", ["", ","], ids=["strict", "trailing_comma"])
def test_non_json_constants_are_refused(token: str, trailing: str) -> None:
    with pytest.raises(ValueError, match="not JSON"):
        loads_lenient(f'{{"sim":{token}{trailing}}}'.encode())


# --- properties ----------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from(',]}"\\ \n\tab语'), max_size=8)
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


def _with_commas(value: Any, commas: st.DataObject) -> str:
    """``value`` as JSON, a trailing comma (and some blanks) in some of its arrays and objects."""
    if isinstance(value, list | dict):
        items = (
            [f"{json.dumps(k)}:{_with_commas(v, commas)}" for k, v in value.items()]
            if isinstance(value, dict)
            else [_with_commas(v, commas) for v in value]
        )
        trailing = "," if items and commas.draw(st.booleans()) else ""
        blank = commas.draw(st.sampled_from(["", " ", "\n", "\r\n\t"]))
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        return opening + ",".join(items) + trailing + blank + closing
    return json.dumps(value)


@settings(max_examples=150, deadline=None)
@given(JSON_VALUES, st.data())
def test_strict_json_and_trailing_commas_read_as_strict_json_would(
    value: Any, commas: st.DataObject
) -> None:
    assert loads_lenient(json.dumps(value).encode()) == value
    assert loads_lenient(_with_commas(value, commas).encode()) == value


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64) | st.text(alphabet=',[]{}"\\: 0aN', max_size=32).map(str.encode))
def test_anything_else_is_a_value_or_a_value_error(body: bytes) -> None:
    with contextlib.suppress(ValueError):
        loads_lenient(body)
