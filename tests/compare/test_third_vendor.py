"""A third vendor offering face match only (selfie vs card photo) joins a sandbox study.

Installing it must not change what the other vendors are judged on: liveness is still
compared for the two vendors offering it, and their per-check numbers are the same as
without it. The third vendor, which compares the selfie with the card photo, accepts
impostors at about its published FAR, not all of them (every live capture of an impostor
shows the impostor).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kycmux import Check, Engine, PluginHost
from kycmux.compare import (
    CompareSettings,
    Manifest,
    evidence_for,
    run_comparison,
    write_synthetic_manifest,
)
from kycmux.report import summarize
from kycmux.results import Label, SqliteResultStore
from kycmux.simkit import Sandbox, run_sandbox
from support.cardmatch import NAME, PUBLISHED_FAR, CardMatch
from support.sim_fixtures import LINKFACE, TENCENT

THREE = (LINKFACE, TENCENT, NAME)


@pytest.fixture(scope="module")
def three_host() -> PluginHost:
    host = PluginHost.from_entry_points()
    assert host.register(CardMatch(), "cardmatch"), host.failures
    return host


@pytest.fixture(scope="module")
def three_box(three_host: PluginHost) -> Iterator[Sandbox]:
    with run_sandbox(three_host, THREE, caller_challenges=True) as box:
        box.app(LINKFACE).rate_per_s = 1_000_000.0
        yield box


@pytest.fixture(scope="module")
def big_manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    folder = tmp_path_factory.mktemp("third")
    return Manifest.load(write_synthetic_manifest(folder, rows=160, seed=5))


def _study(
    host: PluginHost, box: Sandbox, manifest: Manifest, path: Path, vendors: tuple[str, ...]
) -> tuple[CompareSettings, dict[str, Any]]:
    settings = CompareSettings.from_host(host, study="s", vendors=vendors, concurrency=8)

    async def main() -> None:
        async with Engine.from_config(box.config(host), host=host) as engine:
            await run_comparison(engine, manifest, store, settings)

    with SqliteResultStore.open(path) as store:
        asyncio.run(main())
        results = store.results("s")
    return settings, summarize(results, bootstrap=0)


@pytest.fixture(scope="module")
def studies(
    three_host: PluginHost,
    three_box: Sandbox,
    big_manifest: Manifest,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[CompareSettings, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("stores")
    return {
        "two": _study(three_host, three_box, big_manifest, folder / "two.sqlite", THREE[:2]),
        "three": _study(three_host, three_box, big_manifest, folder / "three.sqlite", THREE),
    }


def _check(summary: dict[str, Any], check: str) -> dict[str, Any]:
    return next(c for c in summary["checks"] if c["check"] == check)


def test_a_face_match_only_vendor_does_not_narrow_the_others(
    studies: dict[str, tuple[CompareSettings, dict[str, Any]]],
) -> None:
    settings, summary = studies["three"]
    # Liveness is still compared: each check is judged by every vendor offering it.
    assert settings.checks == (Check.LIVENESS, Check.FACE_MATCH)
    assert list(_check(summary, "liveness")["systems"]) == [LINKFACE, TENCENT]
    assert list(_check(summary, "face_match")["systems"]) == [NAME, LINKFACE, TENCENT]
    _, before = studies["two"]
    for check in ("liveness", "face_match"):
        for vendor in (LINKFACE, TENCENT):
            # The same numbers as without the third vendor: installing it changed nothing.
            assert (
                _check(summary, check)["systems"][vendor]
                == (_check(before, check)["systems"][vendor])
            )
    # Whole decisions compare only the two serving the same checks; the third is not ranked
    # on them (spoofs would count against a vendor that never looked for one).
    whole = summary["whole_decision"]
    assert whole["compared"] == [LINKFACE, TENCENT]
    assert whole["excluded"] == [
        {"system": NAME, "reason": "its decisions serve face_match, not the same checks as "
         "another system"},
    ]  # fmt: skip
    assert set(summary["accuracy"]["systems"]) == {LINKFACE, TENCENT}
    assert {r["system"] for r in summary["verdict"]["ranking"]} <= {LINKFACE, TENCENT}
    assert summary["verdict"]["paragraphs"][:1] == before["verdict"]["paragraphs"][:1]


def _binomial_upper(n: int, p: float, alpha: float = 0.01) -> int:
    """The smallest k with P(X > k) < alpha for X ~ Binomial(n, p)."""
    tail, k = 1.0, -1
    while tail >= alpha:
        k += 1
        tail -= math.comb(n, k) * p**k * (1 - p) ** (n - k)
    return k


def test_a_selfie_vs_card_vendor_accepts_impostors_at_its_far_not_all_of_them(
    studies: dict[str, tuple[CompareSettings, dict[str, Any]]], big_manifest: Manifest
) -> None:
    _, summary = studies["three"]
    impostors = sum(row.label is Label.IMPOSTOR for row in big_manifest)
    face = _check(summary, "face_match")["systems"][NAME]
    assert face["n_attack"] == impostors >= 30
    # Before every live capture of an impostor showed the impostor, the selfie showed the
    # claimed person and this vendor passed every impostor.
    assert face["far"]["count"] <= _binomial_upper(impostors, PUBLISHED_FAR)
    assert face["frr"]["value"] < 0.5
    assert face["usable"]


def test_each_vendor_gets_the_reference_photo_on_its_declared_reference_side(
    three_host: PluginHost, big_manifest: Manifest
) -> None:
    row = next(r for r in big_manifest if r.label is Label.IMPOSTOR)
    specs = three_host.vendors
    face = (Check.LIVENESS, Check.FACE_MATCH)
    # Linkface compares its SDK capture with its "selfie": that side gets the card photo.
    linkface = evidence_for(row.evidence, specs[LINKFACE], face)
    assert linkface.selfie == row.evidence.reference_photo
    assert linkface.liveness_data == row.evidence.liveness_data
    # Liveness alone compares no faces: nothing moves.
    assert evidence_for(row.evidence, specs[LINKFACE], (Check.LIVENESS,)) == row.evidence
    # Vendors whose reference side is the reference photo already get the row as it is.
    for vendor in (TENCENT, NAME):
        assert evidence_for(row.evidence, specs[vendor], face) == row.evidence


def test_linkface_rejects_impostors_whose_every_live_capture_shows_them(
    studies: dict[str, tuple[CompareSettings, dict[str, Any]]], big_manifest: Manifest
) -> None:
    _, summary = studies["three"]
    impostors = sum(row.label is Label.IMPOSTOR for row in big_manifest)
    for vendor in (LINKFACE, TENCENT):
        face = _check(summary, "face_match")["systems"][vendor]
        # Linkface at its recommended 0.7 publishes FAR 1e-4; Tencent at 80 as well.
        assert face["n_attack"] == impostors
        assert face["far"]["count"] <= _binomial_upper(impostors, 1e-3)
