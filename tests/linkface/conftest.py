"""Fixtures for the Linkface plugin tests: a plugin host, configs, media files, the wire helper."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import kycmux_linkface
from kycmux import (
    AttemptContext,
    Check,
    Classification,
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
from kycmux.exceptions import ProtocolError
from kycmux.simkit import RunningSimulator, SimResponse, SimulatorApp, serve
from kycmux.synthetic import DemoSet, write_demo_set
from kycmux.testing import tiny_png
from kycmux_linkface._sim import LinkfaceSimulator
from linkface.pipeline import Pipeline, PipelineFactory

API_ID = "lf-test-id"
API_SECRET = "lf-test-secret-0123456789"
ENV = {"LF_API_ID": API_ID, "LF_API_SECRET": API_SECRET}

ConfigFactory = Callable[..., VendorConfig]
ImageFactory = Callable[..., Path]


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost()
    assert host.register(kycmux_linkface, "linkface")
    return host


@pytest.fixture
def spec(host: PluginHost) -> VendorSpec:
    return host.vendor("linkface")


@pytest.fixture
def hooks(host: PluginHost) -> VendorHooks:
    return host.hooks_for("linkface")


@pytest.fixture
def make_config(spec: VendorSpec) -> ConfigFactory:
    """A config resolved the way the config file would be: secrets as ${ENV} references."""

    def make(**values: Any) -> VendorConfig:
        table = {"api_id": "${LF_API_ID}", "api_secret": "${LF_API_SECRET}", **values}
        return VendorConfig.from_table(spec, table, ENV)

    return make


@pytest.fixture
def config(make_config: ConfigFactory) -> VendorConfig:
    return make_config()


@pytest.fixture
def context() -> AttemptContext:
    return AttemptContext("req-0001", now=lambda: 1_700_000_000.0, randbelow=lambda n: 7)


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def _bmp(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + len(info), 0, 0, 54) + info


def _gif(width: int, height: int) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    image = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + image + b";"


def _tiff(width: int, height: int) -> bytes:
    entries = struct.pack("<HHII", 256, 4, 1, width) + struct.pack("<HHII", 257, 4, 1, height)
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2) + entries + b"\0\0\0\0"


def _webp(width: int, height: int) -> bytes:
    del width, height
    return b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8 " + b"\0" * 22


_WRITERS = {
    "png": lambda w, h: tiny_png(w, h),
    "jpeg": _jpeg,
    "bmp": _bmp,
    "gif": _gif,
    "tiff": _tiff,
    "webp": _webp,
}


@pytest.fixture
def make_image(tmp_path: Path) -> ImageFactory:
    """A hand-made image file of a format and size; ``size`` pads the file to that many bytes."""
    counter = iter(range(10_000))

    def make(fmt: str = "png", width: int = 48, height: int = 64, size: int | None = None) -> Path:
        data = _WRITERS[fmt](width, height)
        if size is not None:
            data += b"\0" * (size - len(data))
        path = tmp_path / f"img{next(counter)}.{fmt}"
        path.write_bytes(data)
        return path

    return make


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    """An opaque liveness-SDK data file (the plugin does not look inside)."""
    path = tmp_path / "liveness.protobuf"
    path.write_bytes(b"\x0a\x04xxxx")
    return path


def send(client: httpx.Client, request: VendorRequest) -> VendorResponse:
    """The one place a ``VendorRequest`` goes over the wire in these tests: core's transport
    (``kycmux._transport._http``), so the simulator sees the very bytes the engine would send.

    The client's read timeout bounds the exchange; a transport error is raised, as httpx would.
    """
    sent = HttpClient.wrap(client).send(request, client.timeout.read or 10.0)
    if sent.error is not None:
        raise sent.error
    assert sent.response is not None
    return sent.response


Wire = Callable[[httpx.Client, VendorRequest], VendorResponse]


@pytest.fixture
def wire() -> Wire:
    return send


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture
def credentials() -> tuple[str, str]:
    """The plain ``(api_id, api_secret)`` the test configs resolve to."""
    return API_ID, API_SECRET


# -- loopback simulators ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSet:
    """The shared synthetic evidence (subject P0001, impostor P0002)."""
    return write_demo_set(tmp_path_factory.mktemp("demo"))


def _config_for(running: RunningSimulator, spec: VendorSpec, **values: Any) -> VendorConfig:
    """A config pointing at a running simulator, with the credentials it hands out."""
    settings = dict(running.client_settings())
    base_url = str(settings.pop("base_url"))
    defaults = {f.name: f.default for f in spec.config_fields if not f.required}
    return VendorConfig(
        "linkface", values.pop("base_url", base_url), {**defaults, **settings, **values}
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    """A Linkface simulator shared by a test module; its limits are out of the way."""
    app = LinkfaceSimulator(rate_per_s=1000.0, burst=1000, download_timeout=0.5)
    with serve(app) as running:
        yield running


@pytest.fixture
def sim_config(sim: RunningSimulator, spec: VendorSpec) -> Callable[..., VendorConfig]:
    def make(**values: Any) -> VendorConfig:
        return _config_for(sim, spec, **values)

    return make


@pytest.fixture
def config_for(spec: VendorSpec) -> Callable[..., VendorConfig]:
    """``config_for(running, **values)``: a config for any running simulator."""

    def make(running: RunningSimulator, **values: Any) -> VendorConfig:
        return _config_for(running, spec, **values)

    return make


@attrs.frozen
class Outcome:
    """What one attempt came to: the parsed result or the error, and its classification."""

    response: VendorResponse | None
    result: VendorResult | None
    error: BaseException | None
    classification: Classification | None


@attrs.define
class Flow:
    """build_request → sign → the wire → parse → classify_error, through the plugin host."""

    hooks: VendorHooks
    spec: VendorSpec
    client: httpx.Client

    def run(
        self,
        evidence: Evidence,
        config: VendorConfig,
        *,
        checks: frozenset[Check] = frozenset({Check.LIVENESS, Check.FACE_MATCH}),
        fault: str | None = None,
    ) -> Outcome:
        context = AttemptContext("req-e2e")
        request = self.hooks.build_request(
            vendor=self.spec, checks=checks, evidence=evidence, config=config, context=context
        )
        request = self.hooks.sign(vendor=self.spec, request=request, config=config, context=context)
        if fault is not None:
            request = request.with_header("X-Kycmux-Sim-Fault", fault)
        return self.exchange(request, config)

    def exchange(self, request: VendorRequest, config: VendorConfig) -> Outcome:
        try:
            response = send(self.client, request)
        except httpx.HTTPError as exc:
            return Outcome(None, None, exc, self.classify(error=exc))
        try:
            result: VendorResult = self.hooks.parse(
                vendor=self.spec, request=request, response=response, config=config
            )
        except ProtocolError as exc:
            return Outcome(response, None, exc, self.classify(error=exc))
        classification = None if result.ok else self.classify(result=result)
        return Outcome(response, result, None, classification)

    def using(self, client: httpx.Client) -> Flow:
        """The same flow over another client (a short timeout, say)."""
        return Flow(self.hooks, self.spec, client)

    def classify(self, **kwargs: Any) -> Classification:
        answer: Classification = self.hooks.classify_error(
            vendor=self.spec, **{"result": None, "check": None, "error": None, **kwargs}
        )
        return answer


@pytest.fixture
def flow(hooks: VendorHooks, spec: VendorSpec, http: httpx.Client) -> Flow:
    return Flow(hooks, spec, http)


class FileServer(SimulatorApp):
    """Serves files for URL inputs (the vendor fetches them): ``add`` returns the URL."""

    def __init__(self) -> None:
        super().__init__()
        self.base_url = ""

    def add(self, name: str, data: bytes) -> str:
        self.add_route(
            "GET",
            f"/{name}",
            lambda _request: SimResponse(200, data, {"content-type": "application/octet-stream"}),
        )
        return f"{self.base_url}/{name}"


@pytest.fixture(scope="module")
def files() -> Iterator[FileServer]:
    app = FileServer()
    with serve(app) as running:
        app.base_url = running.base_url
        yield app


# -- the engine's decision path ----------------------------------------------------------------


@pytest.fixture
def pipeline(host: PluginHost, spec: VendorSpec, http: httpx.Client) -> PipelineFactory:
    """``pipeline(config)``: the engine's decision path for Linkface configured so."""

    def make(config: VendorConfig) -> Pipeline:
        client = VendorClient(host, {"linkface": config}, HttpClient.wrap(http))
        return Pipeline(client, spec)

    return make
