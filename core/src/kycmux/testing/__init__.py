"""The plugin author's kit: helpers for testing code built on kycmux, and vendor plugins.

- ``FakeClock``: the engine's time moves only when the test says so.
- ``VendorConformance``: the conformance suite a plugin's test module subclasses (needs the
  ``kycmux[testing]`` extra: pytest, Hypothesis, the simulator toolkit).
- ``FakeVendor`` and the engine rig (``make_rig``, ``Rig``, ``answer``, ``hang``, ``policy``,
  ``dumps``, ``CANARY``): a scriptable in-test vendor on ``httpx.MockTransport``.
- ``single_vendor_policy``, ``genuine_evidence``, ``declared_forms``, ``undeclared_forms``,
  ``crashing``, ``tiny_png``: the pieces the suite is made of, for a plugin's own tests.
- ``kycmux.testing.pytest_plugin``: the fixtures, registered with pytest (``pytest11``).

Names load on first use: ``import kycmux.testing`` imports neither pytest nor Hypothesis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kycmux.testing._clock import FakeClock
    from kycmux.testing._conformance import VendorConformance
    from kycmux.testing._crash import CRASH_MESSAGE, PluginCrash, crashing, implemented_hooks
    from kycmux.testing._fakevendor import CODES, FakeVendor
    from kycmux.testing._media import tiny_png
    from kycmux.testing._policy import single_vendor_policy
    from kycmux.testing._rig import CANARY, Reply, Rig, answer, dumps, hang, make_rig, policy
    from kycmux.testing._samples import (
        DEMO_FILES,
        FormSample,
        RefusalSample,
        declared_forms,
        genuine_evidence,
        local_challenge,
        perform_challenge,
        undeclared_forms,
    )

_EXPORTS: dict[str, str] = {
    "FakeClock": "kycmux.testing._clock",
    "VendorConformance": "kycmux.testing._conformance",
    "CRASH_MESSAGE": "kycmux.testing._crash",
    "PluginCrash": "kycmux.testing._crash",
    "crashing": "kycmux.testing._crash",
    "implemented_hooks": "kycmux.testing._crash",
    "CODES": "kycmux.testing._fakevendor",
    "FakeVendor": "kycmux.testing._fakevendor",
    "tiny_png": "kycmux.testing._media",
    "single_vendor_policy": "kycmux.testing._policy",
    "CANARY": "kycmux.testing._rig",
    "Reply": "kycmux.testing._rig",
    "Rig": "kycmux.testing._rig",
    "answer": "kycmux.testing._rig",
    "dumps": "kycmux.testing._rig",
    "hang": "kycmux.testing._rig",
    "make_rig": "kycmux.testing._rig",
    "policy": "kycmux.testing._rig",
    "DEMO_FILES": "kycmux.testing._samples",
    "FormSample": "kycmux.testing._samples",
    "RefusalSample": "kycmux.testing._samples",
    "declared_forms": "kycmux.testing._samples",
    "genuine_evidence": "kycmux.testing._samples",
    "local_challenge": "kycmux.testing._samples",
    "perform_challenge": "kycmux.testing._samples",
    "undeclared_forms": "kycmux.testing._samples",
}

__all__ = [
    "CANARY",
    "CODES",
    "CRASH_MESSAGE",
    "DEMO_FILES",
    "FakeClock",
    "FakeVendor",
    "FormSample",
    "PluginCrash",
    "RefusalSample",
    "Reply",
    "Rig",
    "VendorConformance",
    "answer",
    "crashing",
    "declared_forms",
    "dumps",
    "genuine_evidence",
    "hang",
    "implemented_hooks",
    "local_challenge",
    "make_rig",
    "perform_challenge",
    "policy",
    "single_vendor_policy",
    "tiny_png",
    "undeclared_forms",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kycmux.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
