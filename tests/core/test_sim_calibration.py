"""The simulators' face-match scores follow the vendors' published false-accept tables.

200,000 impostor pairs are drawn as the synthetic manifest draws its impostor rows (two
different persons, difficulty from ``ATTACK_DIFFICULTY``) and scored by each simulator's own
score function (no HTTP: the wire is tested elsewhere). At every published threshold, the
count passing under the vendor's own comparison (Tencent ``sim > t``, Linkface
``verify_score >= t``) must lie in the central 99 % region of Binomial(n, published FAR);
where n·FAR is below 1 (Linkface 0.9 → 1e-6: 0.2 expected) that region starts at 0, so the
check there is that the rare tail is not overrun (at most 2 passes).

The draws are seeded, so the outcome is fixed; it fails if the calibration drifts by more
than the binomial spread (about ±18 % at 1e-3, ±50 % at 1e-4).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from kycmux import ScoreSpec
from kycmux.compare import write_synthetic_manifest
from kycmux.results import Label
from kycmux.synthetic import (
    ATTACK_DIFFICULTY,
    GENUINE_DIFFICULTY,
    ImageTruth,
    VideoTruth,
    match_rank,
    read_truth_file,
)
from kycmux_linkface._sim import verify_score
from kycmux_linkface._spec import VERIFY_SCORE
from kycmux_tencent_legacy._sim._scores import SALT as TENCENT_SALT
from kycmux_tencent_legacy._sim._scores import face_match_sim
from kycmux_tencent_legacy._spec import SIM_SCORE
from support.binomial import acceptance, clopper_pearson

IMPOSTOR_PAIRS = 200_000
GENUINE_PAIRS = 50_000

Pair = tuple[str, str, float]
ScoreFn = Callable[[str, str, float], float]


def _tencent(a: str, b: str, difficulty: float) -> float:
    return face_match_sim(a, b, difficulty)


def _linkface(a: str, b: str, difficulty: float) -> float:
    return verify_score(a, b, difficulty=difficulty)


VENDORS: dict[str, tuple[ScoreFn, ScoreSpec]] = {
    "tencent_legacy": (_tencent, SIM_SCORE),
    "linkface": (_linkface, VERIFY_SCORE),
}
# The false-reject rates each simulator chose at its vendor's recommended threshold (the
# vendors publish none; docs/simulators.md states them).
GENUINE_FRR = {"tencent_legacy": 0.03, "linkface": 0.02}


def _impostor_pairs(n: int, seed: int) -> list[Pair]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        a, b = rng.sample(range(1_000_000), 2)
        pairs.append((f"S{seed}-{a:06d}", f"S{seed}-{b:06d}", ATTACK_DIFFICULTY.draw(rng)))
    return pairs


def _genuine_pairs(n: int, seed: int) -> list[Pair]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        person = f"S{seed}-{rng.randrange(1_000_000):06d}"
        pairs.append((person, person, GENUINE_DIFFICULTY.draw(rng)))
    return pairs


@pytest.fixture(scope="module")
def impostors() -> list[Pair]:
    return _impostor_pairs(IMPOSTOR_PAIRS, seed=14)


def _passes(scores: Sequence[float], spec: ScoreSpec, threshold: float) -> int:
    if spec.inclusive:
        return sum(score >= threshold for score in scores)
    return sum(score > threshold for score in scores)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_impostors_pass_at_the_published_rates(vendor: str, impostors: list[Pair]) -> None:
    score, spec = VENDORS[vendor]
    assert spec.calibration is not None
    scores = [score(a, b, d) for a, b, d in impostors]
    n = len(scores)
    for threshold, far in spec.calibration.points:
        passed = _passes(scores, spec, threshold)
        low, high = acceptance(n, far)
        assert low <= passed <= high, (
            f"{vendor} at {threshold:g}: {passed} of {n} impostors passed "
            f"(99 % CP {clopper_pearson(passed, n)}), published FAR {far:g} "
            f"allows {low}-{high}"
        )


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_genuine_pairs_pass_at_the_documented_rate(vendor: str) -> None:
    score, spec = VENDORS[vendor]
    assert spec.recommended_threshold is not None
    scores = [score(a, b, d) for a, b, d in _genuine_pairs(GENUINE_PAIRS, seed=41)]
    rejected = len(scores) - _passes(scores, spec, spec.recommended_threshold)
    low, high = acceptance(len(scores), GENUINE_FRR[vendor])
    assert low <= rejected <= high, f"{vendor}: {rejected} of {len(scores)} genuine rejected"


def test_the_manifests_impostor_rows_rank_uniformly(tmp_path: Path) -> None:
    """The calibration integrates over ATTACK_DIFFICULTY: the manifest's impostor rows must
    draw from it, or the published rates no longer hold on a study. Kolmogorov–Smirnov
    against uniform ranks, at the 1 % level."""
    manifest = write_synthetic_manifest(tmp_path, rows=300, seed=3, mix={Label.IMPOSTOR: 1.0})
    tails = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        video, card = (read_truth_file(tmp_path / row[f]) for f in ("video", "reference_photo"))
        assert isinstance(video, VideoTruth)
        assert isinstance(card, ImageTruth)
        assert video.person != card.person
        difficulty = max(video.difficulty, card.difficulty)
        rank = match_rank(video.person, card.person, difficulty=difficulty, salt=TENCENT_SALT)
        tails.append(rank.tail)
    tails.sort()
    n = len(tails)
    distance = max(max((i + 1) / n - t, t - i / n) for i, t in enumerate(tails))
    assert distance < 1.628 / n**0.5, f"KS distance {distance:.3f} over {n} impostor rows"
