"""An engine over fake vendors on httpx.MockTransport, driven by a fake clock."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
import httpx

from kycmux import (
    Check,
    CheckPolicy,
    Config,
    Engine,
    HttpClient,
    PluginHost,
    Policy,
    Secret,
    VendorConfig,
    VendorResilience,
)
from kycmux.testing._clock import FakeClock
from kycmux.testing._fakevendor import FakeVendor

CANARY = "canary-secret-91c2"
"""The fake vendors' secret token: it must never show in a record, a log or an error."""
Reply = Callable[[FakeClock], Awaitable[httpx.Response]]
"""A scripted vendor answer: awaited on the rig's clock, it returns the HTTP response."""


def answer(code: str = "OK", live: bool = True, score: float = 0.9) -> httpx.Response:
    """A fake vendor's JSON answer with this ``code``, liveness and score."""
    return httpx.Response(200, json={"code": code, "live": live, "score": score})


@attrs.define
class Rig:
    """Fake vendors ``alpha`` and ``beta``; each request pops the next scripted reply."""

    clock: FakeClock
    scripts: dict[str, list[Any]]
    calls: dict[str, int]
    vendors: dict[str, FakeVendor]

    def script(self, vendor: str, *replies: Any) -> None:
        self.scripts[vendor].extend(replies)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        vendor = request.url.host.split(".")[0]
        self.calls[vendor] += 1
        await request.aread()
        assert request.headers["x-token"] == CANARY
        reply = self.scripts[vendor].pop(0) if self.scripts[vendor] else answer()
        if callable(reply):
            result: httpx.Response = await reply(self.clock)
            return result
        return reply

    def engine(
        self,
        *policies: Policy,
        resilience: Mapping[str, VendorResilience] | None = None,
        **options: Any,
    ) -> Engine:
        """An engine over the fake vendors (``resilience`` per vendor, if given); ``options``
        go to ``Engine.from_config``."""
        guards = resilience or {}
        host = PluginHost()
        for name, vendor in self.vendors.items():
            host.register(vendor, name)
        config = Config(
            vendors={
                name: VendorConfig(
                    name,
                    f"https://{name}.example.com",
                    {"token": Secret(CANARY)},
                    resilience=guards.get(name, VendorResilience()),
                )
                for name in self.vendors
            }
        )
        http = HttpClient.create(async_transport=httpx.MockTransport(self.handle))
        options.setdefault("record_key", b"k")
        return Engine.from_config(
            config, host=host, http=http, clock=self.clock, policies=policies, **options
        )


def make_rig() -> Rig:
    """A rig with two fake vendors, ``alpha`` and ``beta``, and no answers scripted yet."""
    return Rig(
        FakeClock(),
        {"alpha": [], "beta": []},
        {"alpha": 0, "beta": 0},
        {n: FakeVendor(n, base_url=f"https://{n}.example.com") for n in ("alpha", "beta")},
    )


def policy(**overrides: Any) -> Policy:
    """A liveness policy over ``alpha`` then ``beta``; ``overrides`` replace its fields."""
    checks = overrides.pop(
        "checks",
        {
            Check.LIVENESS: CheckPolicy(("alpha", "beta")),
            Check.FACE_MATCH: CheckPolicy(("alpha", "beta"), max_far=1e-3),
        },
    )
    return Policy(overrides.pop("name", "p"), checks, **overrides)


def hang(seconds: float = 10_000) -> Reply:
    """A reply that comes only after ``seconds`` on the rig's clock (a vendor that hangs)."""

    async def reply(clock: FakeClock) -> httpx.Response:
        await clock.sleep(seconds)
        return answer()

    return reply


def dumps(decision: Any) -> str:
    """A decision's record as JSON text, to search it for what must not be there."""
    return json.dumps(decision.record.to_dict(), ensure_ascii=False)
