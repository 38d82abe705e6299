"""Helpers for the end-to-end tests: the real plugins, their simulators on loopback, real HTTP.

The simulators run once per session (``conftest.py``); each test builds a fresh ``Engine`` so
breaker, rate-limit and lockout state never leak from one test to the next.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from kycmux import AttemptRecord, DecisionRecord, Engine, Evidence, PluginHost
from kycmux.simkit import Sandbox, SimStats
from kycmux.synthetic import DemoSet

__all__ = [
    "IDCARDCOMPARE_PATH",
    "LINKFACE",
    "LINKFACE_PATH",
    "LIVEDETECTFOUR_PATH",
    "TENCENT",
    "SimCounter",
    "attempts_by",
    "both_captures",
    "make_engine",
    "parse_exports",
    "policies",
    "skip_reasons",
    "video_capture",
]

LINKFACE, TENCENT = "linkface", "tencent_legacy"
LINKFACE_PATH = "/identity/liveness_selfie_verification"
LIVEDETECTFOUR_PATH = "/face/livedetectfour"
IDCARDCOMPARE_PATH = "/face/idcardcompare"


def policies(**vendor_settings: Mapping[str, Any]) -> dict[str, Any]:
    """The policies the tests decide under, as ``[policies.*]`` TOML tables.

    ``video_first`` asks Tencent's livedetectfour first, ``sdk_first`` Linkface first, both
    failing over to the other; ``composed`` adds Tencent's registry check; ``registry`` is
    the registry check alone. ``vendor_settings`` go into every policy's ``vendors`` table
    (the engine needs one breaker / rate limit setting per vendor across its policies).
    """

    def sight(order: list[str]) -> dict[str, Any]:
        return {
            "deadline": 5.0,
            "liveness": {"vendors": order},
            "face_match": {"vendors": order, "max_far": 1e-4},
        }

    registry = {"vendors": [TENCENT], "raw_thresholds": {TENCENT: 75.0}}
    tables: dict[str, dict[str, Any]] = {
        "video_first": sight([TENCENT, LINKFACE]),
        "sdk_first": sight([LINKFACE, TENCENT]),
        "composed": {**sight([LINKFACE, TENCENT]), "id_registry_match": registry},
        "registry": {"deadline": 5.0, "id_registry_match": registry},
    }
    if vendor_settings:
        for table in tables.values():
            table["vendors"] = {name: dict(value) for name, value in vendor_settings.items()}
    return tables


_PER_VENDOR = ("breaker", "rate_limit")


def make_engine(
    box: Sandbox,
    host: PluginHost,
    tables: Mapping[str, Any] | None = None,
    **engine: Any,
) -> Engine:
    """A fresh engine reaching the session's simulators (``engine``: the ``[engine]`` table).

    A vendor's ``breaker`` / ``rate_limit`` given to ``policies()`` go where they belong, to
    ``[vendors.<name>.resilience]``; the rest of its settings stay in the policies.
    """
    chosen = dict(tables if tables is not None else policies())
    resilience: dict[str, dict[str, Any]] = {}
    for table in chosen.values():
        for vendor, settings in table.get("vendors", {}).items():
            for key in _PER_VENDOR:
                if key in settings:
                    resilience.setdefault(vendor, {})[key] = settings.pop(key)
    extra: dict[str, Any] = {"policies": chosen}
    if engine:
        extra["engine"] = engine
    return Engine.from_config(box.config(host, resilience=resilience, **extra), host=host)


def video_capture(demo: DemoSet, video: str = "live_video", **extra: Any) -> Evidence:
    """Tencent's livedetectfour evidence: a video, the digits asked and the ID-card photo."""
    return Evidence(
        video=demo[video], digits=demo.digits, reference_photo=demo["card_photo"], **extra
    )


def both_captures(
    demo: DemoSet,
    *,
    video: str = "live_video",
    selfie: str = "selfie",
    liveness_data: str = "live_liveness_data",
    **extra: Any,
) -> Evidence:
    """Evidence both vendors can serve liveness and face match from."""
    return Evidence(
        video=demo[video],
        digits=demo.digits,
        reference_photo=demo["card_photo"],
        selfie=demo[selfie],
        liveness_data=demo[liveness_data],
        **extra,
    )


class SimCounter:
    """Requests a simulator has served since this counter was made (by path or in all)."""

    def __init__(self, box: Sandbox, vendor: str) -> None:
        self._stats: SimStats = box.app(vendor).stats
        self._start = self._stats.requests

    def served(self, path: str | None = None) -> int:
        now = self._stats.requests
        if path is None:
            return sum(now.values()) - sum(self._start.values())
        return now.get(path, 0) - self._start.get(path, 0)


def attempts_by(record: DecisionRecord, vendor: str) -> list[AttemptRecord]:
    return [a for a in record.attempts if a.vendor == vendor]


def skip_reasons(record: DecisionRecord) -> dict[tuple[str, str], str]:
    """``(vendor, check) -> reason`` of every skip (the last one wins)."""
    return {(s.vendor, s.check): s.reason for s in record.skipped}


def parse_exports(text: str) -> dict[str, str]:
    """The variables of ``Sandbox.exports()`` / ``sandbox.env`` (``export NAME='value'``)."""
    env = {}
    for line in text.splitlines():
        if not line.startswith("export "):
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        (env[name],) = shlex.split(value)
    return env
