"""The plugin against its simulator over real loopback HTTP: build, sign, send, parse, classify."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from kycmux import (
    CaptureIssue,
    Check,
    Classification,
    ErrorClass,
    Evidence,
    RawScore,
    Score,
    Secret,
    UrlMedia,
    VendorConfig,
    VendorHooks,
    VendorMediaId,
    VendorSpec,
)
from kycmux.exceptions import ProtocolError
from kycmux.simkit import RunningSimulator, serve
from kycmux.synthetic import DemoSet, ImageTruth, image_bytes
from kycmux_linkface._errors import DOCUMENTED, StatusEntry
from kycmux_linkface._sim import LinkfaceSimulator, ScoreFormat

E = ErrorClass
C = CaptureIssue
MiB = 1024 * 1024

SimConfig = Callable[..., VendorConfig]
ConfigFor = Callable[..., VendorConfig]


def normalize(hooks: VendorHooks, spec: VendorSpec, check: Check, raw: RawScore) -> Score:
    score: Score = hooks.normalize_score(vendor=spec, check=check, raw=raw)
    return score


@pytest.fixture
def genuine(demo: DemoSet) -> Evidence:
    return Evidence(selfie=demo["selfie"], liveness_data=demo["live_liveness_data"])


def expect_failure(
    outcome: Any, http_status: int, status: str, classification: Classification
) -> None:
    assert outcome.error is None, outcome.error
    assert outcome.response.status_code == http_status
    assert (outcome.result.ok, outcome.result.code) == (False, status)
    assert outcome.result.request_id.startswith("TID")
    assert outcome.classification == classification


# -- answers decided by content --------------------------------------------------------------


@pytest.mark.parametrize("placement", ["form", "query"])
def test_genuine_live_capture_passes(
    flow: Any,
    sim_config: SimConfig,
    genuine: Evidence,
    hooks: VendorHooks,
    spec: VendorSpec,
    placement: str,
) -> None:
    outcome = flow.run(genuine, sim_config(credentials_in=placement))
    result = outcome.result
    assert outcome.classification is None
    assert (result.ok, result.http_status, result.code) == (True, 200, "OK")
    assert result.request_id.startswith("TID")
    assert len(result.request_id) == 35
    assert result.extras["image_id"].startswith("IMG")
    assert result.extras["liveness_data_id"].startswith("LD")
    liveness, match = result.answers[Check.LIVENESS], result.answers[Check.FACE_MATCH]
    assert (liveness.ok, liveness.passed, liveness.score.name) == (True, True, "hack_score")
    assert liveness.score.value < 0.25
    assert (match.ok, match.passed, match.score.name) == (True, None, "verify_score")
    far = normalize(hooks, spec, Check.FACE_MATCH, match.score).far
    assert far is not None
    assert far <= 1e-5
    assert normalize(hooks, spec, Check.LIVENESS, liveness.score).far is None


def test_attack_liveness_data_fails_liveness(
    flow: Any, sim_config: SimConfig, demo: DemoSet
) -> None:
    evidence = Evidence(selfie=demo["selfie"], liveness_data=demo["attack_liveness_data"])
    answer = flow.run(evidence, sim_config()).result.answers[Check.LIVENESS]
    assert answer.ok is True
    assert answer.passed is False
    assert answer.score.value > 0.8


def test_impostor_selfie_gets_a_low_verify_score(
    flow: Any, sim_config: SimConfig, demo: DemoSet, hooks: VendorHooks, spec: VendorSpec
) -> None:
    evidence = Evidence(selfie=demo["impostor_selfie"], liveness_data=demo["live_liveness_data"])
    result = flow.run(evidence, sim_config()).result
    match = result.answers[Check.FACE_MATCH]
    assert match.score.value < 0.4
    score = normalize(hooks, spec, Check.FACE_MATCH, match.score)
    assert (score.far, score.extrapolated) == (1.0, True)
    assert result.answers[Check.LIVENESS].passed is True


def test_liveness_verdict_follows_the_configured_threshold(
    flow: Any, sim_config: SimConfig, demo: DemoSet
) -> None:
    evidence = Evidence(selfie=demo["selfie"], liveness_data=demo["hard_live_liveness_data"])
    lenient = flow.run(evidence, sim_config(liveness_threshold=0.99)).result
    strict = flow.run(evidence, sim_config(liveness_threshold=0.01)).result
    assert lenient.answers[Check.LIVENESS].score == strict.answers[Check.LIVENESS].score
    assert lenient.answers[Check.LIVENESS].passed is True
    assert strict.answers[Check.LIVENESS].passed is False


def test_only_the_asked_check_is_answered(
    flow: Any, sim_config: SimConfig, genuine: Evidence
) -> None:
    result = flow.run(genuine, sim_config(), checks=frozenset({Check.FACE_MATCH})).result
    assert set(result.answers) == {Check.FACE_MATCH}


def test_string_and_numeric_scores_parse_alike(
    flow: Any, sim_config: SimConfig, config_for: ConfigFor, genuine: Evidence
) -> None:
    as_strings = flow.run(genuine, sim_config())
    with serve(LinkfaceSimulator(score_format=ScoreFormat.NUMBER)) as numeric:
        as_numbers = flow.run(genuine, config_for(numeric))
    string_body = json.loads(as_strings.response.body)
    number_body = json.loads(as_numbers.response.body)
    assert isinstance(string_body["hack_score"], str)
    assert isinstance(string_body["verify_score"], str)
    assert isinstance(number_body["hack_score"], float)
    assert isinstance(number_body["verify_score"], float)
    assert as_strings.result.answers == as_numbers.result.answers


def test_selfie_auto_rotate_is_accepted(
    flow: Any, sim_config: SimConfig, genuine: Evidence
) -> None:
    assert flow.run(genuine, sim_config(selfie_auto_rotate=True)).result.ok


def test_returned_ids_can_be_sent_instead_of_files(
    flow: Any, sim_config: SimConfig, genuine: Evidence
) -> None:
    first = flow.run(genuine, sim_config()).result
    by_id = Evidence(
        selfie=VendorMediaId("linkface", first.extras["image_id"]),
        liveness_data=VendorMediaId("linkface", first.extras["liveness_data_id"]),
    )
    again = flow.run(by_id, sim_config()).result
    assert again.ok
    assert again.answers == first.answers
    assert again.extras == first.extras


@pytest.mark.parametrize(
    ("selfie", "data", "reason"),
    [
        ("IMGnot-a-known-id", None, "linkface:IMAGE_ID_NOT_EXIST:selfie_image_id"),
        (None, "LDnot-a-known-id", "linkface:IMAGE_ID_NOT_EXIST:liveness_data_id"),
    ],
)
def test_unknown_ids(
    flow: Any,
    sim_config: SimConfig,
    demo: DemoSet,
    selfie: str | None,
    data: str | None,
    reason: str,
) -> None:
    evidence = Evidence(
        selfie=VendorMediaId("linkface", selfie) if selfie else demo["selfie"],
        liveness_data=VendorMediaId("linkface", data) if data else demo["live_liveness_data"],
    )
    outcome = flow.run(evidence, sim_config())
    expect_failure(outcome, 400, "IMAGE_ID_NOT_EXIST", Classification(E.REQUEST_INVALID, reason))


@pytest.mark.parametrize(
    ("selfie", "data", "status", "classification"),
    [
        (
            "no_face_selfie",
            "live_liveness_data",
            "NO_FACE_DETECTED",
            Classification(E.CAPTURE_UNUSABLE, "linkface:NO_FACE_DETECTED:selfie_file", C.NO_FACE),
        ),
        (
            "corrupt_selfie",
            "live_liveness_data",
            "CORRUPT_IMAGE",
            Classification(E.CAPTURE_UNUSABLE, "linkface:CORRUPT_IMAGE:selfie_file", C.BAD_IMAGE),
        ),
        (
            "selfie",
            "unreadable_liveness_data",
            "WRONG_LIVENESS_DATA",
            Classification(E.CAPTURE_UNUSABLE, "linkface:WRONG_LIVENESS_DATA", C.BAD_LIVENESS_DATA),
        ),
    ],
)
def test_unusable_captures(
    flow: Any,
    sim_config: SimConfig,
    demo: DemoSet,
    selfie: str,
    data: str,
    status: str,
    classification: Classification,
) -> None:
    outcome = flow.run(Evidence(selfie=demo[selfie], liveness_data=demo[data]), sim_config())
    expect_failure(outcome, 400, status, classification)


# -- URL inputs: the vendor downloads them ---------------------------------------------------


def test_url_inputs_are_downloaded(
    flow: Any, sim_config: SimConfig, demo: DemoSet, files: Any
) -> None:
    evidence = Evidence(
        selfie=UrlMedia(files.add("selfie.png", demo["selfie"].read_bytes())),
        liveness_data=UrlMedia(files.add("live.bin", demo["live_liveness_data"].read_bytes())),
    )
    result = flow.run(evidence, sim_config()).result
    assert result.ok
    assert result.answers[Check.LIVENESS].passed is True


@pytest.mark.parametrize(
    ("content", "status", "classification"),
    [
        (
            image_bytes(ImageTruth("P0001"), pad_to=5 * MiB + 1),
            "IMAGE_FILE_SIZE_TOO_BIG",
            Classification(E.REQUEST_INVALID, "linkface:IMAGE_FILE_SIZE_TOO_BIG:selfie_url"),
        ),
        (
            image_bytes(ImageTruth("P0001"), width=4001, height=600),
            "INVALID_IMAGE_FORMAT_OR_SIZE",
            Classification(E.REQUEST_INVALID, "linkface:INVALID_IMAGE_FORMAT_OR_SIZE:selfie_url"),
        ),
    ],
    ids=["too-big", "too-wide"],
)
def test_downloaded_selfie_breaking_the_rules(
    flow: Any,
    sim_config: SimConfig,
    demo: DemoSet,
    files: Any,
    content: bytes,
    status: str,
    classification: Classification,
) -> None:
    evidence = Evidence(
        selfie=UrlMedia(files.add(f"{status}.png", content)),
        liveness_data=demo["live_liveness_data"],
    )
    expect_failure(flow.run(evidence, sim_config()), 400, status, classification)


@pytest.mark.parametrize("where", ["missing", "not-loopback"])
def test_download_error(
    flow: Any, sim_config: SimConfig, demo: DemoSet, files: Any, where: str
) -> None:
    url = (
        f"{files.base_url}/no-such-file.png"
        if where == "missing"
        else "https://images.example.com/selfie.png"
    )
    evidence = Evidence(selfie=demo["selfie"], liveness_data=UrlMedia(url))
    expect_failure(
        flow.run(evidence, sim_config()),
        400,
        "DOWNLOAD_ERROR",
        Classification(E.REQUEST_INVALID, "linkface:DOWNLOAD_ERROR:liveness_data_url"),
    )


def test_download_timeout(flow: Any, sim_config: SimConfig, demo: DemoSet, files: Any) -> None:
    url = files.add("slow.png", demo["selfie"].read_bytes())
    files.faults.inject("hang", count=1, paths={"/slow.png"})
    evidence = Evidence(selfie=UrlMedia(url), liveness_data=demo["live_liveness_data"])
    expect_failure(
        flow.run(evidence, sim_config()),
        400,
        "DOWNLOAD_TIMEOUT",
        Classification(E.VENDOR_UNAVAILABLE, "linkface:DOWNLOAD_TIMEOUT:selfie_url"),
    )


# -- accounts, limits, paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_id", "http_status", "status", "error_class"),
    [
        ("linkface-sim-expired", 401, "KEY_EXPIRED", E.ACCOUNT_UNAVAILABLE),
        ("linkface-sim-no-permission", 403, "NO_PERMISSION", E.ACCOUNT_UNAVAILABLE),
        ("nobody", 401, "UNAUTHORIZED", E.CREDENTIALS_REJECTED),
    ],
)
@pytest.mark.parametrize("placement", ["form", "query"])
def test_accounts(
    flow: Any,
    sim_config: SimConfig,
    genuine: Evidence,
    api_id: str,
    http_status: int,
    status: str,
    error_class: ErrorClass,
    placement: str,
) -> None:
    config = sim_config(api_id=Secret(api_id), credentials_in=placement)
    outcome = flow.run(genuine, config)
    expect_failure(outcome, http_status, status, Classification(error_class, f"linkface:{status}"))
    if status == "KEY_EXPIRED":
        assert outcome.result.message == "account linkface-sim-expired expired"


@pytest.mark.parametrize("placement", ["form", "query"])
def test_wrong_secret(flow: Any, sim_config: SimConfig, genuine: Evidence, placement: str) -> None:
    config = sim_config(api_secret=Secret("not-the-secret"), credentials_in=placement)
    expect_failure(
        flow.run(genuine, config),
        401,
        "UNAUTHORIZED",
        Classification(E.CREDENTIALS_REJECTED, "linkface:UNAUTHORIZED"),
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_then_refill(flow: Any, config_for: ConfigFor, genuine: Evidence) -> None:
    clock = FakeClock()
    with serve(LinkfaceSimulator(rate_per_s=2.0, burst=2, clock=clock)) as running:
        config = config_for(running)
        assert [flow.run(genuine, config).result.ok for _ in range(2)] == [True, True]
        expect_failure(
            flow.run(genuine, config),
            403,
            "RATE_LIMIT_EXCEEDED",
            Classification(E.RATE_LIMITED, "linkface:RATE_LIMIT_EXCEEDED"),
        )
        clock.now += 0.5  # one token at 2 per second
        assert flow.run(genuine, config).result.ok


def test_quota(flow: Any, config_for: ConfigFor, genuine: Evidence) -> None:
    with serve(LinkfaceSimulator(quota=2)) as running:
        config = config_for(running)
        assert [flow.run(genuine, config).result.ok for _ in range(2)] == [True, True]
        expect_failure(
            flow.run(genuine, config),
            403,
            "OUT_OF_QUOTA",
            Classification(E.ACCOUNT_UNAVAILABLE, "linkface:OUT_OF_QUOTA"),
        )


def test_wrong_path_is_not_found(
    flow: Any, sim_config: SimConfig, sim: RunningSimulator, genuine: Evidence
) -> None:
    config = sim_config(base_url=sim.base_url + "/v2")
    expect_failure(
        flow.run(genuine, config),
        404,
        "NOT_FOUND",
        Classification(E.REQUEST_INVALID, "linkface:NOT_FOUND"),
    )


# -- every documented status, and the faults ------------------------------------------------


@pytest.mark.parametrize("entry", DOCUMENTED, ids=lambda e: e.status)
def test_every_documented_status_over_the_wire(
    flow: Any, sim_config: SimConfig, genuine: Evidence, entry: StatusEntry
) -> None:
    outcome = flow.run(genuine, sim_config(), fault=f"vendor_code={entry.status}")
    body = json.loads(outcome.response.body)
    assert body["status"] == entry.status
    image = body.get("image")
    reason = f"linkface:{entry.status}" + (f":{image}" if image else "")
    expect_failure(
        outcome,
        entry.http_status,
        entry.status,
        Classification(entry.error_class, reason, entry.capture_issue),
    )


def test_vendor_error_fault(flow: Any, sim_config: SimConfig, genuine: Evidence) -> None:
    expect_failure(
        flow.run(genuine, sim_config(), fault="vendor_error"),
        500,
        "INTERNAL_ERROR",
        Classification(E.VENDOR_UNAVAILABLE, "linkface:INTERNAL_ERROR"),
    )


def test_rate_limited_fault(flow: Any, sim_config: SimConfig, genuine: Evidence) -> None:
    expect_failure(
        flow.run(genuine, sim_config(), fault="rate_limited"),
        403,
        "RATE_LIMIT_EXCEEDED",
        Classification(E.RATE_LIMITED, "linkface:RATE_LIMIT_EXCEEDED"),
    )


def test_latency_fault_still_answers(flow: Any, sim_config: SimConfig, genuine: Evidence) -> None:
    assert flow.run(genuine, sim_config(), fault="latency=0.05").result.ok


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_5xx_without_json(
    flow: Any, sim_config: SimConfig, genuine: Evidence, status: int
) -> None:
    outcome = flow.run(genuine, sim_config(), fault=f"http_5xx={status}")
    assert (outcome.result.ok, outcome.result.code) == (False, f"HTTP_{status}")
    assert outcome.classification == Classification(E.VENDOR_UNAVAILABLE, f"linkface:HTTP_{status}")


def test_non_json_200_is_a_protocol_error(
    flow: Any, sim_config: SimConfig, genuine: Evidence
) -> None:
    outcome = flow.run(genuine, sim_config(), fault="non_json")
    assert isinstance(outcome.error, ProtocolError)
    assert outcome.result is None
    assert outcome.classification == Classification(E.VENDOR_UNAVAILABLE, "malformed_response")


@pytest.mark.parametrize("fault", ["truncated", "reset"])
def test_broken_connections_are_transient(
    flow: Any, sim_config: SimConfig, genuine: Evidence, fault: str
) -> None:
    outcome = flow.run(genuine, sim_config(), fault=fault)
    assert isinstance(outcome.error, httpx.TransportError)
    assert outcome.result is None
    assert outcome.classification.error_class is E.VENDOR_UNAVAILABLE


@pytest.fixture
def impatient() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.3)) as client:
        yield client


def test_hang_is_a_read_timeout_possibly_billed(
    flow: Any, sim_config: SimConfig, genuine: Evidence, impatient: httpx.Client
) -> None:
    outcome = flow.using(impatient).run(genuine, sim_config(), fault="hang")
    assert isinstance(outcome.error, httpx.ReadTimeout)
    assert outcome.classification == Classification(E.POSSIBLY_BILLED, "read_timeout")


def test_control_endpoint_injects_a_window(
    flow: Any, sim_config: SimConfig, sim: RunningSimulator, genuine: Evidence, http: httpx.Client
) -> None:
    injected = http.post(
        f"{sim.base_url}/__kycmux__/faults", json={"fault": "vendor_code=OUT_OF_QUOTA", "count": 1}
    )
    assert injected.status_code == 200
    assert flow.run(genuine, sim_config()).result.code == "OUT_OF_QUOTA"
    assert flow.run(genuine, sim_config()).result.ok
    assert http.get(f"{sim.base_url}/__kycmux__/health").json()["status"] == "ok"


# -- the simulator as the registration hook hands it out -------------------------------------


def test_simulator_from_the_vendor_spec(
    flow: Any, spec: VendorSpec, config_for: ConfigFor, genuine: Evidence
) -> None:
    assert spec.simulator is not None
    app = spec.simulator()
    settings = app.client_settings()
    assert isinstance(settings["api_id"], Secret)
    assert isinstance(settings["api_secret"], Secret)
    with serve(app) as running:
        assert flow.run(genuine, config_for(running)).result.ok
