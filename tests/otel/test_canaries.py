"""Over the real simulators on loopback: shadow spans and metrics, and no personal data.

The canary suite's world (``engine.canary_support``): every secret, the ID number, the name,
the subject id, the image bytes and the evidence folder are distinctive values; everything
the plugin reported (span names, attributes, events, the spans and metrics as JSON) is looked
through for every one of them, in every form a leak takes.
"""

from __future__ import annotations

import pytest

from engine.canary_support import LINKFACE, TENCENT, CanaryRig
from kycmux import Consent, Outcome
from otel.otel_support import Collected, attributes, every_value

pytestmark = pytest.mark.anyio


async def test_decisions_and_shadows_report_no_personal_data(
    rig: CanaryRig, collected: Collected
) -> None:
    assert rig.host.register(collected.plugin, "test.otel"), rig.host.failures
    shadow = {"policy": "video_first", "shadow": LINKFACE, "max_delay": 4.0, "timeout": 4.0}
    config = rig.config(experiments={"try_linkface": shadow})
    consent = [Consent.SHADOW_EVALUATION]
    async with rig.engine(config) as engine:
        composed = await rig.decide(engine, rig.evidence(0), "composed", "composed")
        shadowed = await rig.decide(
            engine, rig.evidence(1, consents=consent), "video_first", "shadowed"
        )
        spoof = rig.evidence(2, video=rig.files["spoof_video"], consents=consent)
        rejected = await rig.decide(engine, spoof, "video_first", "spoof")
        rig.running[LINKFACE].app.faults.inject("http_5xx=502", count=2)
        failover = await rig.decide(engine, rig.evidence(3), "sdk_first", "outage")
        rig.running[LINKFACE].app.faults.clear()
        await engine.drain()

    assert composed.outcome is Outcome.ACCEPT
    assert shadowed.outcome is Outcome.ACCEPT
    assert rejected.outcome is Outcome.REJECT
    assert failover.outcome is Outcome.ACCEPT
    assert [s.status for s in shadowed.record.shadow] == ["answered"]

    decisions = collected.finished("kycmux.decision")
    assert len(decisions) == 4
    shadows = collected.finished("kycmux.shadow")
    assert len(shadows) == 2
    by_parent = {s.parent.span_id for s in shadows if s.parent is not None}
    assert by_parent <= {d.context.span_id for d in decisions}
    assert {attributes(s)["kycmux.vendor"] for s in shadows} == {LINKFACE}
    # The live spoof was rejected by Tencent; Linkface alone judged its own capture.
    agreement = collected.sums("kycmux.shadow.results", "kycmux.vendor", "kycmux.shadow.agreement")
    assert sum(agreement.values()) == 2
    assert agreement[(LINKFACE, "agree")] >= 1
    attempts = collected.sums("kycmux.attempts", "kycmux.vendor", "error.type")
    assert attempts[(TENCENT, None)] >= 3
    outage = [a.error_class for a in failover.record.attempts if a.vendor == LINKFACE]
    assert outage
    assert outage[0] is not None
    assert attempts[(LINKFACE, outage[0])] == len(outage)
    shadow_attempts = [
        a
        for a in collected.finished("kycmux.attempt")
        if attributes(a)["kycmux.attempt.role"] == "shadow"
    ]
    assert {a.parent.span_id for a in shadow_attempts if a.parent} <= {
        s.context.span_id for s in shadows
    }

    for n, text in enumerate(every_value(collected)):
        rig.exposure.text(f"telemetry #{n}", text)
    rig.assert_no_leaks()
