"""The bundled plugins declare light hooks: against their simulators, over loopback HTTP, their
hooks run on the event loop (``[engine] inline_hooks = false``: on their lanes), decide as
before, and the watchdog never takes them for slow."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

import kycmux_linkface
import kycmux_tencent_legacy
from engine.e2e_support import LINKFACE, TENCENT, both_captures, make_engine, policies
from kycmux import Outcome, PluginHost
from kycmux.simkit import Sandbox
from kycmux.synthetic import DemoSet
from kycmux_linkface import _build as linkface_build
from kycmux_linkface import _parse as linkface_parse
from kycmux_tencent_legacy import _build as tencent_build
from kycmux_tencent_legacy import _parse as tencent_parse
from kycmux_tencent_legacy import _sign as tencent_sign

pytestmark = pytest.mark.anyio


def test_both_bundled_plugins_declare_light_hooks() -> None:
    for plugin in (kycmux_linkface, kycmux_tencent_legacy):
        (spec,) = plugin.register_vendors()
        assert spec.light_hooks is True


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The thread each of the plugins' own build, sign and parse functions ran on."""
    seen: list[tuple[str, int]] = []

    def noting(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def noted(*args: Any, **kwargs: Any) -> Any:
            seen.append((name, threading.get_ident()))
            return fn(*args, **kwargs)

        return noted

    for module, attribute in (
        (linkface_build, "build_request"),
        (linkface_parse, "parse"),
        (tencent_build, "build"),
        (tencent_sign, "sign_request"),
        (tencent_parse, "parse_response"),
    ):
        name = f"{module.__name__}.{attribute}"
        monkeypatch.setattr(module, attribute, noting(name, getattr(module, attribute)))
    return seen


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "lanes"])
async def test_the_bundled_plugins_decide_alike_on_the_loop_and_on_their_lanes(
    box: Sandbox,
    sim_host: PluginHost,
    demo: DemoSet,
    threads: list[tuple[str, int]],
    caplog: pytest.LogCaptureFixture,
    inline: bool,
) -> None:
    caplog.set_level(logging.WARNING, logger="kycmux.engine")
    engine = make_engine(box, sim_host, policies(), inline_hooks=inline)
    async with engine:
        for policy in ("sdk_first", "video_first"):
            for _ in range(3):
                decision = await engine.verify(both_captures(demo), policy=policy)
                assert decision.outcome is Outcome.ACCEPT, decision.reasons
                assert [a.vendor for a in decision.record.attempts] == [policy_vendor(policy)]
    loop = threading.get_ident()
    names = {name.rsplit(".", 1)[-1] for name, _ in threads}
    assert names == {"build_request", "parse", "build", "sign_request", "parse_response"}
    assert {ident == loop for _, ident in threads} == {inline}
    assert "declares light hooks" not in caplog.text


def policy_vendor(policy: str) -> str:
    return LINKFACE if policy == "sdk_first" else TENCENT
