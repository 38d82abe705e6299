"""Two instances of one fake vendor (``alpha`` and ``alpha_eu``, both served by the plugin of
vendor ``alpha``) on httpx.MockTransport, each with its own base URL and token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import httpx

import kycmux
from kycmux import (
    AttemptContext,
    Check,
    CheckPolicy,
    Config,
    Engine,
    Evidence,
    HttpClient,
    PluginHost,
    Policy,
    RetryPolicy,
    VendorRequest,
    VendorSettings,
    VendorSpec,
)
from kycmux.exceptions import ConfigError, InvalidEvidenceError
from kycmux.testing import FakeClock, FakeVendor, answer

__all__ = ["INSTANCES", "TOKENS", "InstanceRig", "InstanceVendor", "instance_policy"]

TOKENS = {"alpha": "token-of-alpha-3b1", "alpha_eu": "token-of-alpha-eu-8c4"}
INSTANCES = ("alpha", "alpha_eu")


class InstanceVendor(FakeVendor):
    """``FakeVendor`` sending to the configured base URL, and recording the instance each
    call was for (``AttemptContext.instance``). ``refuse_field`` makes it refuse any evidence
    (``InvalidEvidenceError``), ``bad_key`` makes signing refuse its configuration."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.instances: list[str | None] = []
        self.refuse_field: str | None = None
        self.bad_key: str | None = None

    @kycmux.hookimpl
    def build_request(  # type: ignore[override]
        self,
        vendor: VendorSpec,
        checks: frozenset[Check],
        evidence: Evidence,
        config: Any,
        context: AttemptContext,
    ) -> VendorRequest:
        self.calls.append(("build_request", vendor.name))
        self.instances.append(context.instance)
        if self.refuse_field is not None:
            raise InvalidEvidenceError(self.refuse_field, "refused by test", vendor=vendor.name)
        return VendorRequest(vendor.name, "verify", checks, "POST", f"{config.base_url}/verify")

    @kycmux.hookimpl
    def sign(  # type: ignore[override]
        self, vendor: VendorSpec, request: VendorRequest, config: Any
    ) -> VendorRequest:
        self.calls.append(("sign", request.vendor))
        if self.bad_key is not None:
            raise ConfigError(f"vendors.{vendor.name}.{self.bad_key}", "refused by test")
        return request.with_header("X-Token", config["token"])


@attrs.define
class InstanceRig:
    """Scripted replies per instance (by host); each request pops the next one."""

    clock: FakeClock = attrs.field(factory=FakeClock)
    plugin: InstanceVendor = attrs.field(factory=lambda: InstanceVendor("alpha"))
    scripts: dict[str, list[httpx.Response]] = attrs.field(
        factory=lambda: {n: [] for n in INSTANCES}
    )
    calls: dict[str, int] = attrs.field(factory=lambda: dict.fromkeys(INSTANCES, 0))

    def script(self, instance: str, *replies: httpx.Response) -> None:
        self.scripts[instance].extend(replies)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        instance = request.url.host.split(".")[0].replace("-", "_")
        self.calls[instance] += 1
        await request.aread()
        # Each instance signs with its own credentials.
        assert request.headers["x-token"] == TOKENS[instance]
        return self.scripts[instance].pop(0) if self.scripts[instance] else answer()

    def host(self) -> PluginHost:
        host = PluginHost()
        host.register(self.plugin, "alpha-plugin")
        return host

    def config(self, resilience: Mapping[str, Any] | None = None) -> Config:
        guards = resilience or {}
        tables = {
            "alpha": {"token": "${A}", "base_url": "https://alpha.example.com"},
            "alpha_eu": {
                "plugin": "alpha",
                "token": "${A_EU}",
                "base_url": "https://alpha-eu.example.com",
            },
        }
        for name, table in guards.items():
            tables[name]["resilience"] = table
        env = {"A": TOKENS["alpha"], "A_EU": TOKENS["alpha_eu"]}
        return Config.from_mapping({"vendors": tables}, self.host().vendors, env)

    def engine(
        self, *policies: Policy, resilience: Mapping[str, Any] | None = None, **options: Any
    ) -> Engine:
        http = HttpClient.create(async_transport=httpx.MockTransport(self.handle))
        options.setdefault("record_key", b"k")
        return Engine.from_config(
            self.config(resilience),
            host=self.host(),
            http=http,
            clock=self.clock,
            policies=policies or (instance_policy(),),
            **options,
        )


def instance_policy(order: tuple[str, ...] = INSTANCES, **overrides: Any) -> Policy:
    """Failover over ``order`` for liveness and face match; no retries (one scripted reply is
    one attempt)."""
    checks = {
        Check.LIVENESS: CheckPolicy(order),
        Check.FACE_MATCH: CheckPolicy(order, max_far=1e-3),
    }
    once = VendorSettings(retry=RetryPolicy(max_attempts=1))
    overrides.setdefault("vendors", dict.fromkeys(order, once))
    return Policy(overrides.pop("name", "p"), checks, **overrides)
