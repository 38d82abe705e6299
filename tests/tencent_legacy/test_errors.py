"""Error classification: every documented code from one table, and the explicit defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kycmux import (
    CaptureIssue,
    Check,
    CheckAnswer,
    Classification,
    ErrorClass,
    VendorHooks,
    VendorRequest,
    VendorResponse,
    VendorResult,
    VendorSpec,
)
from kycmux.exceptions import ProtocolError
from kycmux_tencent_legacy._errors import CODES, CodeRow, Site
from tencent_legacy.codes import DOCUMENTED, EXPECTED

E, C = ErrorClass, CaptureIssue

VENDOR_DOCS = Path(__file__).resolve().parents[3] / "shared" / "vendor-docs"


def _documented_codes() -> set[str]:
    md = (VENDOR_DOCS / "tencent-livedetectfour.md").read_text(encoding="utf-8")
    codes = set(re.findall(r"^\| (-?\d+) \|", md, flags=re.MULTILINE))
    for name in ("tencent-livedetectfour.txt", "tencent-idcardcompare.txt"):
        text = (VENDOR_DOCS / name).read_text(encoding="utf-8")
        table = text.rsplit("错误码\n含义\n", 1)[1]
        codes |= set(re.findall(r"^(-?\d+)$", table, flags=re.MULTILINE))
    return codes


def test_the_documents_list_exactly_these_codes() -> None:
    if not VENDOR_DOCS.is_dir():
        pytest.skip(f"vendor documents not beside the repository ({VENDOR_DOCS})")
    assert _documented_codes() == DOCUMENTED


def test_the_table_covers_every_documented_code_once_per_meaning() -> None:
    codes = [row.code for row in CODES if not row.code.startswith("http_")]
    assert set(codes) == DOCUMENTED
    assert codes.count("3") == 2  # account abnormal, and plain bad request
    assert len(codes) == len(DOCUMENTED) + 1


def test_capture_issues_exactly_where_the_class_needs_one() -> None:
    for row in CODES:
        assert (row.capture_issue is not None) == (row.error_class is E.CAPTURE_UNUSABLE), row


def _failed_call(code: str, message: str = "") -> VendorResult:
    return VendorResult("tencent_legacy", "livedetectfour", 200, False, code, message)


def _classify(
    hooks: VendorHooks, spec: VendorSpec, result: VendorResult, check: Check | None = None
) -> Classification:
    found = hooks.classify_error(vendor=spec, result=result, check=check, error=None)
    assert isinstance(found, Classification)
    return found


@pytest.mark.parametrize("code", EXPECTED)
def test_every_documented_code_at_top_level(
    hooks: VendorHooks, spec: VendorSpec, code: str
) -> None:
    found = _classify(hooks, spec, _failed_call(code, "whatever the vendor says"))
    assert (found.error_class, found.capture_issue) == EXPECTED[code]
    assert found.reason == f"tencent_legacy:{code}"


@pytest.mark.parametrize(
    ("message", "error_class"),
    [
        ("account abnormal,errorno is:2", E.ACCOUNT_UNAVAILABLE),
        ("ACCOUNT ABNORMAL,errorno is:2", E.ACCOUNT_UNAVAILABLE),
        ("bad request", E.REQUEST_INVALID),
        ("", E.REQUEST_INVALID),
    ],
)
def test_code_3_depends_on_the_message(
    hooks: VendorHooks, spec: VendorSpec, message: str, error_class: ErrorClass
) -> None:
    found = _classify(hooks, spec, _failed_call("3", message))
    assert (found.error_class, found.reason) == (error_class, "tencent_legacy:3")


def _answered(check: Check, status: str, message: str = "") -> VendorResult:
    answer = CheckAnswer(check, False, status, message)
    return VendorResult("tencent_legacy", "livedetectfour", 200, True, "0", answers={check: answer})


@pytest.mark.parametrize(
    "row", [r for r in CODES if r.site is not Site.TOP], ids=lambda r: f"{r.site}:{r.code}"
)
def test_per_check_statuses_use_the_same_table(
    hooks: VendorHooks, spec: VendorSpec, row: CodeRow
) -> None:
    check = Check.LIVENESS if row.site is Site.LIVE else Check.FACE_MATCH
    found = _classify(hooks, spec, _answered(check, row.code), check)
    assert (found.error_class, found.capture_issue) == EXPECTED[row.code]


def test_a_face_match_failed_by_liveness_is_classified_by_the_liveness_code(
    hooks: VendorHooks, spec: VendorSpec
) -> None:
    found = _classify(hooks, spec, _answered(Check.FACE_MATCH, "-5016"), Check.FACE_MATCH)
    assert (found.error_class, found.reason) == (E.NOT_LIVE, "tencent_legacy:-5016")


def _parsed(
    hooks: VendorHooks, spec: VendorSpec, checks: frozenset[Check], **data: object
) -> VendorResult:
    """What the plugin's own parse makes of a livedetectfour answer with these ``data``."""
    body = json.dumps({"data": data, "code": 0, "message": "OK"}).encode()
    request = VendorRequest("tencent_legacy", "livedetectfour", checks, "POST", "https://x/y")
    response = VendorResponse(200, {"content-type": "application/json"}, body)
    result = hooks.parse(vendor=spec, request=request, response=response, config=None)
    assert isinstance(result, VendorResult)
    return result


FACE_MATCH_ONLY = frozenset({Check.FACE_MATCH})
COMPARED = {"compare_status": 0, "compare_msg": "OK", "sim": 95}


@pytest.mark.parametrize("compared", [COMPARED, {}], ids=["compared", "not_compared"])
@pytest.mark.parametrize(
    ("live_status", "error_class", "issue"),
    [
        (-5016, E.NOT_LIVE, None),
        (-5011, E.NOT_LIVE, None),
        (-5015, E.CAPTURE_UNUSABLE, C.LOW_RESOLUTION),
        (-5999, E.NOT_LIVE, None),  # undocumented: the liveness default, not the compare one
        (7, E.NOT_LIVE, None),
    ],
)
def test_a_face_match_failed_by_live_status_is_classified_as_liveness(
    hooks: VendorHooks,
    spec: VendorSpec,
    compared: dict[str, object],
    live_status: int,
    error_class: ErrorClass,
    issue: CaptureIssue | None,
) -> None:
    result = _parsed(hooks, spec, FACE_MATCH_ONLY, live_status=live_status, **compared)
    found = _classify(hooks, spec, result, Check.FACE_MATCH)
    assert (found.error_class, found.capture_issue) == (error_class, issue)
    assert found.reason == f"tencent_legacy:{live_status}"


def test_an_undocumented_compare_status_keeps_the_compare_default(
    hooks: VendorHooks, spec: VendorSpec
) -> None:
    result = _parsed(hooks, spec, FACE_MATCH_ONLY, live_status=0, compare_status=-4999)
    found = _classify(hooks, spec, result, Check.FACE_MATCH)
    assert (found.error_class, found.capture_issue) == (E.CAPTURE_UNUSABLE, C.OTHER)
    assert found.reason == "tencent_legacy:-4999"


@pytest.mark.parametrize(
    ("check", "error_class", "issue"),
    [
        (None, E.VENDOR_UNAVAILABLE, None),
        (Check.LIVENESS, E.NOT_LIVE, None),  # the document files other liveness errors as -5011
        (Check.FACE_MATCH, E.CAPTURE_UNUSABLE, C.OTHER),
    ],
)
def test_unknown_codes_get_the_explicit_defaults(
    hooks: VendorHooks,
    spec: VendorSpec,
    check: Check | None,
    error_class: ErrorClass,
    issue: CaptureIssue | None,
) -> None:
    result = _failed_call("-9999") if check is None else _answered(check, "-9999")
    found = _classify(hooks, spec, result, check)
    assert (found.error_class, found.capture_issue) == (error_class, issue)
    assert found.reason == "tencent_legacy:-9999"


def test_transport_errors_are_left_to_core(hooks: VendorHooks, spec: VendorSpec) -> None:
    error = ProtocolError("tencent_legacy", "not JSON")
    found = hooks.classify_error(vendor=spec, result=None, check=None, error=error)
    assert (found.error_class, found.reason) == (E.VENDOR_UNAVAILABLE, "malformed_response")


def test_the_docs_error_table_is_the_plugins_table() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "vendors" / "tencent_legacy.md"
    rows = re.findall(
        r"^\| (-?\d+) \| .+? \| `(\w+)` \| `(\w+)` \| `?([\w-]+)`? \|$",
        page.read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    documented = [
        (code, site, error_class, None if issue == "-" else issue)
        for code, site, error_class, issue in rows
    ]
    sites = {Site.TOP: "code", Site.LIVE: "live_status", Site.COMPARE: "compare_status"}
    expected = [
        (r.code, sites[r.site], r.error_class.value, r.capture_issue and r.capture_issue.value)
        for r in CODES
        if not r.code.startswith("http_")
    ]
    assert documented == expected
