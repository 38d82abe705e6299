"""``EvidenceRoles``: which evidence a face comparison takes as live capture and as reference."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kycmux import Check, CheckOffer, EvidenceKind, EvidenceRoles, Need, PluginHost

SELFIE, CARD, VIDEO, DATA = (
    EvidenceKind.SELFIE,
    EvidenceKind.REFERENCE_PHOTO,
    EvidenceKind.VIDEO,
    EvidenceKind.LIVENESS_DATA,
)


def test_the_bundled_vendors_declare_their_sides() -> None:
    specs = PluginHost.from_entry_points().vendors
    declared = {
        (name, offer.check): offer.roles
        for name, spec in specs.items()
        for offer in spec.offers
        if name in ("linkface", "tencent_legacy")
    }
    assert declared == {
        ("linkface", Check.LIVENESS): None,
        # Linkface compares its SDK capture with the photo sent as "selfie": the reference.
        ("linkface", Check.FACE_MATCH): EvidenceRoles(DATA, SELFIE),
        ("tencent_legacy", Check.LIVENESS): None,
        ("tencent_legacy", Check.FACE_MATCH): EvidenceRoles(VIDEO, CARD),
        # idcardcompare: the photo against the registry's own, held by the vendor.
        ("tencent_legacy", Check.ID_REGISTRY_MATCH): EvidenceRoles(SELFIE),
    }


def test_an_offer_without_roles_still_works() -> None:
    """Plugins written before roles existed keep loading: the field is optional."""
    offer = CheckOffer(Check.FACE_MATCH, "verify", (Need(SELFIE), Need(CARD)))
    assert offer.roles is None


@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (lambda: EvidenceRoles(SELFIE, SELFIE), "live and reference must be different"),
        (lambda: EvidenceRoles(EvidenceKind.DIGITS, CARD), "live: must be a media"),
        (lambda: EvidenceRoles(SELFIE, EvidenceKind.ID_NUMBER), "reference: must be a media"),
        (
            lambda: CheckOffer(
                Check.LIVENESS, "verify", (Need(SELFIE), Need(CARD)), roles=EvidenceRoles(SELFIE)
            ),
            "roles are for face comparisons only",
        ),
        (
            lambda: CheckOffer(
                Check.FACE_MATCH, "verify", (Need(SELFIE),), roles=EvidenceRoles(SELFIE, CARD)
            ),
            "roles must name evidence among its needs",
        ),
    ],
    ids=["same-side", "text-live", "text-reference", "not-a-face-check", "not-needed"],
)
def test_roles_are_checked_when_declared(make: Callable[[], object], rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        make()


def test_roles_describe_themselves() -> None:
    assert EvidenceRoles(VIDEO, CARD).describe() == "video vs reference_photo"
    assert EvidenceRoles(SELFIE).describe() == "selfie vs registry"
