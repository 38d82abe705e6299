"""Fixtures for tests that send many rows through both real simulators (compare, postgres).

Import them into a ``conftest.py``: ``from support.sim_fixtures import box, host, sims``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kycmux import PluginHost
from kycmux.simkit import Sandbox, run_sandbox

__all__ = ["VENDORS", "box", "host", "sims"]

LINKFACE, TENCENT = "linkface", "tencent_legacy"
VENDORS = (LINKFACE, TENCENT)


@pytest.fixture(scope="session")
def host() -> PluginHost:
    """The real plugins, discovered as an application would discover them."""
    host = PluginHost.from_entry_points()
    assert set(VENDORS) <= set(host.vendors), host.failures
    return host


@pytest.fixture(scope="session")
def sims(host: PluginHost) -> Iterator[Sandbox]:
    """Both vendors' simulators on loopback, for the whole session."""
    # Recorded captures with recorded digits, as offline comparisons send them (the opt-in).
    with run_sandbox(host, VENDORS, caller_challenges=True) as box:
        # Linkface's simulator allows 50 requests/s (burst 100) per account, like the vendor;
        # these tests send a few hundred in seconds. A 403 rate limit would be retried by the
        # engine, and the tests count requests per row exactly, so it is lifted here (before
        # the first request creates the account's bucket).
        box.app(LINKFACE).rate_per_s = 1_000_000.0
        yield box


@pytest.fixture
def box(sims: Sandbox) -> Iterator[Sandbox]:
    """The simulators, with no fault windows left over from another test."""
    for vendor in VENDORS:
        sims.app(vendor).faults.clear()
    yield sims
    for vendor in VENDORS:
        sims.app(vendor).faults.clear()
