"""Sample evidence for a vendor's checks, in every form its spec declares, and refusable ones.

Pure helpers over ``kycmux.synthetic``'s demo set: the genuine capture of the demo subject is
what every bundled simulator (and the template's) accepts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs

from kycmux._contract._vendor import CheckOffer, Need, VendorSpec
from kycmux._model._challenge import Challenge, ChallengeKind
from kycmux._model._evidence import (
    Check,
    Evidence,
    EvidenceKind,
    FileMedia,
    Media,
    MediaForm,
    UrlMedia,
    VendorMediaId,
)
from kycmux.synthetic import DemoSet, VideoTruth, write_video

__all__ = [
    "DEMO_FILES",
    "FormSample",
    "RefusalSample",
    "declared_forms",
    "genuine_evidence",
    "local_challenge",
    "media_in_form",
    "perform_challenge",
    "undeclared_forms",
]

# Which demo file stands for each piece of media evidence in a genuine capture.
DEMO_FILES: Mapping[EvidenceKind, str] = {
    EvidenceKind.SELFIE: "selfie",
    EvidenceKind.REFERENCE_PHOTO: "card_photo",
    EvidenceKind.VIDEO: "live_video",
    EvidenceKind.LIVENESS_DATA: "live_liveness_data",
}
"""The demo file (a simulator's sample name) standing for each media evidence kind."""
# Not a vendor any spec can register (names are lower-case), so its ids are never acceptable.
_FOREIGN_VENDOR = "Kycmux-Conformance-Other"


def genuine_evidence(demo: DemoSet, **overrides: object) -> Evidence:
    """Every piece of evidence of the demo subject: live, the same person, registry OK."""
    values: dict[str, object] = {kind.value: demo[name] for kind, name in DEMO_FILES.items()}
    values.update(digits=demo.digits, id_number=demo.subject.id_number, id_name=demo.subject.name)
    values.update(overrides)
    return Evidence(**values)  # type: ignore[arg-type]


def local_challenge(spec: VendorSpec, evidence: Evidence, now: float) -> Evidence:
    """``evidence`` with its caller-chosen digits turned into a challenge as if ``spec``'s
    vendor had issued them, for hook tests that send nothing (a simulator would refuse it)."""
    if spec.challenge is None or evidence.digits is None:
        return evidence
    challenge = Challenge(
        spec.name, spec.challenge.kind, evidence.digits, now, now + spec.challenge.ttl
    )
    return attrs.evolve(evidence, digits=None, challenge=challenge)


def perform_challenge(evidence: Evidence, challenge: Challenge, demo: DemoSet) -> Evidence:
    """``evidence`` performing ``challenge``: for digits, the demo subject's live video
    re-recorded reading the issued digits (``kycmux.synthetic``), carrying the challenge."""
    if challenge.kind is not ChallengeKind.DIGITS:
        raise NotImplementedError(f"the kit cannot perform a {challenge.kind} challenge")
    truth = demo.truths["live_video"]
    assert isinstance(truth, VideoTruth)
    name = f"challenge-{challenge.issued_at:.6f}-{challenge.value}.mp4"
    video = write_video(demo.directory / name, attrs.evolve(truth, digits_read=challenge.value))
    return attrs.evolve(evidence, video=FileMedia(video), digits=None, challenge=challenge)


def media_in_form(vendor: str, kind: EvidenceKind, form: MediaForm, demo: DemoSet) -> Media:
    """The demo file for ``kind`` as a file, a URL the vendor would fetch, or a vendor id."""
    if form is MediaForm.FILE:
        return FileMedia(demo[DEMO_FILES[kind]])
    if form is MediaForm.URL:
        return UrlMedia(f"https://files.example.com/{DEMO_FILES[kind]}")
    return VendorMediaId(vendor, "kycmux-conformance-media-id")


@attrs.frozen
class FormSample:
    """Evidence for one check with one need in one declared form.

    Attributes:
        check: The check asked for.
        need: The need whose form is exercised.
        form: The form given.
        evidence: The genuine evidence, with that need in that form.
    """

    check: Check
    need: Need
    form: MediaForm
    evidence: Evidence


@attrs.frozen
class RefusalSample:
    """Evidence one check's request must refuse (``InvalidEvidenceError``) before sending.

    Attributes:
        check: The check asked for.
        field: The evidence field at fault, which the error must name.
        evidence: The evidence.
        why: What is wrong with it, for the test's message.
    """

    check: Check
    field: str
    evidence: Evidence
    why: str


def _media_needs(offer: CheckOffer) -> Iterator[Need]:
    return (need for need in offer.needs if not need.kind.is_text)


def declared_forms(spec: VendorSpec, demo: DemoSet) -> Iterator[FormSample]:
    """One sample per offered check, media need and form the spec declares for it."""
    for offer in spec.offers:
        for need in _media_needs(offer):
            for form in sorted(need.forms):
                media = media_in_form(spec.name, need.kind, form, demo)
                evidence = genuine_evidence(demo, **{need.kind.value: media})
                yield FormSample(offer.check, need, form, evidence)


def undeclared_forms(spec: VendorSpec, demo: DemoSet) -> Iterator[RefusalSample]:
    """Media a need does not accept: each undeclared form, and another vendor's media id."""
    for offer in spec.offers:
        for need in _media_needs(offer):
            field = need.kind.value
            for form in sorted(set(MediaForm) - need.forms - {MediaForm.VENDOR_ID}):
                media = media_in_form(spec.name, need.kind, form, demo)
                yield RefusalSample(
                    offer.check, field, genuine_evidence(demo, **{field: media}), f"{form} form"
                )
            foreign = VendorMediaId(_FOREIGN_VENDOR, "kycmux-conformance-media-id")
            yield RefusalSample(
                offer.check, field, genuine_evidence(demo, **{field: foreign}), "a foreign id"
            )
