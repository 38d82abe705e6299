"""Where Tencent's scores pass: strictly above the threshold, as both documents write it.

livedetectfour: "推荐相似度大于70时可判断为同一人" (recommended: same person when the similarity
is greater than 70) and "判断 sim 是否大于阈值（如 sim > 75）"; idcardcompare: "推荐相似度大于75时
可判断为同一人". A score exactly at the threshold does not pass, whether the threshold is raw,
the vendor's recommendation, or a FAR (70 is FAR 1/1,000: "FAR below 1e-3" excludes 70).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from kycmux import Check, HttpClient, PluginHost, VendorConfig, VendorSpec
from kycmux.decision import Verdict
from tencent_legacy.pipeline import IDCARDCOMPARE, LIVEDETECTFOUR, Pipeline, policy

VENDOR_DOCS = Path(__file__).resolve().parents[3] / "shared" / "vendor-docs"
FACE_MATCH, REGISTRY = frozenset({Check.FACE_MATCH}), frozenset({Check.ID_REGISTRY_MATCH})


def _sim(value: float) -> bytes:
    data = {"live_status": 0, "live_msg": "OK", "compare_status": 0, "compare_msg": "OK"}
    return json.dumps({"data": {**data, "sim": value}, "code": 0, "message": "OK"}).encode()


def _similarity(value: float) -> bytes:
    data = {"similarity": value, "session_id": ""}
    return json.dumps({"data": data, "code": 0, "message": "OK"}).encode()


@pytest.mark.parametrize(
    ("document", "wording"),
    [
        ("tencent-livedetectfour.md", "推荐相似度大于70时可判断为同一人"),
        ("tencent-livedetectfour.md", "sim > 75"),
        ("tencent-livedetectfour.txt", "推荐相似度大于70时可判断为同一人"),
        ("tencent-idcardcompare.txt", "推荐相似度大于75时可判断为同一人"),
    ],
)
def test_the_documents_say_greater_than(document: str, wording: str) -> None:
    path = VENDOR_DOCS / document
    if not path.is_file():
        pytest.skip(f"vendor documents not beside the repository ({path})")
    assert wording in path.read_text(encoding="utf-8")


def test_both_scores_are_declared_strict(spec: VendorSpec) -> None:
    for name in ("sim", "similarity"):
        score = spec.score_spec(name)
        assert score is not None
        assert score.inclusive is False, name


def _verdict(pipeline: Pipeline, operation: str, checks: frozenset[Check], body: bytes) -> Verdict:
    (verdict,) = pipeline.judge(operation, checks, body).verdicts.values()
    return verdict.verdict


def _pipeline(
    host: PluginHost, config: VendorConfig, http: HttpClient, **rules: object
) -> Pipeline:
    return Pipeline(host, config, policy(host, **rules), http)


RAW: Mapping[Check, float] = {Check.FACE_MATCH: 70.0, Check.ID_REGISTRY_MATCH: 75.0}


@pytest.mark.parametrize(
    ("rules", "at", "above"),
    [
        ({"raw": RAW}, 70.0, 71.0),  # the recommended 70 as a raw threshold
        ({"max_far": 1e-3}, 70.0, 71.0),  # the FAR the vendor publishes for 70
        ({}, 80.0, 81.0),  # the default max_far 1e-4: 80 in the vendor's table
        ({"max_far": 1e-4}, 80.0, 80.5),
    ],
    ids=["raw_70", "max_far_1e-3", "default_max_far", "max_far_1e-4"],
)
def test_sim_at_the_threshold_fails_and_above_it_passes(
    host: PluginHost,
    config: VendorConfig,
    http_client: HttpClient,
    rules: dict[str, object],
    at: float,
    above: float,
) -> None:
    pipeline = _pipeline(host, config, http_client, **rules)
    assert _verdict(pipeline, LIVEDETECTFOUR, FACE_MATCH, _sim(at)) is Verdict.FAIL
    assert _verdict(pipeline, LIVEDETECTFOUR, FACE_MATCH, _sim(above)) is Verdict.PASS


@pytest.mark.parametrize("rules", [{}, {"raw": RAW}], ids=["vendor_recommended", "raw_75"])
def test_similarity_at_75_fails_and_above_it_passes(
    host: PluginHost, config: VendorConfig, http_client: HttpClient, rules: dict[str, object]
) -> None:
    pipeline = _pipeline(host, config, http_client, **rules)
    source = "raw" if rules else "vendor_recommended"
    judged = pipeline.judge(IDCARDCOMPARE, REGISTRY, _similarity(75.0))
    assert judged.verdicts[Check.ID_REGISTRY_MATCH].threshold.source == source
    assert judged.verdicts[Check.ID_REGISTRY_MATCH].verdict is Verdict.FAIL
    assert _verdict(pipeline, IDCARDCOMPARE, REGISTRY, _similarity(75.5)) is Verdict.PASS
