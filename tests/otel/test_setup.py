"""Which providers the plugin reports to: the application's, the environment's, or none."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from kycmux_otel import EnvProviders


def test_nothing_named_sets_nothing_up() -> None:
    env = EnvProviders({"OTEL_SERVICE_NAME": "svc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    assert env.tracer_provider() is None
    assert env.meter_provider() is None


@pytest.mark.parametrize("value", ["true", "TRUE", " true "])
def test_the_sdk_disabled_sets_nothing_up(value: str) -> None:
    env = EnvProviders(
        {
            "OTEL_SDK_DISABLED": value,
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_METRICS_EXPORTER": "console",
        }
    )
    assert env.tracer_provider() is None
    assert env.meter_provider() is None


def test_console_traces_only() -> None:
    env = EnvProviders({"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"})
    provider = env.tracer_provider()
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "kycmux"
    assert env.meter_provider() is None
    assert env.tracer_provider() is provider  # built once
    provider.shutdown()


def test_the_service_name_from_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    # Resource.create reads the process environment itself.
    monkeypatch.setenv("OTEL_SERVICE_NAME", "kyc-api")
    env = EnvProviders({"OTEL_SERVICE_NAME": "kyc-api", "OTEL_METRICS_EXPORTER": "console"})
    provider = env.meter_provider()
    assert provider is not None
    assert provider._sdk_config.resource.attributes["service.name"] == "kyc-api"
    provider.shutdown()


def test_an_unknown_exporter_is_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kycmux.otel")
    env = EnvProviders({"OTEL_TRACES_EXPORTER": "zipkin_json,console"})
    provider = env.tracer_provider()
    assert provider is not None
    assert "OTEL_TRACES_EXPORTER=zipkin_json" in caplog.text
    provider.shutdown()


def test_otlp_comes_from_the_extra() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    env = EnvProviders(
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    )
    provider = env.tracer_provider()
    assert provider is not None
    processors = provider._active_span_processor._span_processors
    assert [type(p.span_exporter) for p in processors] == [OTLPSpanExporter]
    provider.shutdown()


_APP = """
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
trace.set_tracer_provider(app)

async def main():
    rig = make_rig()
    engine = rig.engine(policy())
    engine.host.register(kycmux_otel.plugin, "otel")
    async with engine:
        await engine.verify(Evidence(selfie=PNG, subject_id="s"))

anyio.run(main)
print("app spans:", sorted(s.name for s in spans.get_finished_spans()))
"""


def test_the_applications_provider_is_used_and_never_overridden(png_file: object) -> None:
    """A global provider set by the application wins over ``OTEL_TRACES_EXPORTER``: the
    spans go to it, and the console prints none."""
    code = f"PNG = {str(png_file)!r}\n" + textwrap.dedent(_APP)
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "app spans: ['kycmux.attempt', 'kycmux.decision']", done.stdout


_QUIET = """
import sys
import anyio

import kycmux_otel
from kycmux import Evidence
from kycmux.testing import make_rig, policy

async def main():
    rig = make_rig()
    engine = rig.engine(policy())
    engine.host.register(kycmux_otel.plugin, "otel")
    async with engine:
        for _ in range(3):
            await engine.verify(Evidence(selfie=PNG, subject_id="s"))

anyio.run(main)
print("imported:", sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""


def test_with_nothing_configured_opentelemetry_is_never_imported(png_file: object) -> None:
    """No provider set, no exporter named: decisions go through the installed plugin and
    OpenTelemetry is not even imported (its SDK alone takes a third of a second)."""
    code = f"PNG = {str(png_file)!r}\n" + textwrap.dedent(_QUIET)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported: []", done.stdout
