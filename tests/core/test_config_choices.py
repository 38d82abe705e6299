"""Configuration mistakes name the key and the rule, list the valid choices, and suggest the
closest one when the mistake looks like a typo."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kycmux import Config, Engine, PluginHost
from kycmux._config._schema import choices
from kycmux.exceptions import ConfigError
from kycmux.testing import FakeVendor


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost()
    host.register(FakeVendor("alpha"), "a")
    host.register(FakeVendor("beta"), "b")
    return host


ALPHA = {"alpha": {"base_url": "http://127.0.0.1:9", "token": "${ALPHA_TOKEN}"}}
ENV = {"ALPHA_TOKEN": "t"}
LIVENESS = {"liveness": {"vendors": ["alpha"]}}


def _error(host: PluginHost, data: dict[str, Any]) -> ConfigError:
    """The first error reading ``data`` (the file) or building an engine on it (policies and
    experiments against the loaded vendors)."""

    def build() -> None:
        config = Config.from_mapping({"vendors": ALPHA, **data}, host.vendors, ENV)
        Engine.from_config(config, host=host).close()

    with pytest.raises(ConfigError) as caught:
        build()
    return caught.value


@pytest.mark.parametrize(
    ("data", "key", "rule"),
    [
        (
            {"enigne": {}},
            "enigne",
            "unknown top-level table, did you mean 'engine'? "
            "(valid: engine, experiments, policies, vendors)",
        ),
        (
            {"engine": {"recrods": "r.jsonl"}},
            "engine.recrods",
            "unknown key, did you mean 'records'? (valid: ",
        ),
        (
            {"policies": {"p": {**LIVENESS, "deadlin": 2.0}}},
            "policies.p.deadlin",
            "unknown key, did you mean 'deadline'? (valid: ",
        ),
        (
            {"policies": {"p": {"liveness": {"vendors": ["alpah"]}}}},
            "policies.p.liveness.vendors",
            "no loaded plugin provides 'alpah', did you mean 'alpha'? (loaded: alpha, beta)",
        ),
        (
            {"policies": {"p": LIVENESS}, "experiments": {"e": {"policy": "q", "shadow": "beta"}}},
            "experiments.e.policy",
            "no policy 'q' (defined: p)",
        ),
        (
            {"policies": {"p": {"face_match": {"vendors": ["alpha"], "max_far": 2}}}},
            "policies.p.face_match.max_far",
            "must be a false-accept rate in (0, 1)",
        ),
    ],
)
def test_a_mistake_lists_the_valid_choices(
    host: PluginHost, data: dict[str, Any], key: str, rule: str
) -> None:
    error = _error(host, data)
    assert (error.key, error.rule[: len(rule)]) == (key, rule)


def test_an_unknown_policy_lists_the_defined_ones(host: PluginHost) -> None:
    config = Config.from_mapping(
        {"vendors": ALPHA, "policies": {"standard": LIVENESS}}, host.vendors, ENV
    )
    engine = Engine.from_config(config, host=host)
    with engine, pytest.raises(ConfigError) as caught:
        engine.policy("standrad")
    assert caught.value.rule == "no such policy, did you mean 'standard'? (defined: standard)"


@given(given_name=st.text(max_size=20), valid=st.sets(st.text(min_size=1, max_size=12)))
def test_choices_lists_every_valid_name_and_suggests_only_one_of_them(
    given_name: str, valid: set[str]
) -> None:
    text = choices(given_name, valid)
    assert text.endswith(f"(valid: {', '.join(sorted(valid)) or 'none'})")
    if text.startswith(", did you mean "):
        suggested = text.removeprefix(", did you mean ").partition("? (valid: ")[0]
        assert suggested in {repr(v) for v in valid}
