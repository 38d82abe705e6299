"""The body travels as multipart/form-data, as every one of the vendor's samples sends it.

A request with only URL or id inputs has no file part; core's transport still sends it as
multipart. The simulator refuses any other body the way the vendor's server plausibly would
(400 ``INVALID_ARGUMENT`` with a ``reason``): the vendor documents no other encoding.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import httpx
import pytest

from kycmux import (
    AttemptContext,
    CallOutcome,
    Check,
    Classification,
    ErrorClass,
    Evidence,
    Secret,
    UrlMedia,
    VendorConfig,
    VendorHooks,
    VendorMediaId,
    VendorRequest,
    VendorResponse,
    VendorSpec,
)
from kycmux.simkit import FormData, RunningSimulator, SimRequest, SimResponse, SimulatorApp, serve
from kycmux.synthetic import DemoSet
from kycmux_linkface._sim import Account, LinkfaceSimulator
from kycmux_linkface._spec import PATH
from linkface.pipeline import PipelineFactory

BOTH = frozenset({Check.LIVENESS, Check.FACE_MATCH})
CREDS = {"api_id": "ID", "api_secret": "SECRET"}
MULTIPART_ONLY = "the request body must be multipart/form-data"

ConfigFactory = Callable[..., VendorConfig]


# -- what core's transport sends ---------------------------------------------------------------


@attrs.frozen
class Seen:
    """What a recording server saw of one request."""

    content_type: str
    form: FormData
    query: dict[str, list[str]]


class Recorder(SimulatorApp):
    """A loopback "Linkface" that records each request and answers OK."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Seen] = []
        self.add_route("POST", PATH, self._record)

    def _record(self, request: SimRequest) -> SimResponse:
        self.seen.append(Seen(request.content_type, request.form(), dict(request.query)))
        body = {"request_id": "TID1", "status": "OK", "hack_score": "0.1", "verify_score": "0.9"}
        return SimResponse.json(200, body)


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, RunningSimulator]]:
    app = Recorder()
    with serve(app) as running:
        yield app, running


def url_and_id_evidence() -> Evidence:
    return Evidence(
        selfie=UrlMedia("https://example.com/selfie.jpg"),
        liveness_data=VendorMediaId("linkface", "LD1"),
    )


def build(
    hooks: VendorHooks,
    spec: VendorSpec,
    config: VendorConfig,
    context: AttemptContext,
    evidence: Evidence,
) -> VendorRequest:
    request: VendorRequest = hooks.build_request(
        vendor=spec, checks=BOTH, evidence=evidence, config=config, context=context
    )
    return request


def core_call(
    pipeline: PipelineFactory, config: VendorConfig, request: VendorRequest
) -> CallOutcome:
    """Sign and send through core's ``VendorClient`` and transport, then interpret."""
    return pipeline(config).call(request)


@pytest.mark.parametrize("placement", ["form", "query"])
def test_url_and_id_request_arrives_as_multipart(
    recorder: tuple[Recorder, RunningSimulator],
    pipeline: PipelineFactory,
    hooks: VendorHooks,
    spec: VendorSpec,
    make_config: ConfigFactory,
    context: AttemptContext,
    credentials: tuple[str, str],
    placement: str,
) -> None:
    app, running = recorder
    config = make_config(
        base_url=running.base_url, credentials_in=placement, selfie_auto_rotate=True
    )
    request = build(hooks, spec, config, context, url_and_id_evidence())
    assert request.files == ()  # nothing to upload: text fields only
    outcome = core_call(pipeline, config, request)
    assert outcome.failure is None
    [seen] = app.seen
    assert seen.content_type == "multipart/form-data"
    assert seen.form.files == {}
    expected = {
        "selfie_url": ["https://example.com/selfie.jpg"],
        "liveness_data_id": ["LD1"],
        "selfie_auto_rotate": ["true"],
    }
    api_id, api_secret = credentials
    creds = {"api_id": [api_id], "api_secret": [api_secret]}
    if placement == "form":
        assert (seen.form.fields, seen.query) == ({**expected, **creds}, {})
    else:
        assert (seen.form.fields, seen.query) == (expected, creds)


def test_id_only_request_is_answered_by_the_simulator(
    pipeline: PipelineFactory,
    hooks: VendorHooks,
    spec: VendorSpec,
    sim_config: ConfigFactory,
    context: AttemptContext,
    demo: DemoSet,
) -> None:
    # Upload once, then refer to both uploads by id: the second request has no file part.
    config = sim_config()
    uploaded = Evidence(selfie=demo["selfie"], liveness_data=demo["live_liveness_data"])
    first = core_call(pipeline, config, build(hooks, spec, config, context, uploaded))
    assert first.result is not None
    assert first.result.ok
    by_id = Evidence(
        selfie=VendorMediaId("linkface", first.result.extras["image_id"]),
        liveness_data=VendorMediaId("linkface", first.result.extras["liveness_data_id"]),
    )
    request = build(hooks, spec, config, context, by_id)
    assert request.files == ()
    second = core_call(pipeline, config, request)
    assert second.failure is None
    assert second.result is not None
    assert second.result.answers[Check.FACE_MATCH].score == (
        first.result.answers[Check.FACE_MATCH].score
    )


# -- what the simulator accepts ------------------------------------------------------------------


@pytest.fixture(scope="module")
def vendor_sim() -> Iterator[RunningSimulator]:
    """A simulator that knows the credentials of the vendor's samples (ID / SECRET)."""
    with serve(LinkfaceSimulator(accounts=(Account("ID", Secret("SECRET")),))) as running:
        yield running


@pytest.fixture(scope="module")
def ids(vendor_sim: RunningSimulator, demo: DemoSet) -> dict[str, str]:
    """``selfie_image_id`` / ``liveness_data_id`` of an upload the simulator knows."""
    files = {
        "selfie_file": demo["selfie"].read_bytes(),
        "liveness_data_file": demo["live_liveness_data"].read_bytes(),
    }
    body = httpx.post(vendor_sim.base_url + PATH, data=CREDS, files=files).json()
    assert body["status"] == "OK"
    return {"selfie_image_id": body["image_id"], "liveness_data_id": body["liveness_data_id"]}


def multipart(fields: dict[str, str]) -> list[tuple[str, tuple[None, str]]]:
    """Text fields as file-less multipart parts (what ``curl -F name=value`` sends)."""
    return [(name, (None, value)) for name, value in fields.items()]


def test_multipart_without_files_and_query_credentials_is_accepted(
    vendor_sim: RunningSimulator, ids: dict[str, str]
) -> None:
    # The curl sample's shape: credentials in the query string, the rest as -F parts.
    response = httpx.post(
        f"{vendor_sim.base_url}{PATH}?api_id=ID&api_secret=SECRET", files=multipart(ids)
    )
    assert response.status_code == 200
    assert response.json()["status"] == "OK"
    assert response.request.headers["content-type"].startswith("multipart/form-data; boundary=")


def _raw(content_type: str | None, body: bytes) -> dict[str, Any]:
    headers = {} if content_type is None else {"content-type": content_type}
    return {"content": body, "headers": headers}


def _urlencoded(fields: dict[str, str]) -> dict[str, Any]:
    return {"data": fields}


@pytest.mark.parametrize("credentials_in", ["form", "query"])
@pytest.mark.parametrize(
    ("kind", "found"),
    [
        ("urlencoded", "application/x-www-form-urlencoded"),
        ("json", "application/json"),
        ("text", "text/plain"),
        ("none", "no content type"),
    ],
)
def test_a_body_that_is_not_multipart_is_an_invalid_argument(
    vendor_sim: RunningSimulator,
    ids: dict[str, str],
    hooks: VendorHooks,
    spec: VendorSpec,
    config: VendorConfig,
    credentials_in: str,
    kind: str,
    found: str,
) -> None:
    # Everything else right (valid credentials, ids of a real upload): only the encoding is not.
    fields = {**ids, **(CREDS if credentials_in == "form" else {})}
    query = "" if credentials_in == "form" else "?api_id=ID&api_secret=SECRET"
    sends = {
        "urlencoded": _urlencoded(fields),
        "json": _raw("application/json", json.dumps(fields).encode()),
        "text": _raw("text/plain", b"api_id=ID"),
        "none": _raw(None, b""),
    }
    response = httpx.post(f"{vendor_sim.base_url}{PATH}{query}", **sends[kind])
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"status", "reason", "request_id"}
    assert body["status"] == "INVALID_ARGUMENT"
    assert body["reason"] == f"{MULTIPART_ONLY}, not {found}"
    assert body["request_id"].startswith("TID")
    request = VendorRequest(
        "linkface", "liveness_selfie_verification", BOTH, "POST", vendor_sim.base_url + PATH
    )
    wire = VendorResponse(response.status_code, dict(response.headers), response.content)
    result = hooks.parse(vendor=spec, request=request, response=wire, config=config)
    assert (result.ok, result.code, result.message) == (
        False,
        "INVALID_ARGUMENT",
        f"{MULTIPART_ONLY}, not {found}",
    )
    assert hooks.classify_error(vendor=spec, result=result, check=None, error=None) == (
        Classification(ErrorClass.REQUEST_INVALID, "linkface:INVALID_ARGUMENT")
    )
