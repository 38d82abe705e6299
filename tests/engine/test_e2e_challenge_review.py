"""Issue 13 review: a single-use challenge is never resent after it may have reached its vendor,
and shadows never carry the live decision's challenge (real simulators over loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from engine.e2e_support import LINKFACE, TENCENT, policies
from kycmux import (
    CaptureIssue,
    Config,
    Consent,
    Decision,
    Engine,
    Evidence,
    Outcome,
    PluginHost,
)
from kycmux.exceptions import InvalidEvidenceError
from kycmux.simkit import Sandbox, run_sandbox
from kycmux.synthetic import DemoSet, VideoTruth, write_video

pytestmark = pytest.mark.anyio

OLD = "tencent_old"


@pytest.fixture(scope="module")
def module_box(sim_host: PluginHost) -> Iterator[Sandbox]:
    with run_sandbox(sim_host, [LINKFACE, TENCENT], instances={OLD: TENCENT}) as box:
        yield box


@pytest.fixture
def box(module_box: Sandbox) -> Iterator[Sandbox]:
    for vendor in (LINKFACE, TENCENT, OLD):
        module_box.app(vendor).faults.clear()
    yield module_box
    for vendor in (LINKFACE, TENCENT, OLD):
        module_box.app(vendor).faults.clear()


def _video(tmp_path: Path, demo: DemoSet, digits: str) -> Path:
    truth = attrs.evolve(demo.truths["live_video"], digits_read=digits)
    assert isinstance(truth, VideoTruth)
    return write_video(tmp_path / f"live_{digits}.mp4", truth)


def _engine(box: Sandbox, host: PluginHost, data: dict[str, Any]) -> Engine:
    data = {"vendors": {n: dict(t) for n, t in box.tables.items()}, **data}
    return Engine.from_config(Config.from_mapping(data, host.vendors, box.env), host=host)


async def _challenged_under(
    box: Sandbox, host: PluginHost, demo: DemoSet, tmp_path: Path, fault: str, data: dict[str, Any]
) -> Decision:
    """A challenge issued, then its video sent to a Tencent serving ``fault`` once."""
    async with _engine(box, host, data) as engine:
        engine.set_default_policy("video_first")
        challenge = await engine.challenge()
        box.app(TENCENT).faults.inject(fault, count=1, paths=["/face/livedetectfour"])
        evidence = Evidence(
            video=_video(tmp_path, demo, challenge.value),
            reference_photo=demo["card_photo"],
            challenge=challenge,
        )
        return await engine.verify(evidence)


# --- a retry never resends a used challenge ---------------------------------------------------


@pytest.mark.parametrize("fault", ["truncated", "reset", "http_5xx=504", "vendor_error"])
async def test_a_challenge_that_may_have_reached_the_vendor_is_not_resent(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path, fault: str
) -> None:
    """The request left whole and no answer came: Tencent may have used the digits, and a
    resend would read as a replay attack (-5016): a live person rejected. Instead: one
    attempt, and a new capture with a fresh challenge, saying why."""
    data = {"policies": policies()}
    decision = await _challenged_under(box, sim_host, demo, tmp_path, fault, data)
    assert decision.outcome is Outcome.RETRY_CAPTURE, decision.record.explanation
    assert "liveness:challenge_spent" in decision.reasons
    assert [a.attempt for a in decision.record.attempts] == [1]
    assert decision.hint == CaptureIssue.CHALLENGE_SPENT.hint
    assert "fresh challenge" in decision.record.explanation
    assert "not resent" in decision.record.explanation


async def test_a_rate_limited_request_is_sent_again_with_its_challenge(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path
) -> None:
    """Turned away for its rate, the request was not processed: the digits are unused, and
    the retry that follows the vendor's pause passes a live person."""
    data = {"policies": policies()}
    decision = await _challenged_under(box, sim_host, demo, tmp_path, "rate_limited", data)
    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    assert [a.attempt for a in decision.record.attempts] == [1, 2]


async def test_a_deadline_that_cuts_the_call_asks_for_a_fresh_challenge(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path
) -> None:
    """The deadline passed while the request carrying the digits was out: the vendor may have
    used them, so the same evidence sent again would be a replay. The decision says so
    (a new capture, a fresh challenge, the deadline named), not a bare error to retry."""
    slow = policies()
    slow["video_first"]["deadline"] = 1.0
    decision = await _challenged_under(
        box, sim_host, demo, tmp_path, "latency=3", {"policies": slow}
    )
    assert decision.outcome is Outcome.RETRY_CAPTURE, decision.record.explanation
    assert "liveness:challenge_spent" in decision.reasons
    assert decision.hint == CaptureIssue.CHALLENGE_SPENT.hint
    assert "when the 1 s deadline passed" in decision.record.explanation
    assert "fresh challenge" in decision.record.explanation


# --- the engine's seal -------------------------------------------------------------------------


async def test_a_stretched_expiry_is_refused_before_anything_is_sent(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path
) -> None:
    """The reviewer's forgery: the caller moves ``expires_at`` far ahead. The seal no longer
    verifies, so nothing reaches the vendor."""
    async with _engine(box, sim_host, {"policies": policies()}) as engine:
        engine.set_default_policy("video_first")
        issued = await engine.challenge()
        forged = attrs.evolve(
            issued, issued_at=issued.issued_at - 10_000, expires_at=issued.issued_at + 10**9
        )
        before = box.app(TENCENT).stats.total
        evidence = Evidence(
            video=_video(tmp_path, demo, issued.value),
            reference_photo=demo["card_photo"],
            challenge=forged,
        )
        with pytest.raises(InvalidEvidenceError) as info:
            await engine.verify(evidence)
    assert info.value.field == "challenge.mac"
    assert box.app(TENCENT).stats.total == before


# --- shadows never carry the challenge --------------------------------------------------------


def _shadowed(shadow: str, live: str) -> dict[str, Any]:
    retry_once = {"retry": {"max_attempts": 1}}
    policy = {"deadline": 5.0, "liveness": {"vendors": [live]},
              "vendors": {TENCENT: retry_once, OLD: retry_once}}  # fmt: skip
    experiment = {"policy": "hosts", "shadow": shadow, "max_delay": 4.0, "timeout": 4.0}
    return {"policies": {"hosts": policy}, "experiments": {"sh": experiment}}


@pytest.mark.parametrize(("shadow", "live"), [(OLD, TENCENT), (TENCENT, OLD), (TENCENT, TENCENT)])
async def test_a_shadow_never_receives_the_live_challenge(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path, shadow: str, live: str
) -> None:
    """Another instance would see digits not its own; the same vendor could use them up
    before the live call. The shadow is skipped, recorded as such, and sends nothing."""
    async with _engine(box, sim_host, _shadowed(shadow, live)) as engine:
        challenge = await engine.challenge("subj", policy="hosts")
        before = {n: box.app(n).stats.total for n in (TENCENT, OLD)}
        evidence = Evidence(
            video=_video(tmp_path, demo, challenge.value),
            challenge=challenge,
            subject_id="subj",
            consents=[Consent.SHADOW_EVALUATION],
        )
        decision = await engine.verify(evidence, policy="hosts")
        await engine.drain()
        served = {n: box.app(n).stats.total - before[n] for n in (TENCENT, OLD)}
    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    assert [(s.vendor, s.status, list(s.attempts)) for s in decision.record.shadow] == [
        (shadow, "challenge_not_shared", [])
    ]
    other = OLD if live == TENCENT else TENCENT
    assert served == {live: 1, other: 0}
