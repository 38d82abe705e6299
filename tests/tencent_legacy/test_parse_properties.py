"""Property-based: whatever Tencent answers, the engine never passes what it cannot trust.

Bodies of both endpoints are built from the documented success shape, then given a few
mutations: fields dropped, retyped or replaced (statuses non-zero; scores as text, non-ASCII
digits, ``NaN``/``Infinity`` tokens, out of range, too large for a float), keys repeated,
members added, ``data`` of another shape, an HTTP error status, bytes cut or garbled; written
strictly or with the vendor's trailing commas. Each body goes through ``parse`` alone (a typed
result or ``ProtocolError``, nothing else) and through the decision path
(``VendorClient.interpret``, then ``judge`` with ``Policy.threshold``). An oracle written from
the promises, reading the body with its own reader, says which checks may pass; the verdicts
must agree with it exactly. Each test counts its passes: a strategy that rarely reaches the
passing path fails.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kycmux import (
    Check,
    HttpClient,
    PluginHost,
    VendorConfig,
    VendorRequest,
    VendorResponse,
    VendorResult,
)
from kycmux.exceptions import ProtocolError
from kycmux_tencent_legacy._parse import parse_response
from tencent_legacy.codes import EXPECTED
from tencent_legacy.pipeline import IDCARDCOMPARE, LIVEDETECTFOUR, Pipeline, policy

LIVE, FACE, REGISTRY = Check.LIVENESS, Check.FACE_MATCH, Check.ID_REGISTRY_MATCH
EXAMPLES: Final = 300
MIN_PASS_SHARE: Final = 0.2
DOCUMENTED_CODES: Final = sorted(int(code) for code in EXPECTED)


# -- documents: a model that can also hold what JSON cannot -------------------------------------


@attrs.frozen
class Raw:
    """A token written into the body as it is (``NaN``, ``1e999``, ``９０``...)."""

    text: str


class Obj(list[tuple[str, Any]]):
    """A JSON object as its members in order; a key may repeat (the last one counts)."""


def _render(value: Any, style: str, depth: int = 0) -> str:
    if isinstance(value, Raw):
        return value.text
    if not isinstance(value, Obj):
        return json.dumps(value, ensure_ascii=False)
    items = [
        f"{json.dumps(k, ensure_ascii=False)}:{_render(v, style, depth + 1)}" for k, v in value
    ]
    # "vendor": the documents' layout, a comma after the last member of data only.
    trailing = style == "everywhere" or (style == "vendor" and depth == 1)
    newline = "" if style == "strict" else "\n"
    tail = "," if trailing and items else ""
    return "{" + newline + f",{newline}".join(items) + tail + newline + "}"


@attrs.frozen
class Case:
    """One answer to judge."""

    operation: str
    checks: frozenset[Check]
    body: bytes
    status: int


@attrs.frozen
class Keys:
    """The keys of one endpoint's documented answer, by what a mutation does to them."""

    statuses: tuple[str, ...]
    scores: tuple[str, ...]
    others: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.statuses, *self.scores, *self.others)


def _weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each as often as its weight (shrinking towards the first)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


BAD_VALUES: Final = (
    st.sampled_from(
        [
            None, True, False, "", "0", "90", "９０", "٩٠", " 90", "NaN", [], [90], {}, {"sim": 90},
            Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e999"), Raw("-1e999"),
            Raw("９０"), Raw("0x5A"), Raw("+90"), Raw(".5"), Raw("90."), Raw("00"),
            Raw("9" * 5000), 10**400, -(10**400), -1, 101, 100.5, -0.001, 1e308, 0.0, -0.0,
        ]
    )
    | st.text(max_size=4)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers()
)  # fmt: skip
NON_ZERO: Final = st.sampled_from(DOCUMENTED_CODES) | st.integers(-(10**6), 10**6)
SCALARS: Final = st.none() | st.booleans() | st.integers() | st.text(max_size=6)
SCORE_EDGES: Final = [0, 70, 71, 75, 75.5, 80, 80.5, 85.5, 86, 100, 0.0, 100.0]
# Above every threshold the rules below use, most of the time: the passing path is common.
SCORES: Final = _weighted(
    (7, st.integers(86, 100) | st.floats(86, 100)),
    (3, st.integers(0, 100) | st.floats(0, 100) | st.sampled_from(SCORE_EDGES)),
)
LIVEDETECTFOUR_KEYS: Final = Keys(
    statuses=("code", "live_status", "compare_status"),
    scores=("sim",),
    others=("message", "data", "live_msg", "compare_msg", "photo"),
)
IDCARDCOMPARE_KEYS: Final = Keys(
    statuses=("code",), scores=("similarity",), others=("message", "data", "session_id")
)


def _members(obj: Obj, key: str) -> Obj:
    """The object holding ``key``: the top level, or ``data`` when it is an object."""
    if key in ("code", "message", "data"):
        return obj
    data = dict(obj).get("data")
    return data if isinstance(data, Obj) else Obj()


# Statuses turned non-zero most often: they decide whether anything may pass at all.
MUTATIONS: Final = _weighted(
    (5, st.just("status")),
    (2, st.just("score")),
    *((1, st.just(kind)) for kind in ("drop", "retype", "duplicate", "extra", "http", "bytes")),
)


@st.composite
def _mutated(draw: st.DrawFn, doc: Obj, keys: Keys) -> tuple[Obj, int, Callable[[bytes], bytes]]:
    """``doc`` after a few mutations, the HTTP status and what happens to its bytes."""
    status, garble = 200, _unchanged
    for _ in range(draw(_weighted((6, st.just(0)), (3, st.just(1)), (1, st.integers(2, 3))))):
        kind = draw(MUTATIONS)
        if kind == "http":
            status = draw(st.sampled_from([201, 400, 404, 413, 429, 500, 502, 503]))
            continue
        if kind == "bytes":
            garble = draw(_garbles())
            continue
        pool = {"status": keys.statuses, "score": keys.scores}.get(kind, keys.all)
        key = draw(st.sampled_from(pool))
        members = _members(doc, key)
        if kind == "drop":
            members[:] = [(k, v) for k, v in members if k != key]
        elif kind == "extra":
            members.append((draw(st.text(max_size=6)), draw(SCALARS)))
        elif kind == "duplicate":
            members.append((key, draw(BAD_VALUES | SCALARS | NON_ZERO)))
        else:
            values = {"status": NON_ZERO, "score": BAD_VALUES}.get(kind, BAD_VALUES | SCALARS)
            value = draw(values)
            members[:] = [(k, value if k == key else v) for k, v in members]
    return doc, status, garble


def _unchanged(body: bytes) -> bytes:
    return body


@st.composite
def _garbles(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    at = draw(st.floats(0, 1))
    byte = bytes([draw(st.integers(0, 255))])
    kind = draw(st.sampled_from(["cut", "insert", "replace", "bom", "latin1", "utf16"]))

    def garble(body: bytes) -> bytes:
        i = int(at * len(body))
        if kind == "cut":
            return body[:i]
        if kind == "insert":
            return body[:i] + byte + body[i:]
        if kind == "replace":
            return body[:i] + byte + body[i + 1 :]
        if kind == "bom":
            return b"\xef\xbb\xbf" + body
        return body.decode().encode("latin-1" if kind == "latin1" else "utf-16", "replace")

    return garble


def _case(
    operation: str, checks: frozenset[Check], doc: Obj, keys: tuple[str, ...]
) -> st.SearchStrategy[Case]:
    def finish(drawn: tuple[tuple[Obj, int, Callable[[bytes], bytes]], str]) -> Case:
        (mutated, status, garble), style = drawn
        return Case(operation, checks, garble(_render(mutated, style).encode()), status)

    return st.tuples(_mutated(doc, keys), st.sampled_from(["strict", "vendor", "everywhere"])).map(
        finish
    )


@st.composite
def livedetectfour_cases(draw: st.DrawFn) -> Case:
    data = Obj(
        [
            ("live_status", 0), ("live_msg", "OK"), ("compare_status", 0), ("compare_msg", "OK"),
            ("sim", draw(SCORES)), ("photo", "xxxx"),
        ]
    )  # fmt: skip
    doc = Obj([("data", data), ("code", 0), ("message", "OK")])
    checks = draw(st.sampled_from([frozenset({LIVE, FACE}), frozenset({LIVE}), frozenset({FACE})]))
    return draw(_case(LIVEDETECTFOUR, checks, doc, LIVEDETECTFOUR_KEYS))


@st.composite
def idcardcompare_cases(draw: st.DrawFn) -> Case:
    data = Obj([("similarity", draw(SCORES)), ("session_id", draw(st.text(max_size=6)))])
    doc = Obj([("data", data), ("code", 0), ("message", "OK")])
    return draw(_case(IDCARDCOMPARE, frozenset({REGISTRY}), doc, IDCARDCOMPARE_KEYS))


# -- the oracle: written from the promises, not from the parser ---------------------------------


def _reference_read(body: bytes) -> Any:
    """The body as an independent reader sees it: UTF-8, the vendor's trailing commas dropped
    (one character at a time, strings skipped), then strict JSON; ``None`` if it is not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    kept: list[str] = []
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "," and text[i + 1 :].lstrip(" \t\r\n")[:1] in ("}", "]"):
            continue
        kept.append(ch)
    try:
        return json.loads("".join(kept), parse_constant=_refuse)
    except (ValueError, RecursionError):
        return None


def _refuse(name: str) -> Any:
    raise ValueError(name)


def _is_zero(value: Any) -> bool:
    return type(value) is int and value == 0


def _text_or_absent(doc: dict[str, Any], key: str) -> bool:
    return key not in doc or isinstance(doc[key], str)


def _trusted(value: Any) -> float | None:
    """The score when it may be trusted: a JSON number (not a boolean), finite, 0..100."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    # Compared as they are: exact for integers of any size; 1e999 reads as infinity.
    return float(value) if 0 <= value <= 100 and math.isfinite(value) else None


@attrs.frozen
class Rules:
    """A policy and where its thresholds lie on Tencent's raw scales."""

    name: str
    pipeline: Pipeline = attrs.field(repr=False)
    sim_above: float  # face_match passes when sim is greater than this
    similarity_above: float  # id_registry_match passes when similarity is greater than this
    by_far: bool  # sim is compared through its FAR: the last bits at the boundary may differ


@attrs.frozen
class Expected:
    """The checks that may pass, and whether exactly those must (false only at a boundary)."""

    passes: frozenset[Check]
    exact: bool = True


NOTHING: Final = Expected(frozenset())


def _above(score: float, threshold: float, by_far: bool) -> tuple[bool, bool]:
    """(passes, certain): FAR arithmetic may round a score a hair above the threshold."""
    return score > threshold, not (by_far and threshold < score <= threshold + 1e-9)


def expected(case: Case, rules: Rules) -> Expected:
    doc = _reference_read(case.body)
    if not 200 <= case.status < 300 or not isinstance(doc, dict):
        return NOTHING
    data = doc.get("data")
    if not (_is_zero(doc.get("code")) and _text_or_absent(doc, "message")) or not isinstance(
        data, dict
    ):
        return NOTHING
    if case.operation == IDCARDCOMPARE:
        score = _trusted(data.get("similarity"))
        if score is None or not score > rules.similarity_above:
            return NOTHING
        return Expected(frozenset({REGISTRY}))
    # An answer with any part that cannot be trusted passes nothing; a non-zero live_status
    # fails every check, whatever follows it.
    if not _is_zero(data.get("live_status")) or not _text_or_absent(data, "live_msg"):
        return NOTHING
    passes, certain = {LIVE} & case.checks, True
    if FACE in case.checks:
        compare = data.get("compare_status")
        if type(compare) is not int or not _text_or_absent(data, "compare_msg"):
            return NOTHING
        if compare == 0:
            score = _trusted(data.get("sim"))
            if score is None:
                return NOTHING
            above, certain = _above(score, rules.sim_above, rules.by_far)
            passes |= {FACE} if above else set()
    return Expected(frozenset(passes), certain)


# -- the properties ----------------------------------------------------------------------------


def _parse_alone(case: Case) -> VendorResult | None:
    """``parse``: a typed result or ``ProtocolError``; any other exception fails the test."""
    request = VendorRequest("tencent_legacy", case.operation, case.checks, "POST", "https://x/y")
    response = VendorResponse(case.status, {"content-type": "application/json"}, case.body)
    try:
        result = parse_response(request, response)
    except ProtocolError:
        return None
    assert isinstance(result, VendorResult)
    return result


def _judge(case: Case, rules: Rules) -> frozenset[Check]:
    _parse_alone(case)
    judged = rules.pipeline.judge(case.operation, case.checks, case.body, case.status)
    want = expected(case, rules)
    passed = judged.passed()
    shown = f"HTTP {case.status} {case.body[:300]!r}"
    assert passed <= want.passes, f"passed {set(passed)} on an answer it cannot trust: {shown}"
    if want.exact:
        assert passed == want.passes, f"only {set(passed)} of {set(want.passes)} passed: {shown}"
    live, face = judged.outcome.readings.get(LIVE), judged.outcome.readings.get(FACE)
    if live and face and live.answer and live.failure and face.answer:
        # The same live_status failed both checks: the same code, the same class.
        assert face.failure == live.failure
    return passed


@pytest.fixture
def all_rules(host: PluginHost, config: VendorConfig, http_client: HttpClient) -> list[Rules]:
    def rules(name: str, sim: float, similarity: float, **settings: Any) -> Rules:
        pipeline = Pipeline(host, config, policy(host, **settings), http_client)
        return Rules(name, pipeline, sim, similarity, "max_far" in settings)

    return [
        # The default max_far 1e-4 (sim 80); similarity at the vendor's recommended 75.
        rules("defaults", 80.0, 75.0, max_far=1e-4),
        rules("far_1e-3", 70.0, 75.0, max_far=1e-3),
        rules("raw", 85.5, 60.25, raw={FACE: 85.5, REGISTRY: 60.25}),
    ]


def _run(cases: st.SearchStrategy[Case], all_rules: list[Rules]) -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=timedelta(milliseconds=100))
    @given(case=cases, rules=st.sampled_from(all_rules))
    def judge_one(case: Case, rules: Rules) -> None:
        seen["examples"] += 1
        seen["passed"] += bool(_judge(case, rules))

    judge_one()
    assert seen["passed"] >= MIN_PASS_SHARE * seen["examples"], seen


def test_livedetectfour_never_passes_what_it_cannot_trust(all_rules: list[Rules]) -> None:
    _run(livedetectfour_cases(), all_rules)


def test_idcardcompare_never_passes_what_it_cannot_trust(all_rules: list[Rules]) -> None:
    _run(idcardcompare_cases(), all_rules)


def test_a_non_zero_live_status_fails_every_check_with_its_own_class(
    all_rules: list[Rules],
) -> None:
    # The answer, generalised: however the comparison came out, liveness decides.
    pipeline = all_rules[0].pipeline

    @settings(max_examples=EXAMPLES // 2, deadline=timedelta(milliseconds=100))
    @given(
        live_status=NON_ZERO.filter(bool),
        compared=st.sampled_from([(0, "OK"), (-4017, "no face"), None]),
        sim=SCORES,
        style=st.sampled_from(["strict", "vendor"]),
    )
    def judge_one(
        live_status: int, compared: tuple[int, str] | None, sim: float, style: str
    ) -> None:
        data = Obj([("live_status", live_status), ("live_msg", "x")])
        if compared is not None:
            data.extend([("compare_status", compared[0]), ("compare_msg", compared[1])])
            data.extend([("sim", sim)] if compared[0] == 0 else [])
        body = _render(Obj([("data", data), ("code", 0), ("message", "OK")]), style).encode()
        both = pipeline.judge(LIVEDETECTFOUR, frozenset({LIVE, FACE}), body)
        live = both.outcome.readings[LIVE].failure
        assert live is not None
        assert live.reason == f"tencent_legacy:{live_status}"
        for judged in (both, pipeline.judge(LIVEDETECTFOUR, frozenset({FACE}), body)):
            assert judged.passed() == frozenset()
            assert judged.outcome.readings[FACE].failure == live
            face, liveness = judged.verdicts[FACE], both.verdicts[LIVE]
            assert (face.verdict, face.error_class) == (liveness.verdict, liveness.error_class)
            assert face.may_fail_over is liveness.may_fail_over

    judge_one()


@settings(max_examples=EXAMPLES, deadline=timedelta(milliseconds=100))
@given(body=st.binary(max_size=200), status=st.sampled_from([200, 404, 429, 500, 503]))
def test_any_bytes_are_a_typed_result_or_a_protocol_error(body: bytes, status: int) -> None:
    for operation, checks in (
        (LIVEDETECTFOUR, frozenset({LIVE, FACE})),
        (IDCARDCOMPARE, frozenset({REGISTRY})),
    ):
        result = _parse_alone(Case(operation, checks, body, status))
        assert result is None or not result.ok  # random bytes are never a successful answer
