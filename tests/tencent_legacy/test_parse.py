"""Response parsing: the documents' samples verbatim, the document's reading order, and every
malformed shape rejected as a protocol error (never a pass)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kycmux import (
    Check,
    CheckAnswer,
    ErrorClass,
    RawScore,
    VendorConfig,
    VendorHooks,
    VendorRequest,
    VendorResponse,
    VendorResult,
    VendorSpec,
)
from kycmux.exceptions import ProtocolError
from kycmux_tencent_legacy._parse import loads_lenient

VENDOR_DOCS = Path(__file__).resolve().parents[3] / "shared" / "vendor-docs"

# Exactly as printed in the vendor documents (trailing comma after the last member of data).
LIVEDETECTFOUR_SAMPLE = """{
"data":{
"live_status":0,
"live_msg":"OK",
"compare_status":0,
"compare_msg":"OK",
"sim":90,
"photo":"xxxxxxxxxxxxxx",
},
"code":0,
"message":"OK"
}"""
IDCARDCOMPARE_SAMPLE = """{
"data":{
"similarity":100.0,
"session_id":"",
},
"code":0,
"message":"OK"
}"""

BOTH = frozenset({Check.LIVENESS, Check.FACE_MATCH})
Parse = Callable[..., VendorResult]


def _request(operation: str, checks: frozenset[Check]) -> VendorRequest:
    return VendorRequest("tencent_legacy", operation, checks, "POST", f"https://x/face/{operation}")


@pytest.fixture
def parse(hooks: VendorHooks, spec: VendorSpec, config: VendorConfig) -> Parse:
    def run(
        body: str | bytes,
        checks: frozenset[Check] = BOTH,
        operation: str = "livedetectfour",
        status: int = 200,
    ) -> VendorResult:
        raw = body.encode() if isinstance(body, str) else body
        result = hooks.parse(
            vendor=spec,
            request=_request(operation, checks),
            response=VendorResponse(status, {"content-type": "application/json"}, raw),
            config=config,
        )
        assert isinstance(result, VendorResult)
        return result

    return run


def _doc(**data: object) -> str:
    return json.dumps({"data": data, "code": 0, "message": "OK"})


@pytest.mark.parametrize(
    ("document", "sample"),
    [
        ("tencent-livedetectfour.md", LIVEDETECTFOUR_SAMPLE),
        ("tencent-livedetectfour.txt", LIVEDETECTFOUR_SAMPLE),
        ("tencent-idcardcompare.txt", IDCARDCOMPARE_SAMPLE),
    ],
)
def test_samples_here_are_the_documents_verbatim(document: str, sample: str) -> None:
    path = VENDOR_DOCS / document
    if not path.is_file():
        pytest.skip(f"vendor documents not beside the repository ({path})")
    assert sample in path.read_text(encoding="utf-8")


def test_strict_json_rejects_the_samples() -> None:
    with pytest.raises(json.JSONDecodeError, match="property name"):
        json.loads(LIVEDETECTFOUR_SAMPLE)


def test_livedetectfour_sample_parses(parse: Parse) -> None:
    result = parse(LIVEDETECTFOUR_SAMPLE)
    assert (result.ok, result.code, result.message, result.http_status) == (True, "0", "OK", 200)
    assert result.answers[Check.LIVENESS] == CheckAnswer(Check.LIVENESS, True, "0", "OK", True)
    assert result.answers[Check.FACE_MATCH] == CheckAnswer(
        Check.FACE_MATCH, True, "0", "OK", score=RawScore("sim", 90.0)
    )
    assert "photo" not in result.extras  # a face image is personal data: never kept


def test_idcardcompare_sample_parses(parse: Parse) -> None:
    result = parse(IDCARDCOMPARE_SAMPLE, frozenset({Check.ID_REGISTRY_MATCH}), "idcardcompare")
    assert result.ok
    assert result.answers == {
        Check.ID_REGISTRY_MATCH: CheckAnswer(
            Check.ID_REGISTRY_MATCH, True, "0", score=RawScore("similarity", 100.0)
        )
    }
    assert result.extras == {}  # the sample echoes an empty session id


def test_idcardcompare_keeps_the_echoed_session_id(parse: Parse) -> None:
    body = _doc(similarity=80.5, session_id="req-9")
    result = parse(body, frozenset({Check.ID_REGISTRY_MATCH}), "idcardcompare")
    assert result.extras == {"session_id": "req-9"}


def test_liveness_only_request_reads_no_compare_fields(parse: Parse) -> None:
    result = parse(_doc(live_status=0, live_msg="OK"), frozenset({Check.LIVENESS}))
    assert set(result.answers) == {Check.LIVENESS}
    assert result.answers[Check.LIVENESS].passed is True


def test_failed_liveness_without_comparison_fails_both_checks(parse: Parse) -> None:
    result = parse(_doc(live_status=-5016, live_msg="not live"))
    assert result.ok  # the call succeeded; the checks did not
    assert result.answers[Check.LIVENESS] == CheckAnswer(Check.LIVENESS, False, "-5016", "not live")
    assert result.answers[Check.FACE_MATCH] == CheckAnswer(
        Check.FACE_MATCH, False, "-5016", "not live"
    )


def test_failed_comparison_after_liveness(parse: Parse) -> None:
    body = _doc(live_status=0, live_msg="OK", compare_status=-4017, compare_msg="no face")
    result = parse(body)
    assert result.answers[Check.LIVENESS].ok
    assert result.answers[Check.FACE_MATCH] == CheckAnswer(
        Check.FACE_MATCH, False, "-4017", "no face"
    )


FACE_MATCH_ONLY = frozenset({Check.FACE_MATCH})


@pytest.mark.parametrize("checks", [FACE_MATCH_ONLY, BOTH], ids=["face_match", "both"])
@pytest.mark.parametrize("live_status", [-5016, -5011, -5015, -5999])
def test_a_failed_liveness_fails_face_match_whatever_the_comparison_says(
    parse: Parse, checks: frozenset[Check], live_status: int
) -> None:
    # The document: read live_status first, then compare_status, then sim.
    body = _doc(
        live_status=live_status, live_msg="not live", compare_status=0, compare_msg="OK", sim=95
    )
    result = parse(body, checks)
    assert result.ok
    assert result.answers[Check.FACE_MATCH] == CheckAnswer(
        Check.FACE_MATCH, False, str(live_status), "not live"
    )
    assert result.extras == {"live_status": str(live_status)}
    if Check.LIVENESS in checks:
        assert not result.answers[Check.LIVENESS].ok


def test_the_live_status_is_kept_with_every_livedetectfour_answer(parse: Parse) -> None:
    assert parse(LIVEDETECTFOUR_SAMPLE).extras == {"live_status": "0"}
    body = _doc(live_status=0, live_msg="OK", compare_status=-4017, compare_msg="no face")
    assert parse(body, FACE_MATCH_ONLY).extras == {"live_status": "0"}


def test_top_level_error_code_fails_the_call(parse: Parse) -> None:
    result = parse('{"code":14,"message":"signature verification failed",}')
    assert (result.ok, result.code, result.message) == (
        False,
        "14",
        "signature verification failed",
    )
    assert result.answers == {}


def test_error_body_with_an_http_error_status_is_still_read(parse: Parse) -> None:
    result = parse('{"code":23,"message":"request body too large"}', status=413)
    assert (result.ok, result.code, result.http_status) == (False, "23", 413)


@pytest.mark.parametrize(("status", "error_class"), [(502, ErrorClass.VENDOR_UNAVAILABLE),
                                                     (503, ErrorClass.VENDOR_UNAVAILABLE),
                                                     (429, ErrorClass.RATE_LIMITED)])  # fmt: skip
def test_http_errors_without_a_tencent_body(
    parse: Parse,
    hooks: VendorHooks,
    spec: VendorSpec,
    status: int,
    error_class: ErrorClass,
) -> None:
    result = parse(b"<html><body>Bad Gateway</body></html>", status=status)
    assert (result.ok, result.code) == (False, f"http_{status}")
    found = hooks.classify_error(vendor=spec, result=result, check=None, error=None)
    assert found.error_class is error_class
    assert found.reason == f"tencent_legacy:http_{status}"


def test_commas_inside_strings_are_kept() -> None:
    text = b'{"a":"x,}", "b":[1,2,], "c":{"d":"\\",]",},}'
    assert loads_lenient(text) == {"a": "x,}", "b": [1, 2], "c": {"d": '",]'}}


MALFORMED = {
    "not json": "OK",
    "html page": "<html><body>error</body></html>",
    "truncated": LIVEDETECTFOUR_SAMPLE[:60],
    "array": "[1, 2]",
    "code missing": '{"message":"OK","data":{"live_status":0}}',
    "code a string": '{"code":"0","message":"OK","data":{"live_status":0}}',
    "code a boolean": '{"code":false,"message":"OK","data":{"live_status":0}}',
    "message not text": '{"code":0,"message":1,"data":{"live_status":0}}',
    "data missing": '{"code":0,"message":"OK"}',
    "data a list": '{"code":0,"message":"OK","data":[]}',
    "live_status missing": _doc(live_msg="OK", compare_status=0, sim=90),
    "live_status text": _doc(live_status="0", compare_status=0, sim=90),
    "live_status float": _doc(live_status=0.0, compare_status=0, sim=90),
    "compare_status missing": _doc(live_status=0, live_msg="OK"),
    "compare_status text": _doc(live_status=0, compare_status="0", sim=90),
    "sim missing": _doc(live_status=0, compare_status=0),
    "sim null": _doc(live_status=0, compare_status=0, sim=None),
    "sim text": _doc(live_status=0, compare_status=0, sim="90"),
    "sim boolean": _doc(live_status=0, compare_status=0, sim=True),
    "sim above 100": _doc(live_status=0, compare_status=0, sim=101),
    "sim negative": _doc(live_status=0, compare_status=0, sim=-1),
    "sim NaN": '{"code":0,"message":"OK","data":{"live_status":0,"compare_status":0,"sim":NaN}}',
    "sim Infinity": '{"code":0,"data":{"live_status":0,"compare_status":0,"sim":Infinity}}',
    "sim huge": '{"code":0,"data":{"live_status":0,"compare_status":0,"sim":1e999}}',
    "sim a huge integer": _doc(live_status=0, compare_status=0, sim=10**400),
    "sim a huge negative integer": _doc(live_status=0, compare_status=0, sim=-(10**400)),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_livedetectfour_bodies_are_protocol_errors(parse: Parse, body: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse(body)
    assert info.value.vendor == "tencent_legacy"
    assert info.value.http_status == 200


@pytest.mark.parametrize(
    "body",
    [
        _doc(session_id=""),
        _doc(similarity="100.0"),
        _doc(similarity=100.5),
        _doc(similarity=-0.1),
        _doc(similarity=None),
        _doc(similarity=10**400),  # beyond any float: never converted before the range check
    ],
)
def test_malformed_idcardcompare_scores_are_protocol_errors(parse: Parse, body: str) -> None:
    with pytest.raises(ProtocolError, match="similarity"):
        parse(body, frozenset({Check.ID_REGISTRY_MATCH}), "idcardcompare")


def test_success_code_with_an_http_error_status_is_a_protocol_error(parse: Parse) -> None:
    with pytest.raises(ProtocolError):
        parse(LIVEDETECTFOUR_SAMPLE, status=500)


def test_non_utf8_body_is_a_protocol_error(parse: Parse) -> None:
    with pytest.raises(ProtocolError):
        parse(b'{"code":0,"message":"\xff"}')


def test_protocol_errors_never_quote_the_body(parse: Parse) -> None:
    body = _doc(live_status=0, compare_status=0, sim="90", photo="PERSONAL-FACE-IMAGE")
    with pytest.raises(ProtocolError) as info:
        parse(body)
    assert "PERSONAL-FACE-IMAGE" not in str(info.value)
