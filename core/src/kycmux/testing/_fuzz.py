"""Answers near a genuine one, for fuzzing ``parse``; what a parsed answer must hold."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from kycmux import VendorRequest, VendorResult, VendorSpec

__all__ = ["assert_trustworthy", "mangled"]


def assert_trustworthy(spec: VendorSpec, request: VendorRequest, result: VendorResult) -> None:
    """What a parsed answer must hold to be used: a malformed one must raise instead."""
    for check, answer in result.answers.items():
        assert check in request.checks, f"an answer for {check}, which was not asked"
        if answer.score is None:
            continue
        declared = spec.score_spec(answer.score.name)
        assert declared is not None, f"undeclared score {answer.score.name!r}"
        value = answer.score.value
        assert math.isfinite(value), f"score {value!r} is not a number"
        assert declared.in_range(value), f"score {value!r} out of range"


def mangled(genuine: bytes) -> st.SearchStrategy[bytes]:
    """Answers near the genuine one: cut short, bytes changed, JSON values swapped, noise."""
    length = max(len(genuine), 1)
    cut = st.integers(0, length - 1).map(lambda n: genuine[:n])
    flipped = st.tuples(st.integers(0, length - 1), st.integers(0, 255)).map(
        lambda p: genuine[: p[0]] + bytes([p[1]]) + genuine[p[0] + 1 :]
    )
    strategies = [cut, flipped, st.binary(max_size=256)]
    try:
        document = json.loads(genuine)
    except ValueError:
        return st.one_of(strategies)
    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=8),
        st.lists(st.integers(), max_size=2),
        st.just(float("nan")),
        st.just(1e300),
    )
    paths = list(_paths(document))
    if paths:
        swapped = st.tuples(st.sampled_from(paths), values).map(
            lambda p: _swap(document, p[0], p[1])
        )
        dropped = st.sampled_from(paths).map(lambda path: _swap(document, path, _DROP))
        strategies += [swapped, dropped]
    return st.one_of(strategies)


_DROP = object()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


def _swap(document: Any, path: tuple[Any, ...], value: Any) -> bytes:
    copy = json.loads(json.dumps(document))
    node = copy
    for key in path[:-1]:
        node = node[key]
    if value is _DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(copy, allow_nan=True).encode()
