"""Property-based: whatever Linkface answers, the engine never passes what it cannot trust.

Bodies are built from the documented success and error shapes with optional mutations (fields
dropped, retyped or replaced; scores as numbers or strings, in Unicode digits, with whitespace,
``_``, exponents, NaN text, out of range), plus arbitrary JSON and arbitrary bytes. Each goes
through ``parse`` alone (a typed result or ``ProtocolError``, nothing else) and through the
engine's path (``VendorClient.interpret`` then ``judge`` with ``Policy.threshold``). A pass is
only allowed when an independent oracle trusts the score and it clears the threshold. The test
also counts how many examples passed, so a strategy that never reaches the passing path fails.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, Final

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kycmux import (
    Check,
    Policy,
    VendorConfig,
    VendorHooks,
    VendorRequest,
    VendorResponse,
    VendorResult,
    VendorSpec,
    Verdict,
)
from kycmux.exceptions import ProtocolError
from kycmux_linkface._errors import DOCUMENTED
from kycmux_linkface._number import delay_seconds
from kycmux_linkface._parse import parse_score
from kycmux_linkface._spec import PATH, VERIFY_SCORE
from linkface.pipeline import PipelineFactory, policy

ConfigFactory = Callable[..., VendorConfig]

LIVE, MATCH = Check.LIVENESS, Check.FACE_MATCH
SCORE_OF: Final = {LIVE: "hack_score", MATCH: "verify_score"}
THRESHOLDS: Final = (0.3, 0.5, 0.8)  # liveness_threshold values configured
# verify_score at or above which FAR <= max_far, from the vendor's own table.
FAR_AT: Final = {1e-2: 0.5, 1e-4: 0.7, 1e-6: 0.9}
EXAMPLES: Final = 400
# Floors that catch a strategy which never reaches the path, set well under what 30 seeds gave
# (passes 0.165-0.30, near misses 0.20-0.36): Hypothesis does not draw uniformly, so a floor
# near the mean fails on an unlucky seed.
MIN_PASS_SHARE: Final = 0.08
MIN_NEAR_MISS_SHARE: Final = 0.08  # a 2xx "OK" answer carrying a score not to be trusted


# -- the oracle: written from the promises, not from the parser ----------------------------------

_ASCII_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def trusted(value: Any) -> float | None:
    """The score when kycmux may trust it: a JSON number, or a string in plain ASCII decimal
    notation (no whitespace, no Unicode digits), finite and within 0..1."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not (value.isascii() and _ASCII_DECIMAL.fullmatch(value)):
            return None
        number = float(value)
    elif isinstance(value, int):
        if not 0 <= value <= 1:
            return None
        number = float(value)
    elif isinstance(value, float):
        number = value
    else:
        return None
    return number if math.isfinite(number) and 0.0 <= number <= 1.0 else None


@attrs.frozen
class Rules:
    """One configuration of the decision: the plugin's liveness threshold and the policy."""

    liveness_threshold: float
    max_far: float
    face_raw: float | None
    liveness_raw: float | None

    def policy(self) -> Policy:
        return policy(max_far=self.max_far, face_raw=self.face_raw, liveness_raw=self.liveness_raw)

    def clears(self, check: Check, score: float) -> bool:
        if check is LIVE:
            threshold = self.liveness_threshold if self.liveness_raw is None else self.liveness_raw
            return score < threshold
        bar = FAR_AT[self.max_far] if self.face_raw is None else self.face_raw
        return score >= bar - 1e-9  # FAR interpolation is floating point near the bar


# -- strategies ----------------------------------------------------------------------------------

# The zero of scripts whose digits float() and \d accept.
_ZEROS = (0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0xFF10, 0x1D7CE)
_SPACES = (" ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000")
_WORDS = ("NaN", "nan", "-nan", "inf", "-inf", "Infinity", "1e999", "-0.1", "1.5", "", "½")
_KEYS = ("status", "hack_score", "verify_score", "request_id", "image_id", "reason", "image")

# Both sides of every threshold used below, exactly at it, and anything in between.
_EDGES = (0, 1, 0.0, 0.1, 0.29, 0.3, 0.4999, 0.5, 0.69, 0.7, 0.7999, 0.8, 0.9, 0.95, 1.0)
_in_range = st.one_of(st.floats(0.0, 1.0), st.sampled_from(_EDGES))
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)


@st.composite
def ascii_renderings(draw: st.DrawFn) -> str:
    """A number in 0..1 written as plain ASCII decimal notation."""
    x = float(draw(_in_range))
    form = draw(st.sampled_from(["{!r}", "{:.4f}", "{:e}", "{:E}", "+{!r}", "{:.2f}"]))
    return form.format(x)


@st.composite
def garbled(draw: st.DrawFn) -> str:
    """A rendering that looks like a number to float() or a careless regex, but is not ours."""
    text = draw(ascii_renderings())
    how = draw(st.sampled_from(["digits", "one-digit", "space", "underscore", "word", "text"]))
    if how in ("digits", "one-digit"):
        zero = draw(st.sampled_from(_ZEROS))
        places = [i for i, c in enumerate(text) if c.isdigit()]
        chosen = places if how == "digits" else [draw(st.sampled_from(places))]
        chars = list(text)
        for i in chosen:
            chars[i] = chr(zero + int(chars[i]))
        return "".join(chars)
    if how == "space":
        space = draw(st.sampled_from(_SPACES))
        return draw(st.sampled_from([space + text, text + space, space + text + space]))
    if how == "underscore":
        at = draw(st.integers(1, max(1, len(text) - 1)))
        return text[:at] + "_" + text[at:]
    if how == "word":
        return draw(st.sampled_from(_WORDS))
    return draw(st.text(max_size=10))


_other_values = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400), 2, -1]),
    st.floats(1.0, 1e300, exclude_min=True),
    st.floats(-1e300, 0.0, exclude_max=True),
    st.integers(),
    st.lists(_in_range, max_size=2),
    st.dictionaries(st.text(max_size=3), _in_range, max_size=1),
)


@st.composite
def score_values(draw: st.DrawFn) -> Any:
    # Mostly trustworthy, so that whole answers often are and the passing path is reached.
    kind = draw(st.sampled_from(["number"] * 6 + ["string"] * 6 + ["garbled", "other"]))
    if kind == "number":
        return draw(_in_range)
    if kind == "string":
        return draw(ascii_renderings())
    if kind == "garbled":
        return draw(garbled())
    return draw(_other_values)


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with up to two fields dropped, retyped or replaced."""
    out = dict(body)
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 0, 1, 2]))):
        key = draw(st.sampled_from(_KEYS))
        action = draw(st.sampled_from(["drop", "replace", "status"]))
        if action == "drop":
            out.pop(key, None)
        elif action == "replace":
            out[key] = draw(_json)
        else:
            out["status"] = draw(st.sampled_from(["ok", "OK ", "", "FAILED"]) | _json)
    return out


@st.composite
def success_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body = {
        "request_id": "TID8bf47ab6eda64476973cc5f5b6ebf57e",
        "status": "OK",
        "hack_score": draw(score_values()),
        "verify_score": draw(score_values()),
        "liveness_data_id": "LD1",
        "image_id": "IMG1",
    }
    return draw(mutated(body))


@st.composite
def near_miss_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A documented success answer with one score kycmux must not trust, so that near misses
    are drawn on purpose rather than left to chance (Hypothesis favours simple draws)."""
    body = draw(success_bodies())
    body["status"] = "OK"
    untrusted = st.one_of(garbled(), _other_values).filter(lambda v: trusted(v) is None)
    body[draw(st.sampled_from(sorted(SCORE_OF.values())))] = draw(untrusted)
    return body


@st.composite
def error_bodies(draw: st.DrawFn) -> dict[str, Any]:
    statuses = st.sampled_from([e.status for e in DOCUMENTED]) | st.text(max_size=12)
    body = {"status": draw(statuses), "request_id": "TID1"}
    if draw(st.booleans()):
        body["reason"] = draw(st.text(max_size=20))
    if draw(st.booleans()):
        body["image"] = draw(st.sampled_from(["selfie_file", "selfie_url\n"]) | st.text())
    return draw(mutated(body))


@attrs.frozen
class Exchange:
    """One drawn answer and the decision setting it is judged under."""

    checks: frozenset[Check]
    response: VendorResponse
    body: Any  # the decoded JSON when the body was built as JSON, else None
    rules: Rules


_LISTED_HTTP = (201, 204, 302, 400, 401, 403, 404, 429, 500, 502, 503)


@st.composite
def http_statuses(draw: st.DrawFn) -> int:
    kind = draw(st.sampled_from(["ok"] * 9 + ["listed", "any"]))
    if kind == "ok":
        return 200
    if kind == "listed":
        return draw(st.sampled_from(_LISTED_HTTP))
    return draw(st.integers(100, 599))


@st.composite
def exchanges(draw: st.DrawFn) -> Exchange:
    kind = draw(st.sampled_from(["success"] * 10 + ["near"] * 2 + ["error", "json", "bytes"]))
    body: Any = None
    if kind == "bytes":
        raw = draw(st.binary(max_size=64))
    else:
        strategies = {
            "success": success_bodies(),
            "near": near_miss_bodies(),
            "error": error_bodies(),
            "json": _json,
        }
        body = strategies[kind]
        body = draw(body)
        raw = json.dumps(body, ensure_ascii=draw(st.booleans())).encode()
    headers = {"content-type": "application/json"}
    if draw(st.booleans()):
        headers["retry-after"] = draw(st.sampled_from(["2", "1.5", "\u0662", " 2"]) | st.text())
    status = 200 if kind == "near" else draw(http_statuses())
    response = VendorResponse(status, headers, raw)
    rules = Rules(
        liveness_threshold=draw(st.sampled_from(THRESHOLDS)),
        max_far=draw(st.sampled_from(sorted(FAR_AT))),
        face_raw=draw(st.sampled_from([None, None, 0.5, 0.7, 0.9])),
        liveness_raw=draw(st.sampled_from([None, None, 0.3, 0.5])),
    )
    both = frozenset({LIVE, MATCH})
    checks = draw(st.sampled_from([both, both, both, frozenset({LIVE}), frozenset({MATCH})]))
    return Exchange(checks, response, body, rules)


def request_for(checks: frozenset[Check]) -> VendorRequest:
    return VendorRequest(
        "linkface", "liveness_selfie_verification", checks, "POST", "https://x.invalid" + PATH
    )


# -- the property --------------------------------------------------------------------------------


def test_no_answer_kycmux_cannot_trust_ever_passes(
    hooks: VendorHooks,
    spec: VendorSpec,
    make_config: ConfigFactory,
    pipeline: PipelineFactory,
) -> None:
    configs = {t: make_config(liveness_threshold=t) for t in THRESHOLDS}
    paths = {t: pipeline(c) for t, c in configs.items()}
    passes: list[bool] = []
    near_misses: list[bool] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=100,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(exchanges())
    def examine(drawn: Exchange) -> None:
        request = request_for(drawn.checks)
        config = configs[drawn.rules.liveness_threshold]
        try:
            result = hooks.parse(
                vendor=spec, request=request, response=drawn.response, config=config
            )
        except ProtocolError:
            pass  # typed: the engine treats it as a malformed answer
        else:
            assert isinstance(result, VendorResult)
            retry_after = result.extras.get("retry_after")
            assert retry_after is None or (retry_after.isascii() and float(retry_after) >= 0)
        path = paths[drawn.rules.liveness_threshold]
        outcome = path.interpret(request, drawn.response)
        verdicts = path.judge(outcome, drawn.rules.policy())
        assert set(verdicts) == drawn.checks
        passed = [c for c, v in verdicts.items() if v.verdict is Verdict.PASS]
        for check in passed:
            why_passed(drawn, check)
        passes.append(bool(passed))
        near_misses.append(near_miss(drawn))

    examine()
    share = sum(passes) / len(passes)
    assert share >= MIN_PASS_SHARE, f"only {share:.0%} of {len(passes)} examples reached a pass"
    share = sum(near_misses) / len(near_misses)
    assert share >= MIN_NEAR_MISS_SHARE, f"only {share:.0%} of the examples were near misses"


def near_miss(drawn: Exchange) -> bool:
    """An answer one untrusted score away from the passing path."""
    body = drawn.body
    return (
        200 <= drawn.response.status_code < 300
        and isinstance(body, dict)
        and body.get("status") == "OK"
        and any(name in body and trusted(body[name]) is None for name in SCORE_OF.values())
    )


def why_passed(drawn: Exchange, check: Check) -> None:
    """A pass is allowed only for a 2xx ``"OK"`` answer whose every score is trusted (the
    vendor's answer is read whole) and whose score for ``check`` clears the threshold."""
    status = drawn.response.status_code
    assert 200 <= status < 300, f"{check} passed under HTTP {status}"
    body = drawn.body
    assert isinstance(body, dict), f"{check} passed on a body that is not a JSON object"
    assert body.get("status") == "OK", f"{check} passed with status {body.get('status')!r}"
    for name in SCORE_OF.values():
        if name in body:
            assert trusted(body[name]) is not None, f"{check} passed with {name}={body[name]!r}"
    score = trusted(body.get(SCORE_OF[check]))
    assert score is not None, f"{check} passed without a score"
    assert drawn.rules.clears(check, score), f"{check} passed at {score!r} under {drawn.rules}"


@given(st.one_of(score_values(), garbled(), _json, st.text()))
def test_parse_score_accepts_exactly_what_the_oracle_trusts(value: Any) -> None:
    try:
        number = parse_score(value, VERIFY_SCORE)
    except ProtocolError:
        assert trusted(value) is None
    else:
        assert number == trusted(value)
        assert isinstance(number, float)


@given(st.one_of(ascii_renderings(), garbled(), st.text(max_size=12)))
def test_retry_after_is_read_as_ascii_decimal_only(text: str) -> None:
    seconds = delay_seconds(text)
    if seconds is not None:
        assert text.isascii()
        assert _ASCII_DECIMAL.fullmatch(text)
        assert math.isfinite(seconds)
        assert seconds >= 0
