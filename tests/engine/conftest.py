"""Fixtures of the end-to-end engine tests: the installed plugins and their simulators."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.canary_support import CanaryRig, CanaryStage
from engine.e2e_support import LINKFACE, TENCENT
from kycmux import PluginHost
from kycmux.simkit import Sandbox, run_sandbox
from kycmux.synthetic import DemoSet, write_demo_set


@pytest.fixture(scope="session")
def sim_host() -> PluginHost:
    """The real plugins, discovered as an application would discover them."""
    host = PluginHost.from_entry_points()
    assert {LINKFACE, TENCENT} <= set(host.vendors), host.failures
    return host


@pytest.fixture(scope="session")
def sim_sandbox(sim_host: PluginHost) -> Iterator[Sandbox]:
    """Both vendors' simulators on loopback, for the whole session."""
    # Captures with the caller's own digits (the opt-in): test_e2e_challenges.py covers
    # vendor-issued ones, on a sandbox of its own.
    with run_sandbox(sim_host, [LINKFACE, TENCENT], caller_challenges=True) as box:
        yield box


@pytest.fixture
def box(sim_sandbox: Sandbox) -> Iterator[Sandbox]:
    """The sandbox with no fault windows left over from another test, before or after."""
    for vendor in (LINKFACE, TENCENT):
        sim_sandbox.app(vendor).faults.clear()
    yield sim_sandbox
    for vendor in (LINKFACE, TENCENT):
        sim_sandbox.app(vendor).faults.clear()


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSet:
    """The labelled synthetic captures (subject P0001, impostor P0002, digits 9532)."""
    return write_demo_set(tmp_path_factory.mktemp("evidence"))


@pytest.fixture(scope="module")
def canary_stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanaryStage]:
    """The canary suite's simulators and evidence files (secrets planted), per module."""
    with CanaryStage.serve(tmp_path_factory.mktemp("canary")) as stage:
        yield stage


@pytest.fixture
def rig(
    canary_stage: CanaryStage, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> Iterator[CanaryRig]:
    """One canary test's view: engines, decisions and the final no-leak assertion."""
    yield from canary_stage.rig(caplog, tmp_path)
