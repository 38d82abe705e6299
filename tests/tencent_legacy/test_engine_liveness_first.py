"""A face_match asked of Tencent alone, through the engine, when the answer says "not live".

Liveness is Linkface's in this policy, so livedetectfour is asked for ``face_match`` only. The
document orders the reading: ``live_status`` first, then ``compare_status``, then ``sim``. An
answer with ``live_status`` -5016 is a definitive negative for every check it carries, however
high its ``sim``: the decision rejects and face_match never fails over to Linkface.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from engine.e2e_support import (
    LINKFACE,
    LINKFACE_PATH,
    LIVEDETECTFOUR_PATH,
    TENCENT,
    SimCounter,
    both_captures,
)
from kycmux import (
    Check,
    Classification,
    Engine,
    ErrorClass,
    Evidence,
    Outcome,
    PluginHost,
    Secret,
    Threshold,
)
from kycmux.decision import Verdict, judge
from kycmux.simkit import Sandbox, SimRequest, SimResponse, serve_many
from kycmux.synthetic import DemoSet
from kycmux_tencent_legacy._sim import TencentSimulator
from kycmux_tencent_legacy._sim._render import render

if TYPE_CHECKING:
    from tencent_legacy.conftest import Wire

FACE_MATCH = frozenset({Check.FACE_MATCH})

# The answer from the issue: liveness failed, and yet a comparison with a high sim.
NOT_LIVE_BUT_SIMILAR = [
    ("live_status", -5016),
    ("live_msg", "the person in the video is not live"),
    ("compare_status", 0),
    ("compare_msg", "OK"),
    ("sim", 95),
]
POLICY = {
    "deadline": 5.0,
    "liveness": {"vendors": [LINKFACE]},
    "face_match": {"vendors": [TENCENT, LINKFACE], "max_far": 1e-4},
}


class NotLiveButSimilar(TencentSimulator):
    """The Tencent simulator, answering every accepted livedetectfour with that body."""

    async def livedetectfour(self, request: SimRequest) -> SimResponse:
        # The real checks first (signature, fields): only an accepted request gets the body.
        answer = await super().livedetectfour(request)
        if b'"live_status"' not in answer.body:
            return answer
        return render(0, "OK", NOT_LIVE_BUT_SIMILAR)


def _sandbox(running: dict[str, Any]) -> Sandbox:
    """The configuration reaching these simulators, secrets through the environment."""
    tables: dict[str, dict[str, Any]] = {}
    env: dict[str, str] = {}
    for vendor, sim in running.items():
        table: dict[str, Any] = {}
        for key, value in sim.client_settings().items():
            if isinstance(value, Secret):
                var = re.sub(r"\W", "_", f"KYCMUX_TEST_{vendor}_{key}".upper())
                env[var], table[key] = value.reveal(), f"${{{var}}}"
            else:
                table[key] = value
        tables[vendor] = table
    # The caller's own digits (the opt-in), which NotLiveButSimilar accepts.
    tables[TENCENT]["allow_caller_digits"] = True
    return Sandbox(running, tables, env)


@pytest.fixture(scope="module")
def both_host() -> PluginHost:
    """Both real plugins, discovered as an application would discover them."""
    found = PluginHost.from_entry_points()
    assert {LINKFACE, TENCENT} <= set(found.vendors), found.failures
    return found


@pytest.fixture(scope="module")
def box(both_host: PluginHost) -> Iterator[Sandbox]:
    linkface = both_host.vendor(LINKFACE).simulator
    assert linkface is not None
    with serve_many(
        {LINKFACE: linkface(), TENCENT: NotLiveButSimilar(accept_unissued_challenges=True)}
    ) as running:
        yield _sandbox(running)


@pytest.mark.anyio
async def test_not_live_with_a_high_sim_rejects_face_match_without_failover(
    box: Sandbox, both_host: PluginHost, demo: DemoSet
) -> None:
    tencent, linkface = SimCounter(box, TENCENT), SimCounter(box, LINKFACE)
    config = box.config(both_host, policies={"face_first": POLICY})
    async with Engine.from_config(config, host=both_host) as engine:
        decision = await engine.verify(both_captures(demo), policy="face_first")

    record = decision.record
    assert decision.outcome is Outcome.REJECT, record.explanation
    assert "face_match:tencent_legacy:-5016" in decision.reasons
    face = next(c for c in record.checks if c.check == "face_match")
    assert (face.verdict, face.vendors, face.reason) == ("fail", (TENCENT,), "tencent_legacy:-5016")
    assert face.scores == {}  # the sim of a not-live answer is not a score
    # Tencent was asked for face_match alone; its call succeeded, the check failed not live.
    (call,) = [a for a in record.attempts if a.vendor == TENCENT]
    assert (call.operation, call.checks, call.vendor_code) == (
        "livedetectfour",
        ("face_match",),
        "0",
    )
    assert (call.error_class, call.reason) == (None, "tencent_legacy:-5016")
    assert call.verdicts == {"face_match": "fail"}
    assert call.scores == {}
    assert tencent.served(LIVEDETECTFOUR_PATH) == 1
    # Face match never failed over: Linkface was asked for liveness only (and that attempt may
    # have been cut short once the reject was certain).
    assert [a.checks for a in record.attempts if a.vendor == LINKFACE] == [("liveness",)]
    assert linkface.served(LINKFACE_PATH) <= 1
    assert "no failover" in record.explanation


def test_the_reading_is_a_not_live_negative_that_may_not_fail_over(
    wire_to: Callable[[TencentSimulator], Wire], demo: DemoSet
) -> None:
    wire = wire_to(NotLiveButSimilar())
    evidence = Evidence(
        video=demo["live_video"], digits=demo.digits, reference_photo=demo["card_photo"]
    )
    outcome = wire.call(FACE_MATCH, evidence)
    assert outcome.failure is None  # the call answered (code 0)
    reading = outcome.readings[Check.FACE_MATCH]
    assert reading.failure == Classification(ErrorClass.NOT_LIVE, "tencent_legacy:-5016")
    assert reading.score is None
    verdict = judge(TENCENT, reading, Threshold("max_far", max_far=1e-4))
    assert (verdict.verdict, verdict.error_class) == (Verdict.FAIL, ErrorClass.NOT_LIVE)
    assert verdict.definitive_negative
    assert not verdict.may_fail_over
