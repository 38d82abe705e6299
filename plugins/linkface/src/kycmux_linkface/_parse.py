"""Reading the vendor's answer: scores as numbers or numeric strings, errors by ``status``.

A malformed answer raises ``ProtocolError`` and is never a pass. Error bodies and non-JSON
error pages become a failed ``VendorResult`` for ``classify_error`` to place.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Final, NoReturn

from kycmux import (
    Check,
    CheckAnswer,
    RawScore,
    ScoreSpec,
    Threshold,
    VendorConfig,
    VendorRequest,
    VendorResponse,
    VendorResult,
)
from kycmux.exceptions import ProtocolError
from kycmux_linkface._errors import DOCUMENTED
from kycmux_linkface._number import ascii_decimal, delay_seconds
from kycmux_linkface._settings import Settings
from kycmux_linkface._spec import HACK_SCORE, VENDOR, VERIFY_SCORE

__all__ = ["parse", "parse_score"]

_OK: Final = "OK"
# fullmatch: "$" would also match before a trailing newline, letting "selfie_file\n" through.
_FIELD_NAME: Final = re.compile(r"[a-z][a-z_]{0,39}", re.ASCII)
_ID_FIELDS: Final = ("liveness_data_id", "image_id")
_MEANINGS: Final = {e.status: e.meaning for e in DOCUMENTED}
_MAX_MESSAGE: Final = 200
_SCORE_FOR: Final = {Check.LIVENESS: HACK_SCORE, Check.FACE_MATCH: VERIFY_SCORE}


def _fail(detail: str, status: int) -> NoReturn:
    raise ProtocolError(VENDOR, detail, http_status=status)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"non-standard JSON constant {name}")


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one (HTML error page, empty...)."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: the decoder recurses, and deep enough nesting ("[[[[…") exhausts it.
        return None
    return value if isinstance(value, dict) else None


def parse_score(value: Any, spec: ScoreSpec, http_status: int = 200) -> float:
    """A score given as a JSON number or a numeric string, finite and within its range."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        _fail(f"{spec.name} is not a number", http_status)
    if isinstance(value, str):
        parsed = ascii_decimal(value)
        if parsed is None:
            _fail(f"{spec.name} is not a numeric string", http_status)
        value = parsed
    # JSON integers are exact: compare before float(), which raises OverflowError past 1e308.
    if isinstance(value, int) and not spec.low <= value <= spec.high:
        _fail(f"{spec.name} is outside {spec.low:g}..{spec.high:g}", http_status)
    number = float(value)
    if not math.isfinite(number):
        _fail(f"{spec.name} is not finite", http_status)
    if not spec.in_range(number):
        _fail(f"{spec.name} is outside {spec.low:g}..{spec.high:g}", http_status)
    return number


def _optional_text(body: Mapping[str, Any], key: str, http_status: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        _fail(f"{key} is not a string", http_status)
    return value


def _clean(text: str) -> str:
    """A vendor message fit for a record: no control characters, bounded length."""
    kept = "".join(c for c in text if not unicodedata.category(c).startswith("C"))
    return kept[:_MAX_MESSAGE]


def _retry_after(headers: Mapping[str, str]) -> dict[str, str]:
    # The header's value as the HTTP layer gives it (optional whitespace already removed).
    text = headers.get("retry-after", "")
    return {} if delay_seconds(text) is None else {"retry_after": text}


def _http_failure(request: VendorRequest, response: VendorResponse) -> VendorResult:
    return VendorResult(
        vendor=VENDOR,
        operation=request.operation,
        http_status=response.status_code,
        ok=False,
        code=f"HTTP_{response.status_code}",
        extras=_retry_after(response.headers),
    )


def _status_failure(
    request: VendorRequest, response: VendorResponse, body: Mapping[str, Any], status: str
) -> VendorResult:
    http_status = response.status_code
    reason = _optional_text(body, "reason", http_status)
    image = body.get("image")
    extras = _retry_after(response.headers)
    # ``image`` names the request field at fault; anything else is not kept (it could be data).
    if isinstance(image, str) and _FIELD_NAME.fullmatch(image):
        extras["image"] = image
    return VendorResult(
        vendor=VENDOR,
        operation=request.operation,
        http_status=http_status,
        ok=False,
        code=status,
        message=_clean(reason) if reason else _MEANINGS.get(status, ""),
        request_id=_optional_text(body, "request_id", http_status),
        extras=extras,
    )


def _answers(
    checks: frozenset[Check], body: Mapping[str, Any], settings: Settings
) -> dict[Check, CheckAnswer]:
    scores = {}
    for check, spec in _SCORE_FOR.items():
        if spec.name in body:
            scores[check] = parse_score(body[spec.name], spec)
        elif check in checks:
            _fail(f"{spec.name} is missing", 200)
    answers = {}
    for check in checks:
        raw = RawScore(_SCORE_FOR[check].name, scores[check])
        passed = _live(raw, settings) if check is Check.LIVENESS else None
        answers[check] = CheckAnswer(check, ok=True, status=_OK, passed=passed, score=raw)
    return answers


def _live(hack: RawScore, settings: Settings) -> bool:
    """The liveness verdict: ``hack_score`` against ``liveness_threshold``.

    Decided by core's ``Threshold`` under ``HACK_SCORE``'s declared comparison, the very rule a
    policy's raw threshold on ``hack_score`` applies, so the two can never disagree at a tie.
    """
    threshold = Threshold("raw", raw=settings.liveness_threshold)
    return threshold.passes(HACK_SCORE.normalize(hack))


def _success(
    request: VendorRequest, response: VendorResponse, body: Mapping[str, Any], settings: Settings
) -> VendorResult:
    extras = {
        key: value
        for key in _ID_FIELDS
        if (value := _optional_text(body, key, response.status_code)) is not None
    }
    return VendorResult(
        vendor=VENDOR,
        operation=request.operation,
        http_status=response.status_code,
        ok=True,
        code=_OK,
        request_id=_optional_text(body, "request_id", response.status_code),
        answers=_answers(request.checks, body, settings),
        extras=extras,
    )


def parse(request: VendorRequest, response: VendorResponse, config: VendorConfig) -> VendorResult:
    """Read one ``liveness_selfie_verification`` response."""
    settings = Settings.from_config(config)
    http_status = response.status_code
    body = _json_object(response.body)
    success_status = 200 <= http_status < 300
    if body is None:
        if success_status:
            _fail("body is not a JSON object", http_status)
        return _http_failure(request, response)
    status = body.get("status")
    if not isinstance(status, str) or not status:
        if success_status:
            _fail("status is missing or not a string", http_status)
        # A JSON error from something in front of the vendor (a gateway), not the vendor.
        return _http_failure(request, response)
    if status != _OK:
        return _status_failure(request, response, body, status)
    if not success_status:
        _fail(f"status OK with HTTP {http_status}", http_status)
    return _success(request, response, body, settings)
