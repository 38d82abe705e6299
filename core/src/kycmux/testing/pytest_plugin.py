"""The kit's pytest fixtures, registered as the ``kycmux`` pytest plugin (``pytest11``).

Nothing here is used unless a test asks for it: no fixture is auto-used and loading the plugin
imports no simulator or engine machinery. A plugin's tests name their vendor once, by
overriding ``kycmux_vendor`` (the conformance suite does it from its ``vendor`` attribute)::

    @pytest.fixture(scope="class")
    def kycmux_vendor() -> str:
        return "myvendor"
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kycmux import Config, Engine, PluginHost, Policy, VendorSpec
    from kycmux.simkit import FaultPlan, RunningSimulator, Sandbox
    from kycmux.synthetic import DemoSet
    from kycmux.testing._clock import FakeClock

__all__ = [
    "EngineFactory",
    "kycmux_clock",
    "kycmux_config",
    "kycmux_demo",
    "kycmux_engine",
    "kycmux_faults",
    "kycmux_host",
    "kycmux_plugin",
    "kycmux_sandbox",
    "kycmux_simulator",
    "kycmux_spec",
    "kycmux_vendor",
]

EngineFactory = Callable[..., "Engine"]
RECORD_KEY = b"kycmux-kit-record-key"


@pytest.fixture(scope="class")
def kycmux_vendor() -> str:
    """The vendor under test: override this fixture (or set ``vendor`` on the suite)."""
    pytest.fail("override the kycmux_vendor fixture with your vendor's name")


@pytest.fixture(scope="class")
def kycmux_plugin(kycmux_vendor: str) -> object:
    """The installed plugin that registers the vendor (``kycmux`` entry points); override it
    to test a plugin object that is not installed."""
    from kycmux import PluginHost

    installed = PluginHost.from_entry_points()
    if kycmux_vendor not in installed.vendors:
        pytest.fail(f"no installed plugin registers {kycmux_vendor!r}: {installed.failures}")
    return installed.plugin_for(kycmux_vendor)


@pytest.fixture(scope="class")
def kycmux_host(kycmux_vendor: str, kycmux_plugin: object) -> PluginHost:
    """A plugin host with the vendor's plugin alone (and core's defaults)."""
    from kycmux import PluginHost

    host = PluginHost()
    if not host.register(kycmux_plugin, kycmux_vendor):
        pytest.fail(f"the plugin was refused: {host.failures}")
    return host


@pytest.fixture(scope="class")
def kycmux_spec(kycmux_host: PluginHost, kycmux_vendor: str) -> VendorSpec:
    """The vendor's spec, as registered."""
    return kycmux_host.vendor(kycmux_vendor)


@pytest.fixture(scope="session")
def kycmux_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSet:
    """The synthetic demo captures (``kycmux.synthetic``) every simulator understands."""
    from kycmux.synthetic import write_demo_set

    return write_demo_set(tmp_path_factory.mktemp("kycmux-demo"))


@pytest.fixture(scope="class")
def kycmux_sandbox(kycmux_host: PluginHost, kycmux_vendor: str) -> Iterator[Sandbox]:
    """The vendor's own simulator (its spec's ``simulator`` factory) on loopback."""
    from kycmux.simkit import run_sandbox

    if kycmux_host.vendor(kycmux_vendor).simulator is None:
        pytest.fail(f"{kycmux_vendor}'s spec declares no simulator")
    with run_sandbox(kycmux_host, [kycmux_vendor]) as box:
        yield box


@pytest.fixture
def kycmux_simulator(kycmux_sandbox: Sandbox, kycmux_vendor: str) -> Iterator[RunningSimulator]:
    """The running simulator, with no fault window left from another test (before or after)."""
    running = kycmux_sandbox.running[kycmux_vendor]
    faults = getattr(running.app, "faults", None)
    if faults is not None:
        faults.clear()
    yield running
    if faults is not None:
        faults.clear()


@pytest.fixture
def kycmux_faults(kycmux_simulator: RunningSimulator) -> FaultPlan:
    """Fault injection into the simulator: ``kycmux_faults.inject("vendor_error", count=1)``
    (a ``SimulatorApp`` simulator; windows are cleared after the test)."""
    faults: FaultPlan | None = getattr(kycmux_simulator.app, "faults", None)
    if faults is None:
        pytest.fail("the simulator is not a SimulatorApp: it has no fault plan")
    return faults


@pytest.fixture
def kycmux_config(
    kycmux_sandbox: Sandbox, kycmux_host: PluginHost, kycmux_simulator: RunningSimulator
) -> Config:
    """A validated sandbox ``Config`` reaching the simulator with its own fake credentials."""
    return kycmux_sandbox.config(kycmux_host)


@pytest.fixture
def kycmux_clock() -> FakeClock:
    """A ``FakeClock`` starting now: the engine's time moves only when the test moves it (its
    wall clock starts at the real time, since a simulator checks signatures' timestamps)."""
    import time

    from kycmux.testing._clock import FakeClock

    return FakeClock(start=time.time())


@pytest.fixture
def kycmux_engine(
    kycmux_config: Config,
    kycmux_host: PluginHost,
    kycmux_clock: FakeClock,
    kycmux_spec: VendorSpec,
) -> EngineFactory:
    """``kycmux_engine(policy=None, host=None, **options)``: an engine over the simulator on
    the fake clock, deciding under ``single_vendor_policy`` by default; use it as
    ``async with kycmux_engine() as engine:``."""
    from kycmux import Engine
    from kycmux.testing._policy import single_vendor_policy

    def make(
        policy: Policy | None = None, host: PluginHost | None = None, **options: Any
    ) -> Engine:
        options.setdefault("record_key", RECORD_KEY)
        chosen = policy or single_vendor_policy(kycmux_spec)
        return Engine.from_config(
            kycmux_config,
            host=host or kycmux_host,
            clock=kycmux_clock,
            policies=[chosen],
            **options,
        )

    return make
