"""Fixtures for the tencent_legacy plugin tests: a host with the plugin, config, a pinned clock."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path

import attrs
import httpx
import pytest

import kycmux_tencent_legacy as plugin
from kycmux import (
    AttemptContext,
    CallOutcome,
    Check,
    Evidence,
    HttpClient,
    PluginHost,
    Secret,
    VendorClient,
    VendorConfig,
    VendorHooks,
    VendorRequest,
    VendorSpec,
    hookimpl,
)
from kycmux.simkit import FAULT_HEADER, RunningSimulator, serve
from kycmux.synthetic import DemoSet, write_demo_set
from kycmux_tencent_legacy._sim import TencentSimulator

APPID = "1250000000"
FIXED_NOW = 1_700_000_000.0
FIXED_NONCE = 1_234_567_890
CREDENTIALS_ENV = {"TL_SECRET_ID": "AKIDkycmuxEXAMPLE", "TL_SECRET_KEY": "kycmux-example-key"}
VENDOR_DOCS = Path(__file__).resolve().parents[3] / "shared" / "vendor-docs"


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost()
    assert host.register(plugin, "tencent_legacy")
    return host


@pytest.fixture
def spec(host: PluginHost) -> VendorSpec:
    return host.vendor("tencent_legacy")


@pytest.fixture
def hooks(host: PluginHost) -> VendorHooks:
    return host.hooks_for("tencent_legacy")


ConfigFactory = Callable[..., VendorConfig]


@pytest.fixture
def make_config(spec: VendorSpec) -> ConfigFactory:
    """A config resolved as the config file would be: secrets as ${ENV} references."""

    def make(**table: object) -> VendorConfig:
        base: dict[str, object] = {
            # The caller's own digits (the migration opt-in): most tests here are about
            # everything else; tests/tencent_legacy/test_challenge.py covers livegetfour's.
            "allow_caller_digits": True,
            "appid": APPID,
            "secret_id": "${TL_SECRET_ID}",
            "secret_key": "${TL_SECRET_KEY}",
        }
        return VendorConfig.from_table(spec, {**base, **table}, env=CREDENTIALS_ENV)

    return make


@pytest.fixture
def config(make_config: ConfigFactory) -> VendorConfig:
    return make_config()


@pytest.fixture
def context() -> AttemptContext:
    return AttemptContext("req-0001", now=lambda: FIXED_NOW, randbelow=lambda _n: FIXED_NONCE)


# --- over the wire: the real simulator on loopback, the core transport ----------------------


class FaultHeader:
    """A cross-cutting plugin that asks the simulator for a fault on the next signed requests
    (``X-Kycmux-Sim-Fault``), the way a test or CI harness scopes a fault to one request."""

    def __init__(self) -> None:
        self.spec: str | None = None

    @hookimpl(wrapper=True)
    def sign(self) -> Generator[None, VendorRequest | None, VendorRequest | None]:
        signed = yield
        if signed is None or self.spec is None:
            return signed
        return signed.with_header(FAULT_HEADER, self.spec)


def settings_table(settings: Mapping[str, str | Secret]) -> tuple[dict[str, str], dict[str, str]]:
    """A config table and environment for simulator settings (secrets via ${ENV} references)."""
    table: dict[str, str] = {}
    env: dict[str, str] = {}
    for key, value in settings.items():
        if isinstance(value, Secret):
            env[f"TL_{key.upper()}"] = value.reveal()
            table[key] = f"${{TL_{key.upper()}}}"
        else:
            table[key] = value
    return table, env


@attrs.define
class Wire:
    """The plugin, a simulator and the core transport: what a decision does, one call at a time.

    Attributes:
        sim: The simulator app.
        base_url: Where it listens.
        host: A plugin host with the plugin and the fault-header plugin.
        faults: Set ``faults.spec`` to scope a fault to the following calls.
        http: The core HTTP client.
    """

    sim: TencentSimulator
    base_url: str
    host: PluginHost
    faults: FaultHeader
    http: HttpClient

    @property
    def spec(self) -> VendorSpec:
        return self.host.vendor("tencent_legacy")

    @property
    def hooks(self) -> VendorHooks:
        return self.host.hooks_for("tencent_legacy")

    def config(self, appid: str | None = None, **overrides: object) -> VendorConfig:
        settings = self.sim.client_settings() if appid is None else self.sim.settings_for(appid)
        table, env = settings_table(settings)
        # The caller's own digits, as the simulators of these tests accept them (opt-in).
        base = {**table, "base_url": self.base_url, "allow_caller_digits": True}
        return VendorConfig.from_table(self.spec, {**base, **overrides}, env)

    def client(
        self, config: VendorConfig | None = None, wall: Callable[[], float] = time.time
    ) -> VendorClient:
        configs = {"tencent_legacy": config or self.config()}
        return VendorClient(self.host, configs, self.http, wall)

    def call(
        self,
        checks: Iterable[Check],
        evidence: Evidence,
        *,
        config: VendorConfig | None = None,
        fault: str | None = None,
        wall: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> CallOutcome:
        """Build, sign, send, parse, classify and normalize one call."""
        client = self.client(config, wall)
        request = client.prepare("tencent_legacy", frozenset(checks), evidence, "req-wire")
        self.faults.spec = fault
        try:
            return client.call(request, "req-wire", 1, timeout)
        finally:
            self.faults.spec = None

    def sign(
        self,
        request: VendorRequest,
        config: VendorConfig | None = None,
        *,
        nonce: int | None = None,
    ) -> VendorRequest:
        """Sign with the real clock, and a random nonce unless one is pinned."""
        randbelow = secrets.randbelow if nonce is None else (lambda _n: nonce)
        context = AttemptContext("req-wire", now=time.time, randbelow=randbelow)
        signed = self.hooks.sign(
            vendor=self.spec, request=request, config=config or self.config(), context=context
        )
        assert isinstance(signed, VendorRequest)
        return signed

    def exchange(self, request: VendorRequest, timeout: float = 10.0) -> CallOutcome:
        """Send an already signed (or deliberately unsigned) request and interpret it."""
        client = self.client()
        sent = self.http.send(request, timeout)
        return client.interpret(request, sent, 1, time.time())


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSet:
    return write_demo_set(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def http_client() -> Iterator[HttpClient]:
    client = httpx.Client()
    yield HttpClient.wrap(client)
    client.close()


@pytest.fixture(scope="module")
def running_sim() -> Iterator[RunningSimulator]:
    """One simulator per test module (state such as the replay cache is per module)."""
    with serve(TencentSimulator(accept_unissued_challenges=True)) as running:
        yield running


def make_wire(running: RunningSimulator, http: HttpClient) -> Wire:
    faults = FaultHeader()
    host = PluginHost()
    assert host.register(plugin, "tencent_legacy")
    assert host.register(faults, "fault-header")
    return Wire(running.app, running.base_url, host, faults, http)


@pytest.fixture
def wire(running_sim: RunningSimulator, http_client: HttpClient) -> Iterator[Wire]:
    running_sim.app.faults.clear()
    running_sim.app.stats.reset()
    yield make_wire(running_sim, http_client)
    running_sim.app.faults.clear()


@pytest.fixture
def wire_to(http_client: HttpClient) -> Iterator[Callable[[TencentSimulator], Wire]]:
    """A wire to a simulator built by the test (its own clock, rate limit, body cap...)."""
    with contextlib.ExitStack() as stack:

        def start(sim: TencentSimulator) -> Wire:
            sim.accept_unissued_challenges = True  # the caller's own digits, as in ``wire``
            return make_wire(stack.enter_context(serve(sim)), http_client)

        yield start
