"""The same persons sent to Linkface and Tencent: clear cases agree, hard cases can disagree.

Both simulators take their persons from ``Population`` and score on the shared synthetic basis,
each through its own curve and salt; this is what lets a vendor comparison find disagreements.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kycmux import (
    AttemptContext,
    Check,
    Evidence,
    PluginHost,
    Score,
    VendorConfig,
    VendorResult,
    VendorSpec,
)
from kycmux.simkit import RunningSimulator, serve_many
from kycmux.synthetic import (
    DEMO_DIGITS,
    ImageTruth,
    LivenessDataTruth,
    Population,
    VideoTruth,
    write_image,
    write_liveness_data,
    write_video,
)

VENDORS = ("linkface", "tencent_legacy")
FAR = 1e-4  # both vendors' recommended operating point


@pytest.fixture(scope="module")
def host() -> PluginHost:
    host = PluginHost.from_entry_points(env={"KYCMUX_PLUGINS": ",".join(VENDORS)})
    assert set(host.vendors) == set(VENDORS), host.failures
    return host


@pytest.fixture(scope="module")
def running(host: PluginHost) -> Iterator[dict[str, RunningSimulator]]:
    apps: dict[str, Any] = {}
    for name in VENDORS:
        factory = host.vendor(name).simulator
        assert factory is not None
        apps[name] = factory()
        # Recorded captures with their recorded digits: the caller-digits opt-in.
        apps[name].accept_unissued_challenges = True
    with serve_many(apps) as sims:
        yield sims


def config(spec: VendorSpec, sim: RunningSimulator) -> VendorConfig:
    settings = dict(sim.client_settings())
    base_url = str(settings.pop("base_url"))
    defaults = {f.name: f.default for f in spec.config_fields if not f.required}
    if spec.challenge is not None and spec.challenge.opt_in is not None:
        defaults[spec.challenge.opt_in] = True
    return VendorConfig(spec.name, base_url, {**defaults, **settings})


def face_match(
    host: PluginHost, sims: dict[str, RunningSimulator], wire: Any, name: str, evidence: Evidence
) -> bool:
    """Whether ``name`` says "same person" at FAR <= 1e-4."""
    spec, hooks = host.vendor(name), host.hooks_for(name)
    cfg = config(spec, sims[name])
    context = AttemptContext("cross-vendor")
    checks = frozenset({Check.FACE_MATCH})
    request = hooks.build_request(
        vendor=spec, checks=checks, evidence=evidence, config=cfg, context=context
    )
    request = hooks.sign(vendor=spec, request=request, config=cfg, context=context)
    with httpx.Client(timeout=10.0) as client:
        response = wire(client, request)
    result: VendorResult = hooks.parse(vendor=spec, request=request, response=response, config=cfg)
    answer = result.answers[Check.FACE_MATCH]
    assert answer.ok, (name, result.code)
    assert answer.score is not None
    score: Score = hooks.normalize_score(vendor=spec, check=Check.FACE_MATCH, raw=answer.score)
    assert score.far is not None
    return score.far <= FAR


def evidence_pair(folder: Path, person: str, difficulty: float) -> dict[str, Evidence]:
    """Each vendor's evidence of one capture session of ``person``; the photo is shared."""
    tag = f"{person}-{difficulty}"
    photo = write_image(folder / f"{tag}.png", ImageTruth(person, difficulty=difficulty))
    video = write_video(folder / f"{tag}.mp4", VideoTruth(person, difficulty=difficulty))
    data = write_liveness_data(
        folder / f"{tag}.bin", LivenessDataTruth(person, difficulty=difficulty)
    )
    return {
        "linkface": Evidence(selfie=photo, liveness_data=data),
        "tencent_legacy": Evidence(video=video, digits=DEMO_DIGITS, reference_photo=photo),
    }


def verdicts(
    host: PluginHost,
    sims: dict[str, RunningSimulator],
    wire: Any,
    folder: Path,
    difficulty: float,
) -> list[tuple[bool, bool]]:
    """(Linkface, Tencent) face-match verdicts for a fixed cast at one difficulty."""
    out = []
    for person in Population.generate(12, seed=11):
        pair = evidence_pair(folder, person.person_id, difficulty)
        linkface, tencent = (face_match(host, sims, wire, v, pair[v]) for v in VENDORS)
        out.append((linkface, tencent))
    return out


def test_clear_genuine_pairs_agree(
    host: PluginHost, running: dict[str, RunningSimulator], wire: Any, tmp_path: Path
) -> None:
    assert verdicts(host, running, wire, tmp_path, 0.0) == [(True, True)] * 12


def test_hard_genuine_pairs_disagree_somewhere(
    host: PluginHost, running: dict[str, RunningSimulator], wire: Any, tmp_path: Path
) -> None:
    results = verdicts(host, running, wire, tmp_path, 1.0)
    assert any(a != b for a, b in results)
