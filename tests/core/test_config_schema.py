"""The configuration schema: unknown keys, types, ``${VAR}`` coercion, secrets, policy tables.

Each case puts one value at a dotted path of an otherwise valid configuration (``doc``) and
loads it with ``Config.from_mapping``. An unknown key is refused with its path and the valid
keys; a wrong value names the path and the rule, never the value, which may have come from a
``${VAR}`` holding a secret (checked along the whole ``__cause__`` / ``__context__`` chain).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

from kycmux import Check, Config, LockoutSettings, Mode, PluginHost, Secret
from kycmux.exceptions import ConfigError, MissingSecretError, PolicyError
from kycmux.testing import FakeVendor

CANARY = "canary-5e1f-never-shown"
NUMBER = "918273645"  # a canary that parses as a number, then breaks a rule
ENV = {"T": "token", "C": CANARY}

# What each kind of table needs around the value under test.
BASES: dict[str, dict[str, Any]] = {
    "vendors": {"vendors": {"alpha": {"token": "${T}"}}},
    "policies": {"policies": {"p": {"liveness": {"vendors": ["alpha"]}}}},
    "shadow": {"experiments": {"e": {"policy": "p", "shadow": "beta"}}},
    "split": {"experiments": {"e": {"policy": "p", "arms": {"a": {}, "b": {}}}}},
}


def doc(path: str, value: Any, base: str | None = None) -> dict[str, Any]:
    """A valid configuration but for ``value`` at the dotted ``path``."""
    first = path.split(".")[0]
    if first == "experiments":
        base = base or ("split" if ".arms." in path else "shadow")
    data = copy.deepcopy(BASES.get(base or first, {}))
    *tables, leaf = path.split(".")
    node = data
    for table in tables:
        node = node.setdefault(table, {})
    node[leaf] = value
    return data


@pytest.fixture(scope="module")
def specs() -> dict[str, Any]:
    host = PluginHost()
    for name in ("alpha", "beta"):
        host.register(FakeVendor(name), name)
    return dict(host.vendors)


def load(specs: dict[str, Any], data: dict[str, Any], **env: str) -> Config:
    return Config.from_mapping(data, specs, {**ENV, **env})


def failure(specs: dict[str, Any], data: dict[str, Any], **env: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(specs, data, **env)
    return info.value


def chain(error: BaseException) -> Iterator[BaseException]:
    """The error, its causes and contexts (and any group members), each once."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if id(current) not in seen:
            seen.add(id(current))
            yield current
            todo += [e for e in (current.__cause__, current.__context__) if e is not None]
            if isinstance(current, BaseExceptionGroup):
                todo += current.exceptions


def assert_hidden(error: BaseException, value: str) -> None:
    for link in chain(error):
        shown = f"{link}\n{link!r}\n{link.args!r}\n{getattr(link, '__notes__', '')}"
        assert value not in shown, type(link)


# --- 1. unknown keys: the dotted path and the valid keys, at every level --------------------

BREAKER = "buckets failure_ratio min_calls open_seconds probe_lease window"


@pytest.mark.parametrize(
    ("path", "valid", "base"),
    [
        ("vendor", "engine experiments policies vendors", None),
        ("engine.colour", "async_backend policy record_key records results", None),
        (
            "vendors.alpha.colour",
            "base_url max_response_bytes region resilience retries token",
            None,
        ),
        ("vendors.alpha.resilience.colour", "breaker rate_limit retry_budget", None),
        ("vendors.alpha.resilience.breaker.colour", BREAKER, None),
        (
            "vendors.alpha.resilience.rate_limit.colour",
            "burst max_in_flight pause_on_limit rate",
            None,
        ),
        ("vendors.alpha.resilience.retry_budget.colour", "min_per_second ratio", None),
        ("policies.p.colour", "deadline hedge_after lockout vendors liveness face_match", None),
        ("policies.p.liveness.colour", "allow_extrapolation combine max_far mode vendors", None),
        ("policies.p.vendors.alpha.colour", "attempt_timeout breaker rate_limit retry", None),
        ("policies.p.vendors.alpha.retry.colour", "base_delay jitter max_attempts", None),
        ("policies.p.vendors.alpha.breaker.colour", BREAKER, None),
        ("policies.p.lockout.colour", "capture_limit cooldown limit memory", None),
        ("experiments.e.colour", "arms enabled policy salt", "split"),
        ("experiments.e.colour", "max_delay on_late policy sample shadow timeout", "shadow"),
        ("experiments.e.arms.a.colour", "policy vendors weight", None),
    ],
)
def test_an_unknown_key_is_refused_with_its_path_and_the_valid_keys(
    specs: dict[str, Any], path: str, valid: str, base: str | None
) -> None:
    error = failure(specs, doc(path, {} if path == "vendor" else 1, base))
    assert error.key == path
    listed = re.fullmatch(r"unknown (key|top-level table).*\(valid: (.*)\)", error.rule)
    assert listed is not None, error.rule
    assert set(valid.split()) <= set(listed.group(2).split(", "))


def test_an_unknown_top_level_table_says_so(specs: dict[str, Any]) -> None:
    assert "unknown top-level table" in failure(specs, {"vendor": {}}).rule


def test_an_arm_table_takes_no_name(specs: dict[str, Any]) -> None:
    assert failure(specs, doc("experiments.e.arms.a.name", "x")).key == "experiments.e.arms.a.name"


# --- 2. types: the key and the type expected, never the value -------------------------------

FLOAT, INT, BOOL = "must be of type float", "must be of type int", "must be of type bool"


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("policies.p.deadline", FLOAT),
        ("policies.p.hedge_after", FLOAT),
        ("policies.p.liveness.max_far", FLOAT),
        ("policies.p.liveness.allow_extrapolation", BOOL),
        ("policies.p.liveness.raw_thresholds.alpha", FLOAT),
        ("policies.p.vendors.alpha.attempt_timeout", FLOAT),
        ("policies.p.vendors.alpha.retry.max_attempts", INT),
        ("policies.p.lockout.limit", INT),
        ("vendors.alpha.retries", INT),
        ("vendors.alpha.max_response_bytes", INT),
        ("vendors.alpha.resilience.breaker.min_calls", INT),
        ("vendors.alpha.resilience.breaker.open_seconds", FLOAT),
        ("vendors.alpha.resilience.rate_limit.rate", FLOAT),
        ("vendors.alpha.resilience.retry_budget.ratio", FLOAT),
        ("experiments.e.sample", FLOAT),
        ("experiments.e.enabled", BOOL),
        ("experiments.e.arms.a.weight", FLOAT),
        ("policies.p.liveness.mode", "must be one of failover, all"),
        ("policies.p.liveness.combine", "one of any_negative_rejects, disagreement_reviews"),
        ("policies.p.vendors.alpha.retry.jitter", "must be one of full, equal, none"),
        ("experiments.e.on_late", "must be one of background, cancel"),
        ("engine.async_backend", "must be one of aiohttp, httpx"),
    ],
)
def test_a_wrong_type_from_a_variable_names_key_and_type_never_the_value(
    specs: dict[str, Any], path: str, rule: str
) -> None:
    error = failure(specs, doc(path, "${C}"))
    assert error.key == path
    assert rule in error.rule
    assert_hidden(error, CANARY)


@pytest.mark.parametrize(
    ("path", "sign"),
    [
        ("vendors.alpha.resilience.breaker.min_calls", "-"),
        ("vendors.alpha.resilience.breaker.failure_ratio", ""),
        ("vendors.alpha.resilience.rate_limit.burst", "-"),
        ("vendors.alpha.max_response_bytes", "-"),
        ("policies.p.deadline", "-"),
        ("policies.p.liveness.max_far", ""),
        ("policies.p.lockout.limit", "-"),
        ("policies.p.vendors.alpha.retry.max_attempts", "-"),
        ("experiments.e.sample", ""),
        ("experiments.e.arms.a.weight", "-"),
    ],
)
def test_a_number_from_a_variable_that_breaks_a_rule_is_never_quoted(
    specs: dict[str, Any], path: str, sign: str
) -> None:
    error = failure(specs, doc(path, "${N}"), N=f"{sign}{NUMBER}")
    assert error.key == path
    assert_hidden(error, NUMBER)


@pytest.mark.parametrize(
    ("path", "value", "rule"),
    [
        ("vendors.alpha.region", 5, "must be of type str"),
        ("engine.policy", 5, "must be of type str"),
        ("policies.p.deadline", True, FLOAT),
        ("experiments.e.enabled", 1, BOOL),
        # Text is coerced only when it comes from a variable: a quoted number is a string.
        ("policies.p.deadline", "2.5", FLOAT),
        ("experiments.e.enabled", "true", BOOL),
    ],
)
def test_a_literal_of_the_wrong_type_names_the_type(
    specs: dict[str, Any], path: str, value: Any, rule: str
) -> None:
    error = failure(specs, doc(path, value))
    assert error.key == path
    assert rule in error.rule


BOOLS = [("true", True), ("TRUE", True), ("1", True), ("yes", True)]
BOOLS += [("false", False), ("0", False), ("no", False)]


@pytest.mark.parametrize(
    ("path", "text", "read", "expected"),
    [
        ("policies.p.deadline", "2.5", lambda c: c.policies["p"].deadline, 2.5),
        ("vendors.alpha.retries", "7", lambda c: c.vendors["alpha"]["retries"], 7),
        (
            "vendors.alpha.resilience.breaker.min_calls",
            "3",
            lambda c: c.vendors["alpha"].resilience.breaker.min_calls,
            3,
        ),
        (
            "policies.p.liveness.mode",
            "all",
            lambda c: c.policies["p"].checks[Check.LIVENESS].mode,
            Mode.ALL,
        ),
        ("engine.async_backend", "httpx", lambda c: c.engine.async_backend, "httpx"),
        *[("experiments.e.enabled", t, lambda c: c.experiments["e"].enabled, v) for t, v in BOOLS],
    ],
)
def test_numbers_bools_and_choices_from_variables_are_coerced(
    specs: dict[str, Any], path: str, text: str, read: Callable[[Config], Any], expected: Any
) -> None:
    assert read(load(specs, doc(path, "${V}"), V=text)) == expected


@pytest.mark.parametrize(
    ("path", "value", "valid"),
    [
        ("policies.p.liveness.mode", "sideways", "failover, all"),
        ("policies.p.liveness.combine", "first_wins", "any_negative_rejects, disagreement_reviews"),
        ("experiments.e.on_late", "later", "background, cancel"),
        ("engine.async_backend", "curl", "aiohttp, httpx"),
    ],
)
def test_a_bad_choice_lists_the_valid_ones(
    specs: dict[str, Any], path: str, value: str, valid: str
) -> None:
    error = failure(specs, doc(path, value))
    assert error.key == path
    assert f"must be one of {valid}" in error.rule


# --- 3. secrets: ${VAR} only --------------------------------------------------------------

SECRETS = ["vendors.alpha.token", "engine.record_key"]


@pytest.mark.parametrize("path", SECRETS)
@pytest.mark.parametrize("literal", [CANARY, 42, True])
def test_a_secret_written_literally_is_refused_unquoted(
    specs: dict[str, Any], path: str, literal: object
) -> None:
    error = failure(specs, doc(path, literal))
    assert error.key == path
    assert "${ENV_VAR} reference, not a literal" in error.rule
    assert_hidden(error, CANARY)


@pytest.mark.parametrize("path", SECRETS)
def test_an_empty_secret_variable_is_refused(specs: dict[str, Any], path: str) -> None:
    error = failure(specs, doc(path, "${EMPTY}"), EMPTY="")
    assert error.key == path
    assert "EMPTY is empty" in error.rule


@pytest.mark.parametrize("path", SECRETS)
def test_a_missing_secret_variable_names_key_and_variable(specs: dict[str, Any], path: str) -> None:
    with pytest.raises(MissingSecretError) as info:
        load(specs, doc(path, "${NOT_SET_91}"))
    assert (info.value.key, info.value.variable) == (path, "NOT_SET_91")
    assert path in str(info.value)
    assert "NOT_SET_91" in str(info.value)


def test_the_record_key_is_a_secret_kept_out_of_reprs(specs: dict[str, Any]) -> None:
    config = load(specs, doc("engine.record_key", "${C}"))
    key = config.engine.record_key
    assert isinstance(key, Secret)
    assert key.reveal() == CANARY
    for shown in (config.engine, config, attrs.asdict(config.engine), key):
        assert CANARY not in f"{shown!r} {shown!s}"


def test_a_plain_key_from_a_variable_shows_the_reference(specs: dict[str, Any]) -> None:
    alpha = load(specs, doc("vendors.alpha.region", "${C}")).vendors["alpha"]
    assert alpha["region"] == CANARY
    assert "${C}" in repr(alpha)
    assert CANARY not in repr(alpha)


# --- 6. lockout ---------------------------------------------------------------------------

TABLE = {"limit": 3, "cooldown": 60, "memory": 600, "capture_limit": 20}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, LockoutSettings()),
        (False, None),
        (TABLE, LockoutSettings(limit=3, cooldown=60.0, memory=600.0, capture_limit=20)),
        ({"capture_limit": "${N}"}, LockoutSettings(capture_limit=12)),
    ],
    ids=["true", "false", "table", "variable"],
)
def test_lockout_off_default_or_a_table(
    specs: dict[str, Any], value: object, expected: LockoutSettings | None
) -> None:
    assert load(specs, doc("policies.p.lockout", value), N="12").policies["p"].lockout == expected


def test_lockout_defaults_when_absent(specs: dict[str, Any]) -> None:
    assert load(specs, BASES["policies"]).policies["p"].lockout == LockoutSettings()


# --- 7. a policy's shape ------------------------------------------------------------------


def test_a_policy_without_a_check_lists_the_checks(specs: dict[str, Any]) -> None:
    error = failure(specs, {"policies": {"p": {"deadline": 3}}})
    assert isinstance(error, PolicyError)
    assert error.key == "policies.p"
    assert "liveness, face_match, id_registry_match" in error.rule


@pytest.mark.parametrize("path", ["policies.p.liveness.vendors", "experiments.e.arms.a.vendors"])
def test_one_vendor_name_instead_of_a_list_is_refused(specs: dict[str, Any], path: str) -> None:
    error = failure(specs, doc(path, "linkface"))
    assert isinstance(error, PolicyError)
    assert error.key == path
    assert "list of vendor names, not one string" in error.rule


def test_a_string_for_the_per_vendor_settings_table_is_refused(specs: dict[str, Any]) -> None:
    assert failure(specs, doc("policies.p.vendors", "linkface")).key == "policies.p.vendors"
