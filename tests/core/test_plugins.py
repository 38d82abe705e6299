"""Discovery through entry points, per-vendor dispatch, and broken plugins."""

from __future__ import annotations

import importlib.metadata as md
import textwrap
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import kycmux
from kycmux import AttemptContext, Check, Evidence, PluginHost, VendorConfig, VendorRequest
from kycmux.exceptions import UnknownVendorError
from kycmux.testing import FakeVendor

PLUGIN_SOURCE = """
import kycmux
from kycmux import Check, CheckOffer, EvidenceKind, Need, VendorSpec

@kycmux.hookimpl
def register_vendors():
    return [VendorSpec(
        name="{name}", display_name="Installed test vendor",
        default_base_url="https://installed.example.com",
        offers=(CheckOffer(Check.LIVENESS, "live", (Need(EvidenceKind.VIDEO),)),),
    )]
"""


BAD_SPEC_SOURCE = """
import kycmux

@kycmux.hookimpl
def register_vendors():
    return ["not a spec"]
"""


def install_distribution(
    root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """Lay out a real installed distribution (dist-info with entry points) under ``root``."""
    info = root / f"{dist}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[kycmux]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Generator[Path, None, None]:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def entry_points_under(root: Path) -> list[md.EntryPoint]:
    return [
        ep
        for dist in md.distributions(path=[str(root)])
        for ep in dist.entry_points
        if ep.group == "kycmux"
    ]


def test_installed_plugin_is_discovered_with_its_distribution(site: Path) -> None:
    install_distribution(
        site,
        "kycmux-testvendor",
        {"testvendor": "kycmux_testvendor_mod"},
        {"kycmux_testvendor_mod": PLUGIN_SOURCE.format(name="installed")},
    )
    host = PluginHost.from_entry_points(env={}, entry_points=entry_points_under(site))
    assert list(host.vendors) == ["installed"]
    origin = host.origin("installed")
    assert (origin.distribution, origin.version, origin.plugin) == (
        "kycmux-testvendor",
        "1.2.3",
        "testvendor",
    )
    assert host.failures == ()


def test_broken_plugins_are_reported_and_skipped(site: Path) -> None:
    install_distribution(
        site,
        "kycmux-mixed",
        {
            "good": "kycmux_good_mod",
            "broken_import": "kycmux_broken_mod",
            "bad_spec": "kycmux_badspec_mod",
            "zz_dup": "kycmux_dup_mod",
        },
        {
            "kycmux_good_mod": PLUGIN_SOURCE.format(name="good"),
            "kycmux_broken_mod": "raise ImportError('missing native library')\n",
            "kycmux_badspec_mod": BAD_SPEC_SOURCE,
            "kycmux_dup_mod": PLUGIN_SOURCE.format(name="good"),
        },
    )
    host = PluginHost.from_entry_points(env={}, entry_points=entry_points_under(site))
    assert list(host.vendors) == ["good"]
    failures = {f.name: f for f in host.failures}
    assert set(failures) == {"broken_import", "bad_spec", "zz_dup"}
    assert "missing native library" in failures["broken_import"].error
    assert failures["broken_import"].distribution == "kycmux-mixed"
    assert "returned str" in failures["bad_spec"].error
    assert "already registered" in failures["zz_dup"].error


def test_invalid_vendor_name_is_reported(site: Path) -> None:
    install_distribution(
        site,
        "kycmux-badname",
        {"badname": "kycmux_badname_mod"},
        {"kycmux_badname_mod": PLUGIN_SOURCE.format(name="Bad Name!")},
    )
    host = PluginHost.from_entry_points(env={}, entry_points=entry_points_under(site))
    assert host.vendors == {}
    assert "must match" in host.failures[0].error


def test_allow_and_deny_lists(site: Path) -> None:
    install_distribution(
        site,
        "kycmux-two",
        {"one": "kycmux_one_mod", "two": "kycmux_two_mod"},
        {
            "kycmux_one_mod": PLUGIN_SOURCE.format(name="one"),
            "kycmux_two_mod": PLUGIN_SOURCE.format(name="two"),
        },
    )
    eps = entry_points_under(site)
    assert list(
        PluginHost.from_entry_points(env={"KYCMUX_PLUGINS": "two"}, entry_points=eps).vendors
    ) == ["two"]
    denied = PluginHost.from_entry_points(
        env={"KYCMUX_DISABLE_PLUGINS": "two, one"}, entry_points=eps
    )
    assert denied.vendors == {}


def test_real_installed_plugins_are_found() -> None:
    host = PluginHost.from_entry_points(env={})
    assert {"tencent_legacy", "linkface"} <= set(host.vendors)
    assert host.origin("linkface").distribution == "kycmux-linkface"


class Wrapper:
    """A cross-cutting plugin: sees every vendor's calls and can decorate results."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @kycmux.hookimpl(wrapper=True)
    def build_request(self, vendor: Any) -> Generator[None, VendorRequest, VendorRequest]:
        self.seen.append(vendor.name)
        request = yield
        return request.with_header("X-Wrapped", "yes")


def test_vendor_implementations_only_see_their_own_calls_and_wrappers_see_all(
    tmp_path: Path,
) -> None:
    a, b, wrapper = FakeVendor("alpha"), FakeVendor("beta"), Wrapper()
    host = PluginHost()
    for name, plugin in (("a", a), ("b", b), ("wrap", wrapper)):
        assert host.register(plugin, name)
    config_a = VendorConfig("alpha", "https://api.example.com", {"token": kycmux.Secret("t")})
    request = host.hooks_for("alpha").build_request(
        vendor=host.vendor("alpha"),
        checks=frozenset({Check.LIVENESS}),
        evidence=Evidence(),
        config=config_a,
        context=AttemptContext("r1"),
    )
    host.hooks_for("beta").build_request(
        vendor=host.vendor("beta"),
        checks=frozenset({Check.LIVENESS}),
        evidence=Evidence(),
        config=config_a,
        context=AttemptContext("r2"),
    )
    assert a.calls == [("build_request", "alpha")]
    assert b.calls == [("build_request", "beta")]
    assert wrapper.seen == ["alpha", "beta"]
    assert request.vendor == "alpha"
    assert dict(request.headers)["X-Wrapped"] == "yes"


def test_unknown_vendor() -> None:
    with pytest.raises(UnknownVendorError):
        PluginHost().hooks_for("nobody")


def test_core_defaults_classify_transport_errors_for_every_vendor() -> None:
    import httpx

    host = PluginHost()
    host.register(FakeVendor("alpha"), "a")
    classify = host.hooks_for("alpha").classify_error
    spec = host.vendor("alpha")
    read = classify(vendor=spec, result=None, check=None, error=httpx.ReadTimeout("x"))
    connect = classify(vendor=spec, result=None, check=None, error=httpx.ConnectTimeout("x"))
    assert read.error_class is kycmux.ErrorClass.POSSIBLY_BILLED
    assert connect.error_class is kycmux.ErrorClass.VENDOR_UNAVAILABLE


def test_a_config_field_named_plugin_is_refused_at_registration() -> None:
    """``plugin`` names an instance's plugin in ``[vendors.<name>]``: a vendor's own key of that
    name would be read as the instance key."""
    from kycmux import CheckOffer, ConfigField, VendorSpec

    with pytest.raises(ValueError, match="plugin"):
        VendorSpec(
            name="clash",
            display_name="Clash",
            default_base_url="https://clash.example.com",
            offers=(CheckOffer(Check.LIVENESS, "live", ()),),
            config_fields=(ConfigField("plugin"),),
        )
