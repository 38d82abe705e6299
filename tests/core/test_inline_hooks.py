"""Declared-light vendor hooks run on the event loop; everything else, and a plugin caught
breaking the promise, on the vendor's lane.

Where a hook ran is told by the thread it ran on: the test's own (the event loop's) or a lane
worker (``kycmux-<vendor>-<n>``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import kycmux
from kycmux import (
    Check,
    CheckPolicy,
    Config,
    Engine,
    EngineSettings,
    Evidence,
    HttpClient,
    Outcome,
    PluginHost,
    Policy,
    Secret,
    SystemClock,
    VendorConfig,
    VendorSettings,
    VendorSpec,
)
from kycmux._transport._offload import BLOCKED_BUDGET, LATE_STRIKES, LIGHT_BUDGET, Watchdog
from kycmux.testing import CANARY, FakeVendor, answer

pytestmark = pytest.mark.anyio

PERSONAL = "司徒翾翀-330782196809174731"
STEPS = ("build_request", "sign", "parse")


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-inline")


class Light(FakeVendor):
    """A fake vendor declaring (or not) light hooks, noting the thread each hook ran on, and
    misbehaving in ``parse`` or ``build_request`` when asked to."""

    def __init__(
        self,
        name: str,
        *,
        light: bool = True,
        sleep: dict[str, float] | None = None,
        spin: dict[str, float] | None = None,
        raises: str | None = None,
    ) -> None:
        super().__init__(name, base_url=f"https://{name}.example.com")
        self.light = light
        self.sleep = sleep or {}
        self.spin = spin or {}
        self.raises = raises
        self.threads: list[tuple[str, int]] = []

    @kycmux.hookimpl
    def register_vendors(self) -> list[VendorSpec]:
        return [attrs.evolve(s, light_hooks=self.light) for s in super().register_vendors()]

    def _seen(self, hook: str) -> None:
        self.threads.append((hook, threading.get_ident()))
        time.sleep(self.sleep.get(hook, 0.0))
        end = time.thread_time() + self.spin.get(hook, 0.0)
        while time.thread_time() < end:  # this much CPU work, however busy the machine
            pass
        if self.raises == hook:
            raise KeyError(PERSONAL)

    @kycmux.hookimpl(wrapper=True, specname="build_request")
    def seen_build(self) -> Iterator[None]:
        self._seen("build_request")
        return (yield)

    @kycmux.hookimpl(wrapper=True, specname="sign")
    def seen_sign(self) -> Iterator[None]:
        self._seen("sign")
        return (yield)

    @kycmux.hookimpl(wrapper=True, specname="parse")
    def seen_parse(self) -> Iterator[None]:
        self._seen("parse")
        return (yield)

    def where(self, loop: int) -> list[tuple[str, str]]:
        """Each hook call so far, as (hook, "loop" or "lane")."""
        return [(hook, "loop" if ident == loop else "lane") for hook, ident in self.threads]


class Tap:
    """A cross-cutting plugin: it wraps every vendor's parse, and promised nothing."""

    @kycmux.hookimpl(wrapper=True)
    def parse(self) -> Iterator[None]:
        return (yield)


def engine_for(
    vendors: dict[str, Any],
    *,
    inline: bool = True,
    body: bytes | None = None,
    instances: dict[str, str] | None = None,
    attempt_timeout: float = 5.0,
) -> Engine:
    """An engine on the real clock; every vendor answers ``answer()`` (or ``body``)."""

    def handle(_request: httpx.Request) -> httpx.Response:
        return answer() if body is None else httpx.Response(200, content=body)

    host = PluginHost()
    for name, plugin in vendors.items():
        host.register(plugin, name, distribution=f"kycmux-fake-{name}")
    names = [n for n, p in vendors.items() if isinstance(p, FakeVendor)]
    configs = {
        n: VendorConfig(n, f"https://{n}.example.com", {"token": Secret(CANARY)}) for n in names
    }
    for instance, plugin in (instances or {}).items():
        configs[instance] = VendorConfig(
            instance, f"https://{instance}.example.com", {"token": Secret(CANARY)}, plugin=plugin
        )
    policies = [
        Policy(
            n,
            {Check.LIVENESS: CheckPolicy((n,))},
            deadline=10.0,
            lockout=None,
            vendors={n: VendorSettings(attempt_timeout=attempt_timeout)},
        )
        for n in configs
    ]
    config = Config(vendors=configs, engine=EngineSettings(inline_hooks=inline))
    http = HttpClient.create(async_transport=httpx.MockTransport(handle))
    return Engine.from_config(
        config, host=host, http=http, clock=SystemClock(), policies=policies, record_key=b"k"
    )


async def test_a_declared_vendor_runs_its_hooks_on_the_loop_an_undeclared_one_on_its_lane(
    evidence: Evidence,
) -> None:
    light, plain = Light("light"), Light("plain", light=False)
    async with engine_for({"light": light, "plain": plain}) as engine:
        assert (await engine.verify(evidence, policy="light")).outcome is Outcome.ACCEPT
        assert (await engine.verify(evidence, policy="plain")).outcome is Outcome.ACCEPT
    loop = threading.get_ident()
    assert light.where(loop) == [(hook, "loop") for hook in STEPS]
    assert plain.where(loop) == [(hook, "lane") for hook in STEPS]


async def test_an_instance_inherits_the_declaration(evidence: Evidence) -> None:
    light = Light("light")
    async with engine_for({"light": light}, instances={"second": "light"}) as engine:
        assert (await engine.verify(evidence, policy="second")).outcome is Outcome.ACCEPT
    assert light.where(threading.get_ident()) == [(hook, "loop") for hook in STEPS]


async def test_a_cross_cutting_plugin_keeps_the_vendor_on_its_lane(evidence: Evidence) -> None:
    light = Light("light")
    engine = engine_for({"light": light, "tap": Tap()})
    async with engine:
        assert (await engine.verify(evidence, policy="light")).outcome is Outcome.ACCEPT
    assert light.where(threading.get_ident()) == [(hook, "lane") for hook in STEPS]


def test_the_host_names_the_plugins_reaching_a_vendor_besides_its_own() -> None:
    host = PluginHost()
    host.register(Light("light"), "light")
    host.register(Light("other"), "other")
    assert host.cross_cutting("light") == ()  # core's defaults and another vendor do not count
    host.register(Tap(), "tap")
    assert host.cross_cutting("light") == ("tap",)


async def test_a_large_answer_is_read_on_the_lane(evidence: Evidence) -> None:
    padded = {"code": "OK", "live": True, "score": 0.9, "padding": "x" * 70_000}
    light = Light("light")
    async with engine_for({"light": light}, body=json.dumps(padded).encode()) as engine:
        assert (await engine.verify(evidence, policy="light")).outcome is Outcome.ACCEPT
    loop = threading.get_ident()
    assert light.where(loop) == [("build_request", "loop"), ("sign", "loop"), ("parse", "lane")]


async def test_the_engine_setting_keeps_every_vendor_on_its_lane(evidence: Evidence) -> None:
    light = Light("light")
    async with engine_for({"light": light}, inline=False) as engine:
        assert (await engine.verify(evidence, policy="light")).outcome is Outcome.ACCEPT
    assert light.where(threading.get_ident()) == [(hook, "lane") for hook in STEPS]


def test_the_engine_setting_is_read_from_the_file() -> None:
    config = Config.from_mapping({"engine": {"inline_hooks": False}}, {})
    assert config.engine.inline_hooks is False
    assert Config.from_mapping({}, {}).engine.inline_hooks is True


def test_the_declaration_must_be_a_bool() -> None:
    (spec,) = FakeVendor("fake").register_vendors()
    assert spec.light_hooks is False  # a plugin must choose
    with pytest.raises(TypeError, match="light_hooks"):
        attrs.evolve(spec, light_hooks="yes")


def demotions(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "kycmux.engine" and "declares light hooks" in r.getMessage()
    ]


@pytest.mark.parametrize(
    ("misbehaving", "detail"),
    [
        ({"sleep": {"parse": BLOCKED_BUDGET * 2}}, "held the event loop"),
        ({"spin": {"parse": LIGHT_BUDGET * 3}}, "of CPU"),
    ],
    ids=["blocked", "busy"],
)
async def test_a_plugin_breaking_its_promise_goes_back_to_its_lane_with_one_warning(
    evidence: Evidence, caplog: pytest.LogCaptureFixture, misbehaving: dict[str, Any], detail: str
) -> None:
    caplog.set_level(logging.WARNING, logger="kycmux.engine")
    slow = Light("slow", **misbehaving)
    async with engine_for({"slow": slow}) as engine:
        for _ in range(3):
            assert (await engine.verify(evidence, policy="slow")).outcome is Outcome.ACCEPT
    loop = threading.get_ident()
    first, later = slow.where(loop)[:3], slow.where(loop)[3:]
    assert first == [(hook, "loop") for hook in STEPS]
    assert later == [(hook, "lane") for hook in STEPS] * 2
    (warning,) = demotions(caplog)
    assert "plugin slow (kycmux-fake-slow)" in warning
    assert "parse, classify_error and normalize_score step" in warning
    assert detail in warning
    assert PERSONAL not in caplog.text


async def test_a_step_late_a_few_times_running_is_taken_for_a_blocking_plugin(
    evidence: Evidence, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kycmux.engine")
    # Late every time, but never long enough to be told from a busy machine at once.
    slow = Light("slow", sleep={"sign": LIGHT_BUDGET * 2})
    async with engine_for({"slow": slow}) as engine:
        for _ in range(LATE_STRIKES + 1):
            await engine.verify(evidence, policy="slow")
    signs = [where for hook, where in slow.where(threading.get_ident()) if hook == "sign"]
    assert signs == ["loop"] * LATE_STRIKES + ["lane"]
    (warning,) = demotions(caplog)
    assert f"over 2 ms {LATE_STRIKES} times in a row" in warning


def test_the_watchdog_forgives_a_lone_late_step_and_judges_each_plugin_alone() -> None:
    watch = Watchdog()
    late = (LIGHT_BUDGET + BLOCKED_BUDGET) / 2
    for _ in range(5):  # late, then on time: a busy machine, not the plugin
        assert watch.judge("a", "parse", 0.0001, late) is None
        assert watch.judge("a", "parse", 0.0001, 0.0001) is None
    for _ in range(LATE_STRIKES - 1):  # late in turns in two steps: neither is late running
        assert watch.judge("a", "parse", 0.0001, late) is None
        assert watch.judge("a", "sign", 0.0001, late) is None
    assert watch.judge("b", "parse", 0.0001, late) is None
    assert watch.demoted == set()
    assert watch.judge("a", "parse", 0.0001, late) is not None
    assert watch.demoted == {"a"}
    assert watch.judge("b", "parse", LIGHT_BUDGET * 2, LIGHT_BUDGET * 2) == "used 4.0 ms of CPU"
    assert watch.judge("c", "sign", 0.0, BLOCKED_BUDGET * 2) == "held the event loop for 40.0 ms"
    assert watch.demoted == {"a", "b", "c"}


def attempt_view(decision: Any) -> tuple[Any, ...]:
    first = decision.record.attempts[0]
    plugin = first.plugin or {}
    return (
        decision.outcome,
        decision.reasons,
        first.error_class,
        first.possibly_billed,
        plugin.get("plugin"),
        plugin.get("distribution"),
        plugin.get("hook"),
        plugin.get("exception"),
    )


async def test_an_inline_overrun_ends_as_a_lane_overrun(evidence: Evidence) -> None:
    seen = {}
    for inline in (True, False):
        slow = Light("slow", sleep={"parse": 0.4})
        async with engine_for({"slow": slow}, inline=inline, attempt_timeout=0.2) as engine:
            seen[inline] = await engine.verify(evidence, policy="slow")
        where = dict(slow.where(threading.get_ident()))
        assert where["parse"] == ("loop" if inline else "lane")
    assert attempt_view(seen[True]) == attempt_view(seen[False])
    assert attempt_view(seen[True])[2:] == (
        "answer_unread",
        True,
        "slow",
        "kycmux-fake-slow",
        "parse",
        "Timeout",
    )


async def test_an_inline_build_overrun_is_passed_over_as_on_the_lane(evidence: Evidence) -> None:
    seen = {}
    for inline in (True, False):
        slow = Light("slow", sleep={"build_request": 0.4})
        async with engine_for({"slow": slow}, inline=inline, attempt_timeout=0.2) as engine:
            decision = await engine.verify(evidence, policy="slow")
        (skip,) = decision.record.skipped
        seen[inline] = (decision.outcome, decision.reasons, skip.reason, skip.plugin)
    assert seen[True] == seen[False]
    assert seen[True][3]["exception"] == "Timeout"


async def test_an_inline_hook_raising_is_the_plugins_error_as_on_the_lane(
    evidence: Evidence, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen = {}
    for inline in (True, False):
        broken = Light("broken", raises="parse")
        async with engine_for({"broken": broken}, inline=inline) as engine:
            seen[inline] = await engine.verify(evidence, policy="broken")
        assert dict(broken.where(threading.get_ident()))["parse"] == ("loop" if inline else "lane")
    assert attempt_view(seen[True]) == attempt_view(seen[False])
    assert attempt_view(seen[True])[2:] == (
        "plugin_error",
        True,
        "broken",
        "kycmux-fake-broken",
        "parse",
        "KeyError",
    )
    assert PERSONAL not in caplog.text
    assert PERSONAL not in json.dumps(seen[True].record.to_dict(), ensure_ascii=False)
    assert not demotions(caplog)  # a bug is not a slow hook: the vendor stays on the loop
