"""Reading Tencent legacy responses, including the trailing commas of the vendor's samples.

The documents print responses such as ``{"data":{..., "photo":"xxxx",}, "code":0, ...}``:
the service evidently emits a comma before a closing brace, which strict JSON rejects. A body
that is not strict JSON gets the commas that stand directly before ``}`` or ``]`` outside
strings dropped, in one linear pass, and is parsed strictly again (no ``NaN``/``Infinity``).
Anything else that is not the documented shape is a ``ProtocolError``: a malformed answer is
never a pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from kycmux import (
    Challenge,
    ChallengeKind,
    Check,
    CheckAnswer,
    RawScore,
    ScoreSpec,
    VendorRequest,
    VendorResponse,
    VendorResult,
)
from kycmux.exceptions import ProtocolError
from kycmux_tencent_legacy._errors import HTTP_CODE_PREFIX, LIVE_STATUS
from kycmux_tencent_legacy._spec import (
    CHALLENGE,
    LIVEDETECTFOUR,
    SIM_SCORE,
    SIMILARITY_SCORE,
    VENDOR,
)

__all__ = ["loads_lenient", "parse_challenge", "parse_response"]

# A JSON string (skipped unchanged), or a comma followed only by JSON whitespace and a closer.
# The string's closing quote is optional, so a string that never ends is consumed to the end
# of the body in one pass: were the quote required, every quote inside such a string would
# start another scan to the end, quadratic in the body. The unended string stays in the text
# and strict parsing then rejects it. The alternatives of the string body cannot overlap, so
# no match backtracks.
_STRING_OR_TRAILING_COMMA = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|,(?=[ \t\r\n]*[}\]])', re.DOTALL)


def _keep_strings(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if text.startswith('"') else ""


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _strict(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        # The decoder recurses per nesting level; no Tencent answer nests more than twice.
        raise ValueError("JSON nested too deeply") from None


def loads_lenient(body: bytes) -> Any:
    """Parse JSON that may carry trailing commas; ``ValueError`` for anything else invalid.

    Time is linear in the body: strict JSON is read once, and otherwise one pass drops the
    trailing commas before a second strict read.
    """
    text = body.decode("utf-8")
    try:
        return _strict(text)
    except ValueError:
        pass  # the vendor's trailing commas, or not JSON at all: the second read tells
    return _strict(_STRING_OR_TRAILING_COMMA.sub(_keep_strings, text))


def _fail(detail: str, response: VendorResponse) -> NoReturn:
    raise ProtocolError(VENDOR, detail, http_status=response.status_code)


def _document(response: VendorResponse) -> Mapping[str, Any] | None:
    try:
        doc = loads_lenient(response.body)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    if not isinstance(doc, Mapping):
        _fail("top level is not a JSON object", response)
    return doc


def _int(doc: Mapping[str, Any], key: str, response: VendorResponse) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(f"{key} is missing or not an integer", response)
    return value


def _text(doc: Mapping[str, Any], key: str, response: VendorResponse) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        _fail(f"{key} is not a string", response)
    return value


def _score(data: Mapping[str, Any], spec: ScoreSpec, response: VendorResponse) -> RawScore:
    value = data.get(spec.name)
    if value is None:
        _fail(f"score {spec.name} is missing", response)
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(f"score {spec.name} is not a number", response)
    # Compared before converting: exact for integers too large for a float, false for NaN.
    if not spec.low <= value <= spec.high:
        _fail(f"score {spec.name} is outside [{spec.low:g}, {spec.high:g}]", response)
    return RawScore(spec.name, float(value))


def _compare_answer(
    data: Mapping[str, Any], live_status: int, live_msg: str, response: VendorResponse
) -> CheckAnswer:
    if live_status != 0:
        # The document reads live_status first: a face that is not live matches nobody,
        # whatever compare_status and sim say (the service may compare anyway).
        return CheckAnswer(Check.FACE_MATCH, False, str(live_status), live_msg)
    if "compare_status" not in data:
        _fail("compare_status is missing although compare_flag was true", response)
    status = _int(data, "compare_status", response)
    message = _text(data, "compare_msg", response)
    if status != 0:
        return CheckAnswer(Check.FACE_MATCH, False, str(status), message)
    score = _score(data, SIM_SCORE, response)
    return CheckAnswer(Check.FACE_MATCH, True, "0", message, score=score)


_Read = tuple[dict[Check, CheckAnswer], dict[str, str]]


def _livedetectfour(
    request: VendorRequest, data: Mapping[str, Any], response: VendorResponse
) -> _Read:
    """The answers and extras of livedetectfour, read in the document's order: live_status,
    then compare_status, then sim."""
    live_status = _int(data, LIVE_STATUS, response)
    live_msg = _text(data, "live_msg", response)
    answers: dict[Check, CheckAnswer] = {}
    if Check.LIVENESS in request.checks:
        live = live_status == 0
        answers[Check.LIVENESS] = CheckAnswer(
            Check.LIVENESS, live, str(live_status), live_msg, passed=True if live else None
        )
    if Check.FACE_MATCH in request.checks:
        answers[Check.FACE_MATCH] = _compare_answer(data, live_status, live_msg, response)
    # Kept so that a check failed by it is classified by where its code came from.
    return answers, {LIVE_STATUS: str(live_status)}


def _idcardcompare(data: Mapping[str, Any], response: VendorResponse) -> _Read:
    score = _score(data, SIMILARITY_SCORE, response)
    answer = CheckAnswer(Check.ID_REGISTRY_MATCH, True, "0", score=score)
    session = data.get("session_id")
    extras = {"session_id": session} if isinstance(session, str) and session else {}
    return {Check.ID_REGISTRY_MATCH: answer}, extras


def _without_body(request: VendorRequest, response: VendorResponse) -> VendorResult:
    status = response.status_code
    if status < 500 and status != 429:
        _fail("body is not JSON", response)
    # An overloaded front end answers with its own error page, not a Tencent body.
    return VendorResult(
        vendor=VENDOR,
        operation=request.operation,
        http_status=status,
        ok=False,
        code=f"{HTTP_CODE_PREFIX}{status}",
        message=f"HTTP {status} without a Tencent JSON body",
    )


def _success(
    request: VendorRequest, response: VendorResponse
) -> tuple[Mapping[str, Any], str] | VendorResult:
    """A successful answer's ``data`` object and message, or the failed call's result (its
    code and message); ``ProtocolError`` for anything malformed. Every operation reads so."""
    doc = _document(response)
    if doc is None:
        return _without_body(request, response)
    code = _int(doc, "code", response)
    message = _text(doc, "message", response)
    if code != 0:
        return VendorResult(
            VENDOR, request.operation, response.status_code, False, str(code), message
        )
    if not 200 <= response.status_code < 300:
        _fail(f"code 0 with HTTP status {response.status_code}", response)
    data = doc.get("data")
    if not isinstance(data, Mapping):
        _fail("data is missing or not an object", response)
    return data, message


def parse_response(request: VendorRequest, response: VendorResponse) -> VendorResult:
    """The typed result of one Tencent answer; ``ProtocolError`` for anything malformed."""
    read = _success(request, response)
    if isinstance(read, VendorResult):
        return read
    data, message = read
    if request.operation == LIVEDETECTFOUR:
        answers, extras = _livedetectfour(request, data, response)
    else:
        answers, extras = _idcardcompare(data, response)
    return VendorResult(
        vendor=VENDOR,
        operation=request.operation,
        http_status=response.status_code,
        ok=True,
        code="0",
        message=message,
        answers=answers,
        extras=extras,
    )


def _digits(data: Mapping[str, Any], response: VendorResponse) -> str:
    value = data.get("validate_data")
    # The documents show four digits ("9532"); any short run of ASCII digits is read.
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()):
        _fail("validate_data is missing or not digits", response)
    if not 1 <= len(value) <= 16:
        _fail("validate_data is not 1-16 digits", response)
    return value


def parse_challenge(
    request: VendorRequest, response: VendorResponse, issued_at: float, vendor: str = VENDOR
) -> Challenge | VendorResult:
    """livegetfour's answer: the digits as a ``Challenge`` living ``CHALLENGE.ttl`` seconds
    from ``issued_at``, or the failed call's code; ``ProtocolError`` for anything malformed."""
    read = _success(request, response)
    if isinstance(read, VendorResult):
        return read
    data, _message = read
    return Challenge(
        vendor=vendor,
        kind=ChallengeKind.DIGITS,
        value=_digits(data, response),
        issued_at=issued_at,
        expires_at=issued_at + CHALLENGE.ttl,
    )
