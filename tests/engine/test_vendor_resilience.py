"""A vendor's breaker, rate limit and retry budget: one per engine, from its own table.

The old place, ``[policies.<p>.vendors.<v>] breaker / rate_limit`` (or ``VendorSettings`` in
Python), is still read for one release: moved to the vendor with a ``FutureWarning`` that names
the old key and the new place. Settings that disagree are a ``PolicyError`` naming the old key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator

import httpx
import pytest

from kycmux import (
    BreakerSettings,
    Check,
    CheckPolicy,
    Config,
    Engine,
    HttpClient,
    PluginHost,
    Policy,
    RateLimitSettings,
    VendorSettings,
)
from kycmux.exceptions import PolicyError
from kycmux.resilience import BreakerState, Outcome
from kycmux.testing import FakeClock, FakeVendor

VENDORS = """
[vendors.alpha]
token = "${T}"
[vendors.beta]
token = "${T}"
"""
POLICY_P = """
[policies.p.liveness]
vendors = ["alpha", "beta"]
"""
POLICY_Q = """
[policies.q.face_match]
vendors = ["alpha"]
"""


@pytest.fixture
def made() -> Iterator[list[Engine]]:
    """Engines built by a test, closed after it."""
    engines: list[Engine] = []
    yield engines
    for engine in engines:
        engine.close()


def build(made: list[Engine], toml: str, *policies: Policy) -> Engine:
    """An engine over fake ``alpha`` and ``beta`` from ``VENDORS`` plus ``toml``."""
    host = PluginHost()
    for name in ("alpha", "beta"):
        host.register(FakeVendor(name, base_url=f"https://{name}.example.com"), name)
    config = Config.from_mapping(tomllib.loads(VENDORS + toml), host.vendors, {"T": "t"})

    async def never(request: httpx.Request) -> httpx.Response:  # pragma: no cover - no calls
        raise AssertionError(request.url)

    engine = Engine.from_config(
        config,
        host=host,
        http=HttpClient.create(async_transport=httpx.MockTransport(never)),
        clock=FakeClock(),
        record_key=b"k",
        policies=policies,
    )
    made.append(engine)
    return engine


def deprecated(key: str, vendor: str) -> str:
    """The FutureWarning's text: the old key, then the new place."""
    return rf"{re.escape(key)} is deprecated.*\[vendors\.{vendor}\.resilience\]"


# --- [vendors.<v>.resilience] ---------------------------------------------------------------


def test_the_vendor_table_reaches_the_engine_and_others_keep_the_defaults(
    made: list[Engine],
) -> None:
    engine = build(
        made,
        POLICY_P
        + """
[vendors.alpha.resilience.breaker]
min_calls = 2
failure_ratio = 0.5
open_seconds = 7
window = 20
[vendors.alpha.resilience.rate_limit]
rate = 3
burst = 2
max_in_flight = 4
[vendors.alpha.resilience.retry_budget]
ratio = 0.5
min_per_second = 2
""",
    )
    breaker = engine.breaker("alpha")
    assert breaker.settings == BreakerSettings(
        min_calls=2, failure_ratio=0.5, open_seconds=7.0, window=20.0
    )
    for _ in range(2):  # min_calls failures open it, for open_seconds
        permit = breaker.acquire()
        assert permit is not None
        permit.record(Outcome.FAILURE)
    assert breaker.stats().state is BreakerState.OPEN
    assert breaker.stats().retry_after == pytest.approx(7.0)

    limiter = engine.limiter("alpha")
    assert limiter.settings == RateLimitSettings(rate=3.0, burst=2, max_in_flight=4)
    assert limiter.tokens == pytest.approx(2)
    # No public accessor for the retry budget: read the engine's guards.
    budget = engine.retry_budget("alpha")
    assert (budget.ratio, budget.min_per_second) == (0.5, 2.0)

    assert engine.breaker("beta").settings == BreakerSettings()
    assert engine.limiter("beta").settings == RateLimitSettings()
    beta_budget = engine.retry_budget("beta")
    assert (beta_budget.ratio, beta_budget.min_per_second) == (0.2, 10.0)


# --- the old per-policy place: honoured, with a FutureWarning -------------------------------


@pytest.mark.parametrize(
    ("name", "table", "expected"),
    [
        ("breaker", "open_seconds = 3", BreakerSettings(open_seconds=3.0)),
        ("rate_limit", "max_in_flight = 2", RateLimitSettings(max_in_flight=2)),
    ],
)
def test_the_old_toml_place_is_honoured_with_a_warning(
    made: list[Engine], name: str, table: str, expected: object
) -> None:
    toml = f"{POLICY_P}\n[policies.p.vendors.alpha.{name}]\n{table}\n"
    with pytest.warns(FutureWarning, match=deprecated(f"policies.p.vendors.alpha.{name}", "alpha")):
        engine = build(made, toml)
    guard = engine.breaker if name == "breaker" else engine.limiter
    assert guard("alpha").settings == expected
    assert guard("beta").settings == type(expected)()


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("breaker", BreakerSettings(min_calls=3)),
        ("rate_limit", RateLimitSettings(burst=1)),
    ],
)
def test_the_old_python_place_is_honoured_with_a_warning(
    made: list[Engine], name: str, settings: object
) -> None:
    policy = Policy(
        "py",
        {Check.LIVENESS: CheckPolicy(("beta",))},
        vendors={"beta": VendorSettings(**{name: settings})},
    )
    with pytest.warns(FutureWarning, match=deprecated(f"policies.py.vendors.beta.{name}", "beta")):
        engine = build(made, "", policy)
    guard = engine.breaker if name == "breaker" else engine.limiter
    assert guard("beta").settings == settings


@pytest.mark.parametrize(("name", "field"), [("breaker", "open_seconds"), ("rate_limit", "burst")])
def test_two_policies_disagreeing_are_refused(made: list[Engine], name: str, field: str) -> None:
    toml = (
        f"{POLICY_P}\n[policies.p.vendors.alpha.{name}]\n{field} = 3\n"
        f"{POLICY_Q}\n[policies.q.vendors.alpha.{name}]\n{field} = 4\n"
    )
    with pytest.warns(FutureWarning), pytest.raises(PolicyError) as info:
        build(made, toml)
    assert info.value.key == f"policies.q.vendors.alpha.{name}"
    assert "differs from policy 'p'" in info.value.rule


@pytest.mark.parametrize(("name", "field"), [("breaker", "open_seconds"), ("rate_limit", "burst")])
def test_a_policy_disagreeing_with_the_vendor_table_is_refused(
    made: list[Engine], name: str, field: str
) -> None:
    toml = (
        f"{POLICY_P}\n[vendors.alpha.resilience.{name}]\n{field} = 3\n"
        f"[policies.p.vendors.alpha.{name}]\n{field} = 4\n"
    )
    with pytest.raises(PolicyError) as info:  # refused before any warning
        build(made, toml)
    assert info.value.key == f"policies.p.vendors.alpha.{name}"
    assert f"vendors.alpha.resilience.{name}" in info.value.rule


def test_a_vendor_table_equal_to_the_defaults_still_wins(made: list[Engine]) -> None:
    toml = (
        f"{POLICY_P}\n[vendors.alpha.resilience.breaker]\nopen_seconds = 15\n"
        "[policies.p.vendors.alpha.breaker]\nopen_seconds = 3\n"
    )
    with pytest.raises(PolicyError, match=r"vendors\.alpha\.resilience\.breaker"):
        build(made, toml)


def test_agreeing_policies_warn_once_each_and_share_one_breaker(made: list[Engine]) -> None:
    toml = (
        f"{POLICY_P}\n[policies.p.vendors.alpha.breaker]\nopen_seconds = 3\n"
        f"{POLICY_Q}\n[policies.q.vendors.alpha.breaker]\nopen_seconds = 3\n"
        "[vendors.alpha.resilience.breaker]\nopen_seconds = 3\n"
    )
    with pytest.warns(FutureWarning) as caught:
        engine = build(made, toml)
    assert sorted(str(w.message).split(" ")[0] for w in caught) == [
        "policies.p.vendors.alpha.breaker",
        "policies.q.vendors.alpha.breaker",
    ]
    assert engine.breaker("alpha").settings == BreakerSettings(open_seconds=3.0)


def test_an_experiment_does_not_repeat_the_warning(made: list[Engine]) -> None:
    toml = (
        f"{POLICY_P}\n[policies.p.vendors.alpha.breaker]\nopen_seconds = 3\n"
        '[experiments.x]\npolicy = "p"\n[experiments.x.arms.a]\nvendors = ["beta"]\n'
        "[experiments.x.arms.b]\n"
    )
    with pytest.warns(FutureWarning) as caught:
        build(made, toml)
    assert [str(w.message).split(" ")[0] for w in caught] == ["policies.p.vendors.alpha.breaker"]
