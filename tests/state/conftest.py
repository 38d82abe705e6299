"""Fixtures of the shared-state tests: one real Redis for the session, and both stores.

``state`` runs a test once on ``MemoryState`` and once on ``RedisState`` (a namespace of its
own on the session's server), both on a ``FakeClock`` whose monotonic and wall-clock readings
are the same number: ``MemoryState`` times rate tokens and budgets on ``monotonic()``,
``RedisState`` everything on ``time()``, and equal readings make their arithmetic, and so
their answers, identical to the last bit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from kycmux.state import MemoryState, RedisState, SharedState
from kycmux.testing import FakeClock
from support.redis_server import RedisServer

T0 = 1_700_000_000.0


def _clock() -> FakeClock:
    return FakeClock(start=T0, monotonic_start=T0)


def _namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def new_clock() -> Callable[[], FakeClock]:
    """Makes fake clocks whose two readings start at the same ``T0``."""
    return _clock


@pytest.fixture
def new_namespace() -> Callable[[], str]:
    """Makes namespaces no other test uses (``t`` and twelve hex digits)."""
    return _namespace


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's server, running, answering and empty."""
    redis_server.resume()
    redis_server.start()
    redis_server.flushall()
    return redis_server.url


@pytest.fixture
def clock() -> FakeClock:
    return _clock()


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[SharedState]:
    store: SharedState
    if request.param == "memory":
        store = MemoryState(clock=clock)
    else:
        url = request.getfixturevalue("redis_url")
        # A generous bound: a loaded CI machine must not turn into a flaky test.
        store = RedisState.from_url(url, clock=clock, namespace=_namespace(), timeout=5.0)
    yield store
    await store.aclose()
