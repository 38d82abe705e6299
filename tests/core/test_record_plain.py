"""The records' hand-written ``to_dict`` gives exactly what the generic ``to_plain`` gives."""

from __future__ import annotations

import enum
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kycmux._records._record import (
    AttemptRecord,
    CheckRecord,
    DecisionRecord,
    ShadowRecord,
    SkipRecord,
    record_json,
    to_plain,
)


class _Colour(enum.Enum):
    RED = "red"


texts = st.text(max_size=8)
maybe_text = st.none() | texts
numbers = st.floats(allow_nan=False, allow_infinity=False)
# What free-form fields hold: scores' dicts with tuples of points, enums, nested mappings.
leaves = st.none() | st.booleans() | st.integers() | numbers | texts | st.just(_Colour.RED)
free = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(texts | st.just(_Colour.RED), inner, max_size=3)
    ),
    max_leaves=12,
)
free_maps = st.dictionaries(texts, free, max_size=3)
text_tuples = st.lists(texts, max_size=3).map(tuple)

skips = st.builds(SkipRecord, texts, texts, texts, st.none() | free_maps)
checks = st.builds(
    CheckRecord,
    texts,
    texts,
    text_tuples,
    texts,
    scores=free_maps,
    error_classes=st.dictionaries(texts, texts, max_size=2),
)
attempts = st.builds(
    AttemptRecord,
    texts,
    texts,
    text_tuples,
    st.integers(),
    texts,
    numbers,
    numbers,
    http_status=st.none() | st.integers(),
    error_class=maybe_text,
    reason=maybe_text,
    vendor_code=maybe_text,
    vendor_message=maybe_text,
    vendor_request_id=maybe_text,
    possibly_billed=st.booleans(),
    verdicts=st.dictionaries(texts, texts, max_size=2),
    scores=free_maps,
    capture_issue=maybe_text,
    plugin=st.none() | free_maps,
    instance_of=maybe_text,
)
lists_of = lambda s: st.lists(s, max_size=2).map(tuple)  # noqa: E731
shadows = st.builds(
    ShadowRecord,
    texts,
    texts,
    texts,
    outcome=maybe_text,
    reasons=text_tuples,
    duration_ms=st.none() | numbers,
    checks=lists_of(checks),
    attempts=lists_of(attempts),
    skipped=lists_of(skips),
)
decisions = st.builds(
    DecisionRecord,
    texts,
    numbers,
    numbers,
    texts,
    texts,
    maybe_text,
    st.dictionaries(texts, texts, max_size=3),
    texts,
    text_tuples,
    texts,
    hint=maybe_text,
    checks=lists_of(checks),
    attempts=lists_of(attempts),
    skipped=lists_of(skips),
    experiment=st.none() | st.dictionaries(texts, texts, max_size=3),
    shadow=lists_of(shadows),
    degraded=text_tuples,
    challenge=st.none() | free_maps,
)


@given(st.one_of(skips, checks, attempts, shadows, decisions))
def test_to_dict_equals_the_generic_conversion(record: Any) -> None:
    assert record.to_dict() == to_plain(record)


@given(decisions)
def test_record_json_is_the_sorted_json_of_to_dict(record: DecisionRecord) -> None:
    line = record_json(record)
    assert line == json.dumps(to_plain(record), ensure_ascii=False, sort_keys=True)
    assert json.loads(line) == json.loads(json.dumps(to_plain(record)))
    assert "\n" not in line
