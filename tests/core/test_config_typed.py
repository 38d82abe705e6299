"""The typed configuration schema: every table structured by one converter.

An unknown key is refused with its dotted path and the valid keys; a value of the wrong type
names the rule and never the value; per-vendor resilience lives in ``[vendors.<v>.resilience]``
and the old per-policy place still works for one release, with a ``FutureWarning``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kycmux import (
    BreakerSettings,
    Config,
    Engine,
    EngineSettings,
    PluginHost,
    RateLimitSettings,
    RetryBudgetSettings,
    VendorResilience,
)
from kycmux.exceptions import ConfigError, MissingSecretError, PolicyError
from kycmux.testing import FakeVendor

CANARY = "canary-5e1d-not-a-number"
ENV = {"T": "token-value", "CANARY": CANARY}


@pytest.fixture
def host() -> PluginHost:
    made = PluginHost()
    made.register(FakeVendor("alpha"), "a")
    made.register(FakeVendor("beta"), "b")
    return made


def load(host: PluginHost, data: dict[str, Any], env: dict[str, str] = ENV) -> Config:
    return Config.from_mapping(data, host.vendors, env=env)


def vendors(**extra: Any) -> dict[str, Any]:
    return {"alpha": {"token": "${T}", **extra}, "beta": {"token": "${T}"}}


def policy(**extra: Any) -> dict[str, Any]:
    return {"default": {"liveness": {"vendors": ["alpha", "beta"]}, **extra}}


# --- unknown keys: the dotted path and the valid keys --------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "valid"),
    [
        ({"vendor": {}}, "vendor", "engine, experiments, policies, vendors"),
        ({"engine": {"polcy": "x"}}, "engine.polcy", "async_backend, inline_hooks, policy"),
        (
            {"vendors": vendors(resilience={"breakr": {}})},
            "vendors.alpha.resilience.breakr",
            "breaker, rate_limit, retry_budget",
        ),
        (
            {"vendors": vendors(resilience={"breaker": {"windows": 3}})},
            "vendors.alpha.resilience.breaker.windows",
            "buckets, failure_ratio, min_calls, open_seconds, probe_lease, window",
        ),
        (
            {"vendors": vendors(), "policies": policy(deadlin=3)},
            "policies.default.deadlin",
            "deadline, face_match, hedge_after",
        ),
        (
            {"vendors": vendors(), "policies": policy(lockout={"limits": 3})},
            "policies.default.lockout.limits",
            "capture_limit, cooldown, limit, memory",
        ),
        (
            {
                "vendors": vendors(),
                "policies": {"default": {"liveness": {"vendors": ["alpha"], "mod": "all"}}},
            },
            "policies.default.liveness.mod",
            "allow_extrapolation, combine, max_far, mode, raw_thresholds, vendors",
        ),
        (
            {"vendors": vendors(), "policies": policy(vendors={"alpha": {"retries": 2}})},
            "policies.default.vendors.alpha.retries",
            "attempt_timeout, breaker, rate_limit, retry",
        ),
        (
            {
                "vendors": vendors(),
                "policies": policy(),
                "experiments": {"e": {"policy": "default", "shadow": "beta", "sampel": 0.5}},
            },
            "experiments.e.sampel",
            "max_delay, max_far, on_late, policy, raw_thresholds, salt, sample",
        ),
    ],
)
def test_an_unknown_key_is_named_with_the_valid_ones(
    host: PluginHost, data: dict[str, Any], key: str, valid: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(host, data)
    assert info.value.key == key
    assert "unknown" in info.value.rule
    assert valid in info.value.rule


def test_policy_and_experiment_problems_are_policy_errors(host: PluginHost) -> None:
    with pytest.raises(PolicyError):
        load(host, {"vendors": vendors(), "policies": policy(deadlin=3)})


# --- wrong values: the rule, never the value -----------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "rule"),
    [
        (
            {"vendors": vendors(resilience={"breaker": {"min_calls": "${CANARY}"}})},
            "vendors.alpha.resilience.breaker.min_calls",
            "type int",
        ),
        (
            {"vendors": vendors(resilience={"rate_limit": {"burst": 2.5}})},
            "vendors.alpha.resilience.rate_limit.burst",
            "type int",
        ),
        (
            {"vendors": vendors(resilience={"retry_budget": {"ratio": "${CANARY}"}})},
            "vendors.alpha.resilience.retry_budget.ratio",
            "type float",
        ),
        (
            {"vendors": vendors(resilience={"breaker": {"failure_ratio": 2.0}})},
            "vendors.alpha.resilience.breaker.failure_ratio",
            "",
        ),
        (
            {"vendors": vendors(), "policies": policy(deadline="${CANARY}")},
            "policies.default.deadline",
            "type float",
        ),
        (
            {"vendors": vendors(), "policies": policy(deadline=True)},
            "policies.default.deadline",
            "type float",
        ),
        (
            {"vendors": vendors(), "policies": policy(deadline=-1.0)},
            "policies.default.deadline",
            "",
        ),
        (
            {
                "vendors": vendors(),
                "policies": {"default": {"liveness": {"vendors": ["alpha"], "mode": "${CANARY}"}}},
            },
            "policies.default.liveness.mode",
            "must be one of failover, all",
        ),
        (
            {"vendors": vendors(), "policies": {"default": {"liveness": {"vendors": "alpha"}}}},
            "policies.default.liveness.vendors",
            "list of vendor names",
        ),
        ({"engine": {"record_key": CANARY}}, "engine.record_key", "${ENV_VAR} reference"),
        ({"engine": {"async_backend": "${CANARY}"}}, "engine.async_backend", "one of"),
        ({"engine": {"policy": 3}}, "engine.policy", "type str"),
    ],
)
def test_a_wrong_value_names_key_and_rule_never_the_value(
    host: PluginHost, data: dict[str, Any], key: str, rule: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(host, data)
    assert info.value.key == key
    assert rule in info.value.rule
    shown = f"{info.value} {info.value!r} {info.value.args}"
    assert CANARY not in shown
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or CANARY not in repr(info.value.__context__)


def test_an_unset_variable_anywhere_is_named_by_its_key(host: PluginHost) -> None:
    data = {"vendors": vendors(resilience={"rate_limit": {"rate": "${RATE_NOT_SET}"}})}
    with pytest.raises(MissingSecretError) as info:
        load(host, data)
    assert info.value.key == "vendors.alpha.resilience.rate_limit.rate"
    assert "RATE_NOT_SET" in str(info.value)


def test_a_vendor_no_plugin_provides_is_refused_naming_the_loaded_ones(host: PluginHost) -> None:
    with pytest.raises(ConfigError) as info:
        load(host, {"vendors": {"gamma": {}}})
    assert info.value.key == "vendors.gamma"
    assert "alpha, beta" in info.value.rule


# --- typed results ------------------------------------------------------------------------


def test_tables_become_typed_objects(host: PluginHost) -> None:
    data = {
        "vendors": vendors(
            resilience={
                "breaker": {"window": 10, "min_calls": "${N}"},
                "rate_limit": {"rate": 5, "max_in_flight": 4},
                "retry_budget": {"ratio": 0.1},
            }
        ),
        "policies": policy(deadline=3, lockout=False),
        "engine": {"policy": "default", "async_backend": "httpx", "record_key": "${T}"},
    }
    config = load(host, data, {**ENV, "N": "7"})
    alpha = config.vendors["alpha"]
    assert alpha.resilience == VendorResilience(
        breaker=BreakerSettings(window=10.0, min_calls=7),
        rate_limit=RateLimitSettings(rate=5.0, max_in_flight=4),
        retry_budget=RetryBudgetSettings(ratio=0.1),
    )
    assert config.vendors["beta"].resilience == VendorResilience()
    assert config.policies["default"].deadline == 3.0
    assert config.policies["default"].lockout is None
    assert isinstance(config.engine, EngineSettings)
    assert config.engine.async_backend == "httpx"
    assert config.engine.record_key is not None
    assert "token-value" not in repr(config.engine)


# --- per-vendor resilience, and the deprecated per-policy place ----------------------------


def engine(host: PluginHost, data: dict[str, Any]) -> Engine:
    return Engine.from_config(load(host, data), host=host)


def test_the_vendor_resilience_table_configures_the_engines_breaker(host: PluginHost) -> None:
    data = {
        "vendors": vendors(resilience={"breaker": {"min_calls": 9}}),
        "policies": policy(),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        made = engine(host, data)
    try:
        assert made.breaker("alpha").settings.min_calls == 9
        assert made.breaker("beta").settings == BreakerSettings()
    finally:
        made.close()


def test_a_per_policy_breaker_still_works_with_a_future_warning(host: PluginHost) -> None:
    data = {
        "vendors": vendors(),
        "policies": policy(vendors={"alpha": {"breaker": {"min_calls": 11}}}),
    }
    with pytest.warns(FutureWarning, match=r"policies\.default\.vendors\.alpha\.breaker"):
        made = engine(host, data)
    try:
        assert made.breaker("alpha").settings.min_calls == 11
    finally:
        made.close()


def test_a_per_policy_rate_limit_still_works_with_a_future_warning(host: PluginHost) -> None:
    data = {
        "vendors": vendors(),
        "policies": policy(vendors={"beta": {"rate_limit": {"max_in_flight": 2}}}),
    }
    with pytest.warns(FutureWarning, match=r"vendors\.beta\.resilience"):
        made = engine(host, data)
    try:
        assert made.limiter("beta").settings.max_in_flight == 2
    finally:
        made.close()


def test_two_policies_may_not_give_one_vendor_two_breakers(host: PluginHost) -> None:
    second = {"liveness": {"vendors": ["alpha"]}, "vendors": {"alpha": {"breaker": {"window": 5}}}}
    data = {
        "vendors": vendors(),
        "policies": {**policy(vendors={"alpha": {"breaker": {"window": 9}}}), "other": second},
    }
    with pytest.warns(FutureWarning), pytest.raises(PolicyError) as info:
        engine(host, data)
    assert info.value.key == "policies.other.vendors.alpha.breaker"
    assert "one per engine" in info.value.rule


def test_a_per_policy_breaker_contradicting_the_vendors_own_is_refused(host: PluginHost) -> None:
    data = {
        "vendors": vendors(resilience={"breaker": {"window": 9}}),
        "policies": policy(vendors={"alpha": {"breaker": {"window": 5}}}),
    }
    with pytest.raises(PolicyError) as info:
        engine(host, data)
    assert info.value.key == "policies.default.vendors.alpha.breaker"
    assert "vendors.alpha.resilience.breaker" in info.value.rule


# --- any table: a ConfigError or a Config, nothing else ------------------------------------

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 50),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["${T}", "${CANARY}", "failover", "all", "alpha", "beta", CANARY, ""]),
    st.lists(st.sampled_from(["alpha", "beta", "gamma"]), max_size=3),
)
_keys = st.sampled_from(
    [
        "deadline",
        "hedge_after",
        "liveness",
        "face_match",
        "vendors",
        "mode",
        "combine",
        "max_far",
        "lockout",
        "limit",
        "breaker",
        "rate_limit",
        "window",
        "rate",
        "attempt_timeout",
        "retry",
        "resilience",
        "token",
        "policy",
        "junk",
    ]
)
_tables = st.recursive(
    _leaf, lambda inner: st.dictionaries(_keys, inner, max_size=4), max_leaves=12
)


@settings(max_examples=300, deadline=None)
@given(
    vendor_table=st.dictionaries(_keys, _tables, max_size=4),
    policy_table=st.dictionaries(_keys, _tables, max_size=4),
    engine_table=st.dictionaries(_keys, _tables, max_size=3),
)
def test_any_tables_load_or_raise_a_config_error_that_hides_values(
    vendor_table: dict[str, Any], policy_table: dict[str, Any], engine_table: dict[str, Any]
) -> None:
    specs = PluginHost()
    specs.register(FakeVendor("alpha"), "a")
    specs.register(FakeVendor("beta"), "b")
    data = {
        "vendors": {"alpha": {"token": "${T}", **vendor_table}},
        "policies": {"p": policy_table},
        "engine": engine_table,
    }
    try:
        config = Config.from_mapping(data, specs.vendors, env=ENV)
    except ConfigError as error:
        problem: ConfigError | None = error
    else:
        problem = None
        deadline = config.policies["p"].deadline
        assert math.isfinite(deadline)
        assert deadline > 0
    if problem is not None:
        assert problem.key
        assert CANARY not in f"{problem} {problem!r}"


# --- shapes, and values from variables -----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "rule"),
    [
        ({"engine": 5}, "engine", "must be a table"),
        ({"vendors": 5}, "vendors", "must be a table"),
        ({"vendors": vendors(), "policies": {"default": 5}}, "policies.default", "a table"),
        (
            {"vendors": vendors(), "policies": policy(lockout=5)},
            "policies.default.lockout",
            "table",
        ),
        (
            {"vendors": vendors(), "policies": policy(vendors="x")},
            "policies.default.vendors",
            "table",
        ),
        (
            {"vendors": vendors(), "policies": {"default": {"liveness": {"vendors": 5}}}},
            "policies.default.liveness.vendors",
            "must be a list",
        ),
        (
            {"vendors": vendors(), "policies": {"default": {"liveness": {"vendors": [1]}}}},
            "policies.default.liveness.vendors.0",
            "type str",
        ),
    ],
)
def test_a_value_of_the_wrong_shape_names_the_shape_not_a_private_class(
    host: PluginHost, data: dict[str, Any], key: str, rule: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(host, data)
    assert (info.value.key, rule in info.value.rule) == (key, True)
    assert "_" not in info.value.rule.split("(")[0]  # no _PolicySettings, no _Document


def test_a_whole_number_from_a_variable_is_ascii_digits_only(host: PluginHost) -> None:
    data = {"vendors": vendors(retries="${N}")}
    assert load(host, data, {**ENV, "N": " 12 "}).vendors["alpha"]["retries"] == 12
    with pytest.raises(ConfigError) as info:
        load(host, data, {**ENV, "N": "9\u00b2"})
    assert info.value.key == "vendors.alpha.retries"
    assert "type int" in info.value.rule


@pytest.mark.parametrize(("text", "on"), [("false", False), ("no", False), ("true", True)])
def test_lockout_may_be_switched_by_a_variable(host: PluginHost, text: str, on: bool) -> None:
    config = load(
        host, {"vendors": vendors(), "policies": policy(lockout="${L}")}, {**ENV, "L": text}
    )
    assert (config.policies["default"].lockout is not None) is on


def test_the_deprecation_warning_points_at_the_callers_line(host: PluginHost) -> None:
    data = {"vendors": vendors(), "policies": policy(vendors={"alpha": {"breaker": {}}})}
    with pytest.warns(FutureWarning) as caught:
        made = engine(host, data)
    made.close()
    assert [w.filename for w in caught] == [__file__]
