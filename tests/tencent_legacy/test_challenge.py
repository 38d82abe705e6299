"""livegetfour, the lip-reading challenge: building, signing and reading it (pure and over a
MockTransport), validate_data from the challenge, and the simulator's ledger over loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kycmux_tencent_legacy as plugin
from kycmux import (
    AttemptContext,
    CallOutcome,
    CaptureIssue,
    Challenge,
    ChallengeKind,
    Check,
    ErrorClass,
    Evidence,
    HttpClient,
    PluginHost,
    VendorClient,
    VendorConfig,
    VendorHooks,
    VendorRequest,
    VendorResponse,
    VendorResult,
    VendorSpec,
)
from kycmux.exceptions import InvalidEvidenceError, ProtocolError
from kycmux.synthetic import VideoTruth, write_video
from kycmux_tencent_legacy._sim import TencentSimulator
from kycmux_tencent_legacy._sim._challenges import Ledger, Redeemed
from kycmux_tencent_legacy._spec import CHALLENGE, DEFAULT_CHALLENGE_TTL
from tencent_legacy.conftest import APPID, FIXED_NOW, ConfigFactory

if TYPE_CHECKING:
    from tencent_legacy.conftest import Wire

LIVENESS = frozenset({Check.LIVENESS})
BOTH = frozenset({Check.LIVENESS, Check.FACE_MATCH})


def _challenge(
    digits: str = "9532", *, issued_at: float = FIXED_NOW, ttl: float = 300.0
) -> Challenge:
    return Challenge(
        vendor="tencent_legacy",
        kind=ChallengeKind.DIGITS,
        value=digits,
        issued_at=issued_at,
        expires_at=issued_at + ttl,
    )


# --- the spec and the pure hooks -------------------------------------------------------------


def test_the_spec_declares_livegetfour_for_both_livedetectfour_checks(spec: VendorSpec) -> None:
    assert spec.challenge == CHALLENGE
    assert spec.challenge.operation == "livegetfour"
    assert spec.challenge.checks == BOTH
    assert spec.challenge.opt_in == "allow_caller_digits"
    assert spec.challenged([Check.ID_REGISTRY_MATCH]) == frozenset()


def test_livegetfour_request_is_json_with_appid_bucket_and_seq(
    hooks: VendorHooks, spec: VendorSpec, config: VendorConfig, context: AttemptContext
) -> None:
    request = hooks.build_challenge_request(vendor=spec, config=config, context=context)
    assert isinstance(request, VendorRequest)
    assert (request.method, request.operation, request.checks) == (
        "POST",
        "livegetfour",
        frozenset(),
    )
    assert request.url.endswith("/face/livegetfour")
    assert dict(request.json or {}) == {"appid": APPID, "bucket": "", "seq": "req-0001"}
    assert not request.fields
    assert not request.files
    signed = hooks.sign(vendor=spec, request=request, config=config, context=context)
    assert isinstance(signed, VendorRequest)
    assert [name for name, _ in signed.headers] == ["Authorization"]


def _answer(body: bytes, status: int = 200) -> VendorResponse:
    return VendorResponse(status, {"content-type": "application/json"}, body)


def _parse(
    hooks: VendorHooks, spec: VendorSpec, config: VendorConfig, body: bytes, status: int = 200
) -> Challenge | VendorResult:
    request = hooks.build_challenge_request(vendor=spec, config=config, context=AttemptContext("r"))
    answer = hooks.parse_challenge(
        vendor=spec,
        request=request,
        response=_answer(body, status),
        config=config,
        issued_at=FIXED_NOW,
    )
    assert answer is not None
    return answer


def test_the_documented_answer_is_a_challenge_living_the_ttl(
    hooks: VendorHooks, spec: VendorSpec, config: VendorConfig
) -> None:
    body = b'{"data":{"validate_data":"9532",},"code":0,"message":"OK"}'  # trailing comma
    found = _parse(hooks, spec, config, body)
    assert found == _challenge("9532", ttl=DEFAULT_CHALLENGE_TTL)
    assert "9532" not in repr(found)


@pytest.mark.parametrize(("code", "message", "error_class"), [
    (4, "signature empty", ErrorClass.CREDENTIALS_REJECTED),
    (13, "replay attack", ErrorClass.REPLAY_DETECTED),
    (15, "too frequent", ErrorClass.RATE_LIMITED),
    (3, "account abnormal,errorno is:2", ErrorClass.ACCOUNT_UNAVAILABLE),
    (213, "internal error", ErrorClass.VENDOR_UNAVAILABLE),
])  # fmt: skip
def test_a_refusal_is_a_failed_result_classified_from_the_one_code_table(
    hooks: VendorHooks,
    spec: VendorSpec,
    config: VendorConfig,
    code: int,
    message: str,
    error_class: ErrorClass,
) -> None:
    body = json.dumps({"code": code, "message": message}).encode()
    found = _parse(hooks, spec, config, body)
    assert isinstance(found, VendorResult)
    assert (found.ok, found.code) == (False, str(code))
    classified = hooks.classify_error(vendor=spec, result=found, check=None, error=None)
    assert classified is not None
    assert classified.error_class is error_class


@pytest.mark.parametrize("body", [
    b'{"data":{},"code":0,"message":"OK"}',
    b'{"data":{"validate_data":95},"code":0,"message":"OK"}',
    b'{"data":{"validate_data":"95a2"},"code":0,"message":"OK"}',
    b'{"data":{"validate_data":""},"code":0,"message":"OK"}',
    b'{"code":0,"message":"OK"}',
    b"[1, 2]",
])  # fmt: skip
def test_a_malformed_answer_is_a_protocol_error(
    hooks: VendorHooks, spec: VendorSpec, config: VendorConfig, body: bytes
) -> None:
    with pytest.raises(ProtocolError):
        _parse(hooks, spec, config, body)


@given(body=st.binary(max_size=200) | st.text(max_size=120).map(str.encode))
def test_any_body_is_a_challenge_a_failed_result_or_a_protocol_error(body: bytes) -> None:
    host = PluginHost()
    host.register(plugin, "tencent_legacy")
    spec = host.vendor("tencent_legacy")
    config = VendorConfig.from_table(
        spec, {"appid": APPID, "secret_id": "${A}", "secret_key": "${B}"}, env={"A": "a", "B": "b"}
    )
    hooks = host.hooks_for("tencent_legacy")
    try:
        found = _parse(hooks, spec, config, body)
    except ProtocolError:
        return
    if isinstance(found, Challenge):
        assert found.value.isdigit()
        assert found.expires_at > found.issued_at
    else:
        assert not found.ok


# --- validate_data ---------------------------------------------------------------------------


def _build(
    hooks: VendorHooks,
    spec: VendorSpec,
    config: VendorConfig,
    evidence: Evidence,
    checks: frozenset[Check] = LIVENESS,
    now: float = FIXED_NOW,
) -> VendorRequest:
    context = AttemptContext("req-0001", now=lambda: now)
    request = hooks.build_request(
        vendor=spec, checks=checks, evidence=evidence, config=config, context=context
    )
    assert isinstance(request, VendorRequest)
    return request


def test_validate_data_comes_from_the_challenge(
    hooks: VendorHooks, spec: VendorSpec, make_config: ConfigFactory, mp4_file: Path
) -> None:
    strict = make_config(allow_caller_digits=False)
    request = _build(hooks, spec, strict, Evidence(video=mp4_file, challenge=_challenge("0471")))
    assert request.field("validate_data") == "0471"


def test_caller_digits_without_the_opt_in_are_refused_naming_the_field_and_the_key(
    hooks: VendorHooks, spec: VendorSpec, make_config: ConfigFactory, mp4_file: Path
) -> None:
    strict = make_config(allow_caller_digits=False)
    with pytest.raises(InvalidEvidenceError) as info:
        _build(hooks, spec, strict, Evidence(video=mp4_file, digits="9532"))
    assert info.value.field == "digits"
    assert "livegetfour" in info.value.rule
    assert "allow_caller_digits" in info.value.rule
    # The default is the same refusal: the opt-in is explicit.
    default = VendorConfig.from_table(
        spec, {"appid": APPID, "secret_id": "${A}", "secret_key": "${B}"}, env={"A": "a", "B": "b"}
    )
    with pytest.raises(InvalidEvidenceError):
        _build(hooks, spec, default, Evidence(video=mp4_file, digits="9532"))


def test_caller_digits_under_the_opt_in_are_sent(
    hooks: VendorHooks, spec: VendorSpec, config: VendorConfig, mp4_file: Path
) -> None:
    assert config["allow_caller_digits"] is True
    request = _build(hooks, spec, config, Evidence(video=mp4_file, digits="9532"))
    assert request.field("validate_data") == "9532"


def test_an_expired_challenge_is_refused_before_sending(
    hooks: VendorHooks, spec: VendorSpec, config: VendorConfig, mp4_file: Path
) -> None:
    evidence = Evidence(video=mp4_file, challenge=_challenge(ttl=60.0))
    with pytest.raises(InvalidEvidenceError) as info:
        _build(hooks, spec, config, evidence, now=FIXED_NOW + 60.0)
    assert info.value.field == "challenge"


def test_digits_and_a_challenge_together_are_refused(mp4_file: Path) -> None:
    with pytest.raises(InvalidEvidenceError) as info:
        Evidence(video=mp4_file, digits="9532", challenge=_challenge())
    assert info.value.field == "digits"


# --- the simulator's ledger --------------------------------------------------------------------


def test_ledger_issues_once_forgets_after_the_ttl_and_stays_bounded() -> None:
    now = [1000.0]
    ledger = Ledger(lambda: now[0], ttl=60.0, capacity=3)
    first = ledger.issue("a")
    assert len(first) == 4
    assert first.isdigit()
    assert ledger.redeem("b", first) is Redeemed.UNKNOWN  # another AppID's digits
    assert ledger.redeem("a", first) is Redeemed.OK
    assert ledger.redeem("a", first) is Redeemed.REUSED
    second = ledger.issue("a")
    now[0] += 60.0
    assert ledger.redeem("a", second) is Redeemed.EXPIRED
    for _ in range(10):
        ledger.issue("a")
    assert len(ledger) <= 3


# --- over the wire: the simulator on loopback, the core transport ----------------------------


@pytest.fixture
def strict(wire_to: Callable[[TencentSimulator], Wire]) -> Wire:
    wire = wire_to(TencentSimulator(challenge_ttl=30.0))
    wire.sim.accept_unissued_challenges = False  # wire_to opts in; these tests must not
    return wire


async def _achallenge(wire: Wire, config: VendorConfig) -> tuple[CallOutcome, Challenge | None]:
    """One livegetfour call through the core transport's async path (the engine's)."""
    async with httpx.AsyncClient() as http:
        client = VendorClient(wire.host, {"tencent_legacy": config}, HttpClient.wrap(None, http))
        try:
            return await client.achallenge("tencent_legacy", "req-issue", 10.0)
        finally:
            client.close()


async def _issue(wire: Wire) -> Challenge:
    outcome, challenge = await _achallenge(wire, wire.config(allow_caller_digits=False))
    assert outcome.failure is None, outcome.failure
    assert (outcome.operation, outcome.http_status) == ("livegetfour", 200)
    assert challenge is not None
    return challenge


def _video(tmp_path: Path, digits: str | None) -> Path:
    from kycmux.synthetic import Population

    person = Population.default().by_id("P0001").person_id
    return write_video(tmp_path / f"v{digits}.mp4", VideoTruth(person, digits_read=digits))


def _live(wire: Wire, evidence: Evidence) -> tuple[str, ErrorClass | None, CaptureIssue | None]:
    outcome = wire.call(LIVENESS, evidence, config=wire.config(allow_caller_digits=False))
    reading = outcome.readings[Check.LIVENESS]
    assert reading.answer is not None, outcome.failure
    failure = reading.failure
    return (
        reading.answer.status,
        failure.error_class if failure else None,
        failure.capture_issue if failure else None,
    )


@pytest.mark.anyio
async def test_issued_digits_read_in_the_video_pass_once_and_a_replay_is_not_live(
    strict: Wire, tmp_path: Path
) -> None:
    challenge = await _issue(strict)
    assert challenge.expires_at - challenge.issued_at == DEFAULT_CHALLENGE_TTL  # the client's
    video = _video(tmp_path, challenge.value)
    evidence = Evidence(video=video, challenge=challenge)
    assert _live(strict, evidence) == ("0", None, None)
    # The same digits and video again: -5016, the documented replay, a definitive negative.
    assert _live(strict, evidence) == ("-5016", ErrorClass.NOT_LIVE, None)


@pytest.mark.anyio
async def test_a_video_reading_other_digits_fails_lip_reading(strict: Wire, tmp_path: Path) -> None:
    challenge = await _issue(strict)
    other = "1234" if challenge.value != "1234" else "5678"
    evidence = Evidence(video=_video(tmp_path, other), challenge=challenge)
    assert _live(strict, evidence) == (
        "-5008",
        ErrorClass.CAPTURE_UNUSABLE,
        CaptureIssue.WRONG_DIGITS,
    )


def test_digits_never_issued_are_refused_with_5002(strict: Wire, tmp_path: Path) -> None:
    fake = _challenge("8080", issued_at=time.time())
    evidence = Evidence(video=_video(tmp_path, "8080"), challenge=fake)
    assert _live(strict, evidence) == (
        "-5002",
        ErrorClass.CAPTURE_UNUSABLE,
        CaptureIssue.WRONG_DIGITS,
    )


@pytest.mark.anyio
async def test_expired_digits_are_refused_with_5002(
    wire_to: Callable[[TencentSimulator], Wire], tmp_path: Path
) -> None:
    now = [time.time()]
    wire = wire_to(TencentSimulator(clock=lambda: now[0], challenge_ttl=30.0))
    wire.sim.accept_unissued_challenges = False
    challenge = await _issue(wire)
    now[0] += 30.0  # the simulator's own ttl is over; the client's is not
    evidence = Evidence(video=_video(tmp_path, challenge.value), challenge=challenge)
    assert _live(wire, evidence) == (
        "-5002",
        ErrorClass.CAPTURE_UNUSABLE,
        CaptureIssue.WRONG_DIGITS,
    )


@pytest.mark.anyio
async def test_livegetfour_refusals_are_classified_like_any_call(
    strict: Wire,
) -> None:
    config = strict.config(appid="1250000003", allow_caller_digits=False)
    outcome, challenge = await _achallenge(strict, config)
    assert challenge is None
    assert outcome.failure is not None
    assert outcome.failure.error_class is ErrorClass.ACCOUNT_UNAVAILABLE
    assert outcome.result is not None
    assert outcome.result.code == "3"


@pytest.mark.anyio
async def test_mock_transport_5xx_and_garbage_are_vendor_unavailable(
    strict: Wire,
) -> None:
    host = PluginHost()
    host.register(plugin, "tencent_legacy")
    config = strict.config()
    for status, body in ((503, b"<html>busy</html>"), (200, b"not json")):
        transport = httpx.MockTransport(lambda _r, s=status, b=body: httpx.Response(s, content=b))
        http = HttpClient.wrap(
            httpx.Client(transport=transport), httpx.AsyncClient(transport=transport)
        )
        client = VendorClient(host, {"tencent_legacy": config}, http)
        outcome, challenge = await client.achallenge("tencent_legacy", "r", 5.0)
        assert challenge is None
        assert outcome.failure is not None
        assert outcome.failure.error_class is ErrorClass.VENDOR_UNAVAILABLE
        client.close()
        await http.aclose()


@pytest.mark.parametrize("issuer", ["linkface", "tencent_legacy@another-instance"])
def test_a_challenge_another_vendor_or_instance_issued_is_refused(
    hooks: VendorHooks, spec: VendorSpec, config: VendorConfig, mp4_file: Path, issuer: str
) -> None:
    """livedetectfour cannot match digits another account issued: refused before sending."""
    challenge = attrs.evolve(_challenge(), vendor=issuer)
    with pytest.raises(InvalidEvidenceError) as info:
        _build(hooks, spec, config, Evidence(video=mp4_file, challenge=challenge), now=FIXED_NOW)
    assert info.value.field == "challenge.vendor"
    assert "only the issuer" in info.value.rule
