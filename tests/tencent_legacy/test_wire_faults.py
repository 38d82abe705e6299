"""Fault injection over real loopback HTTP: every documented code rendered by the simulator and
classified by the plugin, the vendor's internal errors and rate limit, and transport faults."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from kycmux import CallOutcome, Check, ErrorClass, Evidence
from kycmux.simkit import Fault
from kycmux.synthetic import DemoSet, Population
from tencent_legacy.codes import (
    COMPARE_STATUS,
    DOCUMENTED,
    EXPECTED,
    IDCARDCOMPARE_CODES,
    LIVE_STATUS,
)

if TYPE_CHECKING:
    from tencent_legacy.conftest import Wire

BOTH = frozenset({Check.LIVENESS, Check.FACE_MATCH})
REGISTRY = frozenset({Check.ID_REGISTRY_MATCH})
P0001 = Population.default().by_id("P0001")


def _video(demo: DemoSet) -> Evidence:
    return Evidence(
        video=demo["live_video"], digits=demo.digits, reference_photo=demo["card_photo"]
    )


def _photo(demo: DemoSet) -> Evidence:
    return Evidence(selfie=demo["selfie"], id_number=P0001.id_number, id_name=P0001.name)


def _failure_for(outcome: CallOutcome, code: str) -> tuple[ErrorClass, object]:
    """The classification of the code wherever the simulator put it."""
    if code in LIVE_STATUS or code in COMPARE_STATUS:
        check = Check.LIVENESS if code in LIVE_STATUS else Check.FACE_MATCH
        reading = outcome.readings[check]
        assert outcome.failure is None
        assert reading.answer is not None
        assert reading.answer.status == code
        failure = reading.failure
    else:
        assert outcome.result is not None
        assert outcome.result.code == code
        failure = outcome.failure
    assert failure is not None
    assert failure.reason == f"tencent_legacy:{code}"
    return failure.error_class, failure.capture_issue


@pytest.mark.parametrize("code", sorted(DOCUMENTED - {"3"}, key=int))
def test_every_documented_code_end_to_end(wire: Wire, demo: DemoSet, code: str) -> None:
    on_registry = code in IDCARDCOMPARE_CODES
    checks, evidence = (REGISTRY, _photo(demo)) if on_registry else (BOTH, _video(demo))
    outcome = wire.call(checks, evidence, fault=f"vendor_code={code}")
    assert _failure_for(outcome, code) == EXPECTED[code]


def test_code_3_without_the_arrears_message_is_a_bad_request(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(BOTH, _video(demo), fault="vendor_code=3")
    assert outcome.result.message == "bad request"
    assert _failure_for(outcome, "3") == (ErrorClass.REQUEST_INVALID, None)


def test_compare_codes_leave_liveness_passed(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(BOTH, _video(demo), fault="vendor_code=-4010")
    assert outcome.readings[Check.LIVENESS].answer.passed is True


@pytest.mark.parametrize(
    ("checks", "code"), [(BOTH, "213"), (REGISTRY, "-5802")], ids=["livedetectfour", "idcard"]
)
def test_vendor_error_is_213_or_5802(
    wire: Wire, demo: DemoSet, checks: frozenset[Check], code: str
) -> None:
    evidence = _video(demo) if checks is BOTH else _photo(demo)
    outcome = wire.call(checks, evidence, fault="vendor_error")
    assert _failure_for(outcome, code) == (ErrorClass.VENDOR_UNAVAILABLE, None)
    assert outcome.failure.error_class.retryable


def test_rate_limited_fault_is_15(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(BOTH, _video(demo), fault="rate_limited")
    assert _failure_for(outcome, "15") == (ErrorClass.RATE_LIMITED, None)


def test_undocumented_code_gets_the_explicit_default(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(BOTH, _video(demo), fault="vendor_code=-9999")
    assert _failure_for(outcome, "-9999") == (ErrorClass.VENDOR_UNAVAILABLE, None)


def test_http_5xx_without_a_tencent_body(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(BOTH, _video(demo), fault="http_5xx=502")
    assert outcome.http_status == 502
    assert (outcome.failure.error_class, outcome.failure.reason) == (
        ErrorClass.VENDOR_UNAVAILABLE,
        "tencent_legacy:http_502",
    )


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("non_json", "malformed_response"),
        ("reset", "connection_reset"),
        ("truncated", "connection_reset"),  # the body ends before its Content-Length
    ],
)
def test_transport_faults(wire: Wire, demo: DemoSet, fault: str, reason: str) -> None:
    outcome = wire.call(BOTH, _video(demo), fault=fault)
    assert outcome.result is None
    assert (outcome.failure.error_class, outcome.failure.reason) == (
        ErrorClass.VENDOR_UNAVAILABLE,
        reason,
    )
    assert all(r.failure == outcome.failure for r in outcome.readings.values())


def test_hang_until_the_deadline_may_have_been_billed(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(BOTH, _video(demo), fault="hang=5", timeout=0.5)
    assert (outcome.failure.error_class, outcome.failure.reason) == (
        ErrorClass.POSSIBLY_BILLED,
        "read_timeout",
    )
    assert outcome.body_sent


def test_latency_still_answers(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(BOTH, _video(demo), fault="latency=0.05")
    assert outcome.failure is None
    assert outcome.readings[Check.FACE_MATCH].score is not None


def test_fault_window_for_a_count_of_requests(wire: Wire, demo: DemoSet) -> None:
    wire.sim.faults.inject(Fault.parse("rate_limited"), count=1, paths={"/face/livedetectfour"})
    assert wire.call(REGISTRY, _photo(demo)).failure is None  # another path: not affected
    assert wire.call(BOTH, _video(demo)).result.code == "15"
    assert wire.call(BOTH, _video(demo)).failure is None  # the window is used up
    assert wire.sim.stats.faults.get("rate_limited") == 1


def test_fault_window_through_the_control_endpoint(wire: Wire, demo: DemoSet) -> None:
    control = f"{wire.base_url}/__kycmux__/faults"
    with httpx.Client() as client:
        injected = client.post(control, json={"fault": "vendor_error", "duration": None})
        assert injected.status_code == 200
        assert wire.call(BOTH, _video(demo)).result.code == "213"
        assert wire.call(REGISTRY, _photo(demo)).result.code == "-5802"
        assert client.delete(control).json() == {"cleared": 1}
        assert client.get(f"{wire.base_url}/__kycmux__/health").json()["status"] == "ok"
    assert wire.call(BOTH, _video(demo)).failure is None


def test_a_vendor_code_that_is_not_a_number_is_refused(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(BOTH, _video(demo), fault="vendor_code=OUT_OF_QUOTA")
    assert outcome.http_status == 400
    assert outcome.failure.reason == "malformed_response"
