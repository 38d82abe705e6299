"""The configuration reference page: up to date, and listing exactly the keys the loader takes."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

import kycmux_linkface
import kycmux_tencent_legacy
from kycmux import Config, ConfigField, VendorSpec
from kycmux._config._reference import attributes_doc, config_reference, tables
from kycmux.exceptions import ConfigError, MissingSecretError

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "config.md"
SPECS = {
    spec.name: spec
    for spec in (*kycmux_tencent_legacy.register_vendors(), *kycmux_linkface.register_vendors())
}
ENV = {"ID": "the-id", "KEY": "the-key", "K": "k"}
TENCENT = {"appid": "1", "secret_id": "${ID}", "secret_key": "${KEY}"}
CHECK = {"vendors": ["tencent_legacy"]}


def _script() -> Any:
    found = importlib.util.spec_from_file_location(
        "config_reference", ROOT / "scripts" / "config_reference.py"
    )
    assert found is not None
    assert found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def test_the_committed_page_is_what_the_schema_generates() -> None:
    assert PAGE.read_text(encoding="utf-8") == _script().page(), (
        "docs/reference/config.md is stale: run .venv/bin/python scripts/config_reference.py"
    )


def _page_keys() -> dict[str, set[str]]:
    """The keys of each table as the page lists them, by heading (label included)."""
    found: dict[str, set[str]] = {}
    heading = ""
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading = line.removeprefix("## ")
            found[heading] = set()
        elif (row := re.match(r"^\| `(\w+)` \|", line)) and heading:
            found[heading].add(row.group(1))
    return found


def _valid_keys(data: Mapping[str, Any]) -> set[str]:
    """What the loader says the valid keys are, for a table given one unknown key."""
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping(data, SPECS, ENV)
    valid = re.search(r"\(valid: ([^)]*)\)", caught.value.rule)
    assert valid is not None, caught.value.rule
    return set(valid.group(1).split(", "))


def _vendor(**table: Any) -> dict[str, Any]:
    return {"vendors": {"tencent_legacy": {**TENCENT, **table}}}


# Each table with one unknown key: the loader refuses it and names the keys it takes.
CASES = {
    "`[engine]`": {"engine": {"bogus": 1}},
    "`[vendors.tencent_legacy]`": _vendor(bogus=1),
    "`[vendors.linkface]`": {"vendors": {"linkface": {"bogus": 1}}},
    "`[vendors.<name>.resilience]`": _vendor(resilience={"bogus": 1}),
    "`[vendors.<name>.resilience.breaker]`": _vendor(resilience={"breaker": {"bogus": 1}}),
    "`[vendors.<name>.resilience.rate_limit]`": _vendor(resilience={"rate_limit": {"bogus": 1}}),
    "`[vendors.<name>.resilience.retry_budget]`": _vendor(
        resilience={"retry_budget": {"bogus": 1}}
    ),
    "`[policies.<name>]`": {"policies": {"p": {"liveness": CHECK, "bogus": 1}}},
    "`[policies.<name>.<check>]`": {"policies": {"p": {"liveness": {**CHECK, "bogus": 1}}}},
    "`[policies.<name>.vendors.<vendor>]`": {
        "policies": {"p": {"liveness": CHECK, "vendors": {"tencent_legacy": {"bogus": 1}}}}
    },
    "`[policies.<name>.vendors.<vendor>.retry]`": {
        "policies": {
            "p": {"liveness": CHECK, "vendors": {"tencent_legacy": {"retry": {"bogus": 1}}}}
        }
    },
    "`[policies.<name>.lockout]`": {
        "policies": {"p": {"liveness": CHECK, "lockout": {"bogus": 1}}}
    },
    "`[experiments.<name>]` (split traffic)": {
        "experiments": {"e": {"policy": "p", "arms": {"a": {}}, "bogus": 1}}
    },
    "`[experiments.<name>.arms.<arm>]`": {
        "experiments": {"e": {"policy": "p", "arms": {"a": {"bogus": 1}}}}
    },
    "`[experiments.<name>]` (shadow a candidate)": {
        "experiments": {"e": {"policy": "p", "shadow": "linkface", "bogus": 1}}
    },
}


@pytest.mark.parametrize("heading", sorted(CASES))
def test_the_page_lists_exactly_the_keys_the_loader_takes(heading: str) -> None:
    valid = _valid_keys(CASES[heading])
    if heading.startswith("`[vendors.") and heading.count(".") == 1:  # a vendor's own table
        valid -= _page_keys()["`[vendors.<name>]`"]
    if heading == "`[policies.<name>]`":  # a check's table is a key of its own
        valid -= {"liveness", "face_match", "id_registry_match"}
    assert _page_keys()[heading] == valid


def test_the_page_names_every_top_level_table_the_loader_takes() -> None:
    valid = _valid_keys({"bogus": {}})
    intro = PAGE.read_text(encoding="utf-8").split("\n## ")[0]
    named = set(re.findall(r"`\[(\w+)(?:\.<name>)?\]`", intro))
    assert named == valid


def test_every_table_of_the_page_is_checked_against_the_loader() -> None:
    assert set(_page_keys()) - set(CASES) == {"`[vendors.<name>]`"}  # checked per vendor


def test_a_secret_key_is_only_a_reference_and_a_plain_one_may_be() -> None:
    keys = {k.name: k for t in tables(SPECS.values()) if t.path == "engine" for k in t.keys}
    assert keys["record_key"].reference == "only"
    assert keys["state_timeout"].reference == "yes"
    with pytest.raises(ConfigError, match="reference, not a literal"):
        Config.from_mapping({"engine": {"record_key": "plain"}}, SPECS, ENV)
    config = Config.from_mapping({"engine": {"state_timeout": "${T}"}}, SPECS, {"T": "0.25"})
    assert config.engine.state_timeout == 0.25
    with pytest.raises(MissingSecretError):
        Config.from_mapping({"engine": {"state_timeout": "${UNSET_T}"}}, SPECS, {})


def test_defaults_on_the_page_are_the_loaders() -> None:
    config = Config.from_mapping(_vendor(), SPECS, ENV)
    rows = {k.name: k.default for t in tables(SPECS.values()) if t.path == "engine" for k in t.keys}
    assert rows["state_timeout"] == f"`{config.engine.state_timeout!r}`"
    assert rows["state_namespace"] == f'`"{config.engine.state_namespace}"`'
    breaker = config.vendors["tencent_legacy"].resilience.breaker
    path = "vendors.<name>.resilience.breaker"
    rows = {k.name: k.default for t in tables(SPECS.values()) if t.path == path for k in t.keys}
    assert rows == {f.name: f"`{getattr(breaker, f.name)!r}`" for f in attrs.fields(type(breaker))}


def test_attributes_are_read_from_the_docstring_with_continuations() -> None:
    @attrs.frozen
    class Sample:
        """A sample.

        Attributes:
            first: One line.
            second: Two
                lines.

        Returns:
            Not an attribute.
        """

        first: int = 1
        second: int = 2

    assert attributes_doc(Sample) == {"first": "One line.", "second": "Two lines."}


def test_a_vendor_key_without_a_description_is_refused_not_left_blank() -> None:
    spec = SPECS["linkface"]
    silent = attrs.evolve(spec, config_fields=(*spec.config_fields, ConfigField("silent")))
    with pytest.raises(ValueError, match="silent has no doc"):
        config_reference([silent])


def test_bundled_vendor_keys_are_on_the_page() -> None:
    page = PAGE.read_text(encoding="utf-8")
    spec: VendorSpec
    for spec in SPECS.values():
        assert f"## `[vendors.{spec.name}]`" in page
        for field in spec.config_fields:
            assert f"| `{field.name}` |" in page
