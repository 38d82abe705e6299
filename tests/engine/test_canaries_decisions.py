"""Canaries: no secret, ID number, name, subject id, image or evidence path in anything visible,
after decisions over the wire.

Both simulators run on loopback knowing only canary accounts; the Tencent registry holds the
canary person (ID number and name). Decisions of every kind go over real HTTP: passes,
definitive negatives, capture errors, rejected credentials, injected faults and malformed
answers, a shadow experiment writing to SQLite. Everything a user could see is collected (DEBUG
logs of kycmux, httpx, httpcore and aiohttp, reprs, every exception raised or handed around
with its whole chain, the records file, the result store's bytes and rows) and searched for
every canary in every form a leak takes (``canary_support``). One test per kind of leak, so a
failure says which. Local refusals are in ``test_canaries_refusals``, the detector's own tests
in ``test_canaries_detector``.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.canary_support import (
    ID_NUMBER,
    LINKFACE,
    LINKFACE_EXPIRED_ID,
    NAME,
    SUBJECT_ID,
    TENCENT,
    CanaryRig,
    Cases,
    reasons,
)
from kycmux import Consent, Decision, Outcome

pytestmark = pytest.mark.anyio


async def test_passing_decisions_leak_nothing(rig: CanaryRig) -> None:
    decisions: list[Decision] = []
    for backend in ("aiohttp", "httpx"):
        async with rig.engine(rig.config(engine={"async_backend": backend})) as engine:
            n = len(decisions)
            # Linkface (liveness and face match) and Tencent's registry check, by ID and name.
            decisions.append(await rig.decide(engine, rig.evidence(n), "composed", "composed"))
            # Tencent's lip-reading video compared with the card photo.
            video = rig.evidence(n + 1, selfie=None, liveness_data=None)
            decisions.append(await rig.decide(engine, video, "video_first", "video"))
            decisions.append(await rig.decide(engine, rig.evidence(n + 2), "registry", "registry"))

    assert [d.outcome for d in decisions] == [Outcome.ACCEPT] * 6, [reasons(d) for d in decisions]
    # The canaries did travel: both vendors took the canary credentials and evidence, and the
    # registry matched the canary ID number and name.
    assert {a.vendor for d in decisions for a in d.record.attempts} == {LINKFACE, TENCENT}
    assert len(rig.tap.objects) >= 12
    rig.file_records()
    assert len(rig.records.read_text(encoding="utf-8").splitlines()) == len(decisions)
    rig.assert_no_leaks()


async def test_definitive_negatives_leak_nothing(rig: CanaryRig) -> None:
    files = rig.files
    cases: Cases = {
        "spoof video": ({"video": files["spoof_video"]}, "video_first"),
        "attack liveness data": ({"liveness_data": files["attack_liveness"]}, "sdk_first"),
        "face mismatch": ({"video": files["impostor_video"]}, "video_first"),
        "registry mismatch": ({"selfie": files["impostor_selfie"]}, "registry"),
    }
    async with rig.engine(rig.config()) as engine:
        decisions = await rig.decide_cases(engine, cases, first=10)
    outcomes = {label: decision.outcome for label, decision in decisions.items()}
    assert set(outcomes.values()) == {Outcome.REJECT}, outcomes
    rig.file_records()
    rig.assert_no_leaks()


async def test_capture_errors_leak_nothing(rig: CanaryRig) -> None:
    files = rig.files
    only_video = {"selfie": None, "liveness_data": None}
    only_sdk = {"video": None, "reference_photo": None}
    cases: Cases = {
        "silent video": (dict(video=files["silent_video"], **only_video), "video_first"),
        "no face in the selfie": (dict(selfie=files["no_face_selfie"], **only_sdk), "sdk_first"),
        "unreadable liveness data": (
            dict(liveness_data=files["unreadable_liveness"], **only_sdk),
            "sdk_first",
        ),
        "no face for the registry": ({"selfie": files["no_face_selfie"]}, "registry"),
    }
    async with rig.engine(rig.config()) as engine:
        decisions = await rig.decide_cases(engine, cases, first=20)
    outcomes = {label: decision.outcome for label, decision in decisions.items()}
    assert outcomes["silent video"] is Outcome.RETRY_CAPTURE, outcomes
    assert outcomes["no face in the selfie"] is Outcome.RETRY_CAPTURE, outcomes
    assert outcomes["unreadable liveness data"] is Outcome.RETRY_CAPTURE, outcomes
    assert outcomes["no face for the registry"] is not Outcome.ACCEPT, outcomes
    rig.file_records()
    rig.assert_no_leaks()


async def test_rejected_credentials_leak_nothing(rig: CanaryRig) -> None:
    """A wrong secret for one vendor: its calls are refused, the other vendor decides."""
    wrong = "${CNRY_WRONG_SECRET}"
    cases: dict[str, tuple[dict[str, Any], str, str]] = {
        "linkface api_secret": ({LINKFACE: {"api_secret": wrong}}, "sdk_first", LINKFACE),
        "tencent secret_key": ({TENCENT: {"secret_key": wrong}}, "video_first", TENCENT),
        "tencent secret_id": ({TENCENT: {"secret_id": wrong}}, "video_first", TENCENT),
    }
    refused = {}
    for n, (label, (changes, policy, vendor)) in enumerate(cases.items()):
        config = rig.config(**changes)
        decision = await rig.decide_once(config, rig.evidence(30 + n), policy, label)
        failed = [a for a in decision.record.attempts if a.vendor == vendor]
        assert failed, reasons(decision)
        assert all(a.error_class for a in failed), reasons(decision)
        refused[label] = (decision.outcome, failed[0].vendor_code)
    assert refused == {
        "linkface api_secret": (Outcome.ACCEPT, "UNAUTHORIZED"),
        "tencent secret_key": (Outcome.ACCEPT, "14"),
        "tencent secret_id": (Outcome.ACCEPT, "11"),
    }
    rig.file_records()
    rig.assert_no_leaks()


async def test_vendor_message_echoing_the_account_leaks_nothing(rig: CanaryRig) -> None:
    """Linkface answers an expired key with ``reason: "account <api_id> expired"``: the
    documented answer quotes a configured secret back, and it must not reach the record."""
    config = rig.config(linkface={"api_id": "${CNRY_LINKFACE_EXPIRED_ID}"})
    assert config.vendors[LINKFACE].reveal("api_id") == LINKFACE_EXPIRED_ID
    decision = await rig.decide_once(config, rig.evidence(40), "sdk_first", "expired")
    linkface = [a for a in decision.record.attempts if a.vendor == LINKFACE]
    assert [a.vendor_code for a in linkface] == ["KEY_EXPIRED"], reasons(decision)
    rig.file_records()
    rig.assert_no_leaks()


FAULTS = [
    (LINKFACE, "non_json", "sdk_first"),
    (LINKFACE, "truncated", "sdk_first"),
    (LINKFACE, "reset", "sdk_first"),
    (LINKFACE, "http_5xx=502", "sdk_first"),
    (LINKFACE, "vendor_error", "sdk_first"),
    (LINKFACE, "rate_limited", "sdk_first"),
    (LINKFACE, "vendor_code=INVALID_ARGUMENT", "sdk_first"),
    (LINKFACE, "vendor_code=CORRUPT_IMAGE", "sdk_first"),
    (TENCENT, "non_json", "video_first"),
    (TENCENT, "truncated", "video_first"),
    (TENCENT, "reset", "video_first"),
    (TENCENT, "http_5xx=503", "video_first"),
    (TENCENT, "vendor_error", "registry"),
    (TENCENT, "vendor_code=-5801", "registry"),
    (TENCENT, "truncated", "registry"),
]


async def test_faults_and_malformed_answers_leak_nothing(rig: CanaryRig) -> None:
    served = []
    for n, (vendor, fault, policy) in enumerate(FAULTS):
        app = rig.running[vendor].app
        kind = fault.partition("=")[0]
        before = app.stats.faults.get(kind, 0)
        app.faults.inject(fault, count=2)
        # A fresh engine each time: an earlier fault must not leave a breaker open.
        label = f"{vendor} {fault}"
        decision = await rig.decide_once(rig.config(), rig.evidence(50 + n), policy, label)
        app.faults.clear()
        served.append((label, app.stats.faults.get(kind, 0) - before))
        failed = [a.error_class for a in decision.record.attempts if a.vendor == vendor]
        assert failed, (label, reasons(decision))
        assert failed[0] is not None, (label, reasons(decision))
    assert all(count >= 1 for _, count in served), served
    # Transport exceptions and malformed answers were handed around (and looked at).
    assert len(rig.tap.errors) >= 6, rig.tap.errors
    rig.file_records()
    rig.assert_no_leaks()


async def test_credentials_in_query_leak_nothing(rig: CanaryRig) -> None:
    """Linkface's documented ``credentials_in = "query"`` puts the secret in the URL."""
    linkface = rig.running[LINKFACE].app
    decisions: list[Decision] = []
    for n, backend in enumerate(("aiohttp", "httpx")):
        config = rig.config(engine={"async_backend": backend}, linkface={"credentials_in": "query"})
        async with rig.engine(config) as engine:
            decisions.append(await rig.decide(engine, rig.evidence(70 + n), "sdk_first", backend))
            linkface.faults.inject("reset", count=2)
            decisions.append(
                await rig.decide(engine, rig.evidence(72 + n), "sdk_first", f"{backend} reset")
            )
            linkface.faults.clear()
    assert [a.vendor for a in decisions[0].record.attempts] == [LINKFACE]
    assert decisions[0].outcome is Outcome.ACCEPT
    rig.file_records()
    rig.assert_no_leaks()


async def test_shadow_experiment_and_result_store_leak_nothing(rig: CanaryRig) -> None:
    """Tencent decides live; Linkface is asked alongside; both land in the SQLite store."""
    store = rig.tmp_path / "results" / "experiments.sqlite"
    shadow = {"policy": "video_first", "shadow": LINKFACE, "max_delay": 4.0, "timeout": 4.0}
    config = rig.config(engine={"results": str(store)}, experiments={"try_linkface": shadow})
    consent = {"consents": [Consent.SHADOW_EVALUATION]}
    files = rig.files
    cases: Cases = {
        "genuine": (consent, "video_first"),
        "spoof": (
            {**consent, "video": files["spoof_video"], "liveness_data": files["attack_liveness"]},
            "video_first",
        ),
        "impostor": (
            {**consent, "video": files["impostor_video"], "selfie": files["impostor_selfie"]},
            "video_first",
        ),
    }
    async with rig.engine(config) as engine:
        decisions = await rig.decide_cases(engine, cases, first=80)
        decisions["no consent"] = await rig.decide(
            engine, rig.evidence(89), "video_first", "no consent"
        )
        # The same subject as the genuine one, without a subject id: keyed by the ID number.
        anonymous = rig.evidence(0, subject_id=None, **consent)
        decisions["by ID number"] = await rig.decide(engine, anonymous, "video_first", "by ID")
        await engine.drain()

    assert decisions["genuine"].outcome is Outcome.ACCEPT
    assert decisions["spoof"].outcome is Outcome.REJECT
    assert [s.status for s in decisions["genuine"].record.shadow] == ["answered"]
    assert [s.status for s in decisions["no consent"].record.shadow] == ["no_consent"]
    rows = rig.exposure.result_store(store)
    assert rows >= 2 * 4 + 1  # live and shadow rows of four decisions, and the study
    rig.file_records()
    rig.assert_no_leaks()


async def test_reprs_of_values_leak_nothing(rig: CanaryRig) -> None:
    """``repr`` / ``str`` of the values a user handles: evidence and its media, the engine
    and its configuration (after decisions left state behind), requests, results, records."""
    config = rig.config(
        engine={"results": str(rig.tmp_path / "r.db")},
        experiments={"try_linkface": {"policy": "video_first", "shadow": LINKFACE}},
    )
    evidences = {
        "every kind": rig.evidence(0, subject_id=SUBJECT_ID),
        "no subject id": rig.evidence(0, subject_id=None),
        "name as UTF-8 bytes": rig.evidence(1, id_name=NAME.encode()),
        "lower-case x": rig.evidence(2, id_number=ID_NUMBER.lower()),
        "spoof": rig.evidence(3, video=rig.files["spoof_video"]),
        "consenting": rig.evidence(4, consents=[Consent.SHADOW_EVALUATION]),
    }
    for label, evidence in evidences.items():
        rig.exposure.obj(f"Evidence ({label})", evidence)
        for kind in ("selfie", "reference_photo", "video", "liveness_data"):
            rig.exposure.obj(f"Evidence.{kind} ({label})", getattr(evidence, kind))
    async with rig.engine(config) as engine:
        rig.expose_engine(engine, config)  # fresh
        first = await rig.decide(engine, evidences["every kind"], "composed", "pass")
        spoof = await rig.decide(engine, evidences["spoof"], "video_first", "spoof")
        await rig.decide(engine, evidences["consenting"], "video_first", "shadowed")
        await engine.drain()
        rig.expose_engine(engine, config)  # with breakers, lockout counts, experiments
    assert (first.outcome, spoof.outcome) == (Outcome.ACCEPT, Outcome.REJECT)
    requests = [v for w, v in rig.tap.objects if w.startswith("sign result")]
    assert {r.vendor for r in requests} == {LINKFACE, TENCENT}
    rig.file_records()
    assert rig.exposure.result_store(rig.tmp_path / "r.db") >= 1  # the shadowed decision
    rig.assert_no_leaks()


async def test_request_file_parts_leak_nothing(rig: CanaryRig) -> None:
    """The file parts of a request (``VendorRequest.files``, public ``FilePart`` values)."""
    await rig.decide_once(rig.config(records=False), rig.evidence(0), "composed", "parts")
    requests = [v for w, v in rig.tap.objects if w.startswith("sign result")]
    parts = [part for request in requests for part in request.files]
    assert len(parts) >= 3
    for part in parts:
        rig.exposure.obj(f"FilePart {part.field}", part)
    rig.assert_no_leaks(tap=False)
