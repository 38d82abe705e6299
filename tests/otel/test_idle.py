"""The installed plugin with nowhere to report costs a decision nothing: it declines through
``observes``, so the engine hands its observer thread no job; and it picks up a provider set
later from the next decision on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from kycmux import Engine, Evidence, RetryPolicy, VendorSettings
from kycmux.testing import answer, make_rig, policy
from kycmux_otel import EnvProviders, Telemetry
from kycmux_otel import _telemetry as telemetry

pytestmark = pytest.mark.anyio


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-1")


@pytest.fixture(autouse=True)
def no_global_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever another test did to the process's globals: none set, to begin with."""
    monkeypatch.setattr(telemetry, "app_tracer_provider", lambda: None)
    monkeypatch.setattr(telemetry, "app_meter_provider", lambda: None)


class Counting:
    """Stands in for the engine's observer runner: counts the jobs handed to its thread."""

    def __init__(self, engine: Engine) -> None:
        self.inner = engine._observers._runner
        self.jobs = 0
        engine._observers._runner = self  # type: ignore[assignment]

    def post(self, lane: str, fn: Any, *args: Any) -> None:
        self.jobs += 1
        self.inner.post(lane, fn, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Watched(EnvProviders):
    """The environment's providers, noting the thread that built them."""

    built_on: str | None = None

    def _providers(self) -> Any:
        self.built_on = threading.current_thread().name
        return super()._providers()


async def test_an_idle_plugin_hands_the_observers_no_job_per_decision(
    evidence: Evidence,
) -> None:
    env = Watched({})
    plugin = Telemetry(env=env)
    engine = make_rig().engine(policy())
    engine.host.register(plugin, "otel")
    runner = Counting(engine)
    async with engine:
        await engine.verify(evidence)
        await engine.drain()
        first = runner.jobs
        for _ in range(5):
            await engine.verify(evidence)
        await engine.drain()
    # Before the environment was read, the plugin was asked: resolving it (which may import
    # the SDK) happened on the observers' thread, never the event loop's.
    assert first >= 1
    assert env.built_on is not None
    assert env.built_on.startswith("kycmux-observers")
    assert runner.jobs == first  # then nothing: no job for an attempt or a decision
    assert plugin._tracers == {}
    assert plugin._instruments == {}


async def test_a_plugin_resolved_to_nothing_declines_from_the_first_decision(
    evidence: Evidence,
) -> None:
    env = EnvProviders({})
    assert env.tracer_provider() is None  # resolved already: nothing named
    engine = make_rig().engine(policy())
    engine.host.register(Telemetry(env=env), "otel")
    runner = Counting(engine)
    async with engine:
        for _ in range(3):
            await engine.verify(evidence)
    assert runner.jobs == 0


def test_the_plugin_answers_per_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    idle = Telemetry(env=EnvProviders({}))
    assert idle.observes("on_attempt")
    assert idle.observes("on_decision")
    idle._env.meter_provider()
    assert not idle.observes("on_attempt")
    assert not idle.observes("on_decision")
    assert idle.observes("on_breaker_transition")  # always: the state gauge keeps up
    monkeypatch.setattr(telemetry, "app_tracer_provider", lambda: object())
    assert idle.observes("on_decision")
    assert not idle.observes("on_attempt")  # attempts give metrics only
    monkeypatch.setattr(telemetry, "app_meter_provider", lambda: object())
    assert idle.observes("on_attempt")
    own = Telemetry(meter_provider=MeterProvider(), env=EnvProviders({}))
    assert own.observes("on_attempt")
    assert own.observes("on_decision")


async def test_a_meter_provider_set_later_counts_from_the_next_decision_with_breaker_states(
    monkeypatch: pytest.MonkeyPatch, evidence: Evidence
) -> None:
    env = EnvProviders({})
    env.meter_provider()
    plugin = Telemetry(env=env)
    rig = make_rig()
    no_retry = VendorSettings(retry=RetryPolicy(max_attempts=1))
    engine = rig.engine(policy(vendors={"alpha": no_retry}))
    engine.host.register(plugin, "otel")
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    async with engine:
        for _ in range(5):  # opens alpha's breaker while nothing reports anywhere
            rig.script("alpha", answer("DOWN"))
            await engine.verify(evidence)
        await engine.drain()
        monkeypatch.setattr(telemetry, "app_meter_provider", lambda: provider)
        await engine.verify(Evidence(selfie=evidence.selfie, subject_id="other"))
        await engine.drain()
    found: dict[str, Any] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    labels = dict(point.attributes or {})
                    key = metric.name + ":" + str(labels.get("kycmux.breaker.state", ""))
                    if labels.get("kycmux.vendor", "alpha") == "alpha":
                        found[key] = getattr(point, "value", getattr(point, "count", None))
    provider.shutdown()
    assert found["kycmux.decisions:"] == 1  # the one decision after the provider was set
    # The transition happened before: the gauge knows alpha's breaker is open all the same.
    assert (found["kycmux.breaker.state:open"], found["kycmux.breaker.state:closed"]) == (1, 0)


_LATER = """
import anyio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import kycmux_otel
from kycmux import Evidence
from kycmux.testing import make_rig, policy

spans = InMemorySpanExporter()
app = TracerProvider()
app.add_span_processor(SimpleSpanProcessor(spans))

async def main():
    engine = make_rig().engine(policy())
    engine.host.register(kycmux_otel.plugin, "otel")
    async with engine:
        for _ in range(3):
            await engine.verify(Evidence(selfie=PNG, subject_id="s"))
        await engine.drain()
        before = engine._observers.hops
        await engine.verify(Evidence(selfie=PNG, subject_id="s"))
        await engine.drain()
        print("idle hops:", engine._observers.hops - before)
        trace.set_tracer_provider(app)  # the application, after the engine started
        await engine.verify(Evidence(selfie=PNG, subject_id="s"))

anyio.run(main)
print("app spans:", sorted(s.name for s in spans.get_finished_spans()))
"""


def test_a_global_provider_set_after_the_engine_started_gets_the_next_decision(
    png_file: Path,
) -> None:
    code = f"PNG = {str(png_file)!r}\n" + textwrap.dedent(_LATER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "idle hops: 0",
        "app spans: ['kycmux.attempt', 'kycmux.decision']",
    ], done.stdout
