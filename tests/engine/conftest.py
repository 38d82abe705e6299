"""Fixtures of the end-to-end engine tests: the installed plugins and their simulators."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
    with run_sandbox(sim_host, [LINKFACE, TENCENT]) as box:
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
