"""The event loop's own work per decision: what is computed once is passed on, not redone,
and gives what it gave before."""

from __future__ import annotations

from pathlib import Path

import pytest

import kycmux._engine._engine as engine_module
from kycmux import Evidence, EvidenceKind, keyed_hash
from kycmux._model._challenge import Challenge, ChallengeKind
from kycmux._model._evidence import FileMedia, UrlMedia, VendorMediaId, as_media
from kycmux._records._builder import evidence_summary
from kycmux.testing import make_rig, policy

pytestmark = pytest.mark.anyio


async def test_the_subject_is_hashed_once_per_decision(
    png_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []

    def counted(key: bytes, value: str | bytes) -> str:
        hashed.append(keyed_hash(key, value))
        return hashed[-1]

    monkeypatch.setattr(engine_module, "keyed_hash", counted)
    engine = make_rig().engine(policy())
    decision = await engine.verify(Evidence(selfie=png_file, subject_id="subject-1"))
    assert len(hashed) == 1  # the challenge check, the lockout and the record share it
    assert decision.record.subject == keyed_hash(b"k", "subject-1")


def test_a_path_is_kept_as_given_and_a_string_parsed_once(png_file: Path) -> None:
    assert FileMedia(png_file).path is png_file
    media = as_media(str(png_file))
    assert isinstance(media, FileMedia)
    assert media.path == png_file
    assert type(media.path) is type(png_file)


def _summary_as_before(evidence: Evidence) -> dict[str, str]:
    """The summary as ``evidence_summary`` wrote it before it was made cheaper."""
    summary = {}
    for kind in EvidenceKind:
        form = evidence.media_form(kind)
        if form is not None:
            summary[kind.value] = "present" if kind.is_text else form.value
    return summary


def _challenge() -> Challenge:
    return Challenge("tencent_legacy", ChallengeKind.DIGITS, "1234", 0.0, 1e12)


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"selfie": "file"},
        {"selfie": UrlMedia("https://cdn.example.com/a.jpg"), "digits": "1234"},
        {"reference_photo": VendorMediaId("linkface", "img-1"), "liveness_data": "file"},
        {"id_number": "11010519491231002X", "id_name": "张三", "selfie": "file"},
        {"challenge": "challenge"},
    ],
)
def test_the_evidence_summary_is_what_it_was(png_file: Path, given: dict[str, object]) -> None:
    values = {
        k: png_file if v == "file" else _challenge() if v == "challenge" else v
        for k, v in given.items()
    }
    evidence = Evidence(**values)  # type: ignore[arg-type]
    assert evidence_summary(evidence) == _summary_as_before(evidence)
