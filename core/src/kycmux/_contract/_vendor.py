"""What a vendor plugin declares about a vendor: ``VendorSpec`` and its parts."""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from kycmux._contract._codes import CodeTable
from kycmux._contract._score import ScoreSpec
from kycmux._model._challenge import ChallengeKind
from kycmux._model._evidence import Check, Evidence, EvidenceKind, MediaForm
from kycmux._transport._http import DEFAULT_MAX_RESPONSE_BYTES

if TYPE_CHECKING:
    from kycmux.simkit import Simulator

__all__ = [
    "FACE_CHECKS",
    "ChallengeSpec",
    "CheckOffer",
    "ConfigField",
    "EvidenceRoles",
    "Need",
    "VendorSpec",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_CONFIG_TYPES = (str, int, float, bool)


@attrs.frozen
class ConfigField:
    """One key of a vendor's ``[vendors.<name>]`` table.

    Attributes:
        name: The key.
        type: ``str``, ``int``, ``float`` or ``bool``.
        doc: One line for ``kycmux vendors`` and the docs.
        required: Must be present (``default`` is ignored then).
        secret: Must be given as a ``${ENV_VAR}`` reference; held as a ``Secret``.
        default: Value when absent and not required.
    """

    name: str
    type: type = attrs.field(default=str)
    doc: str = ""
    required: bool = False
    secret: bool = False
    default: Any = None

    @type.validator
    def _type(self, _attribute: attrs.Attribute[Any], value: builtins.type) -> None:
        if value not in _CONFIG_TYPES:
            raise ValueError(f"ConfigField {self.name}: type must be str, int, float or bool")


def _forms(value: Iterable[MediaForm]) -> frozenset[MediaForm]:
    return frozenset(MediaForm(v) for v in value)


@attrs.frozen
class Need:
    """One piece of evidence a check needs, and the forms the vendor accepts it in.

    Attributes:
        kind: Which evidence.
        forms: Accepted media forms (ignored for text evidence: digits, ID number, name).
    """

    kind: EvidenceKind
    forms: frozenset[MediaForm] = attrs.field(default=frozenset({MediaForm.FILE}), converter=_forms)

    def met_by(self, evidence: Evidence, vendor: str) -> bool:
        value = evidence.get(self.kind)
        if value is None:
            return False
        if self.kind.is_text:
            return True
        form = evidence.media_form(self.kind)
        if form is MediaForm.VENDOR_ID and getattr(value, "vendor", None) != vendor:
            return False
        return form in self.forms

    def describe(self) -> str:
        if self.kind.is_text:
            return self.kind.value
        return f"{self.kind.value} ({'|'.join(sorted(f.value for f in self.forms))})"


FACE_CHECKS = frozenset({Check.FACE_MATCH, Check.ID_REGISTRY_MATCH})
"""The checks that compare two faces, so that have a live and a reference side."""


def _media_kind(_inst: Any, attribute: attrs.Attribute[Any], value: EvidenceKind | None) -> None:
    if value is None and attribute.name == "reference":
        return
    if not isinstance(value, EvidenceKind) or value.is_text:
        raise ValueError(f"EvidenceRoles.{attribute.name}: must be a media EvidenceKind")


@attrs.frozen
class EvidenceRoles:
    """Which evidence a face comparison takes as the live capture and which as the reference.

    The same ``Evidence`` field can play either side for different vendors (Linkface compares
    its SDK capture with the "selfie"; a selfie-vs-card vendor takes the selfie as the live
    side), so each face-comparing offer states its own; comparisons and docs read it.

    Attributes:
        live: The evidence captured from the person presenting (selfie, video, SDK data).
        reference: The evidence showing the claimed person (the card photo), or ``None`` when
            the vendor holds the reference itself (the national registry photo).
    """

    live: EvidenceKind = attrs.field(validator=_media_kind)
    reference: EvidenceKind | None = attrs.field(default=None, validator=_media_kind)

    def __attrs_post_init__(self) -> None:
        if self.live is self.reference:
            raise ValueError("EvidenceRoles: live and reference must be different evidence")

    def describe(self) -> str:
        return f"{self.live.value} vs {self.reference.value if self.reference else 'registry'}"


@attrs.frozen
class CheckOffer:
    """A check a vendor serves, through which operation, needing which evidence.

    Checks offered through the same ``operation`` are served by one request when a decision
    asks the vendor for several of them (Tencent livedetectfour with a card photo, Linkface).

    Attributes:
        check: The canonical check.
        operation: The vendor operation (endpoint) serving it.
        needs: Evidence that must all be present, each in an accepted form.
        roles: For a face comparison (``face_match``, ``id_registry_match``), which need is
            the live capture and which the reference; ``None`` when not declared (plugins
            written before roles existed). Both must be among ``needs``.
    """

    check: Check
    operation: str
    needs: tuple[Need, ...]
    roles: EvidenceRoles | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.roles is None:
            return
        if self.check not in FACE_CHECKS:
            raise ValueError(f"CheckOffer {self.check.value}: roles are for face comparisons only")
        kinds = {n.kind for n in self.needs}
        sides = (self.roles.live, self.roles.reference)
        if any(kind is not None and kind not in kinds for kind in sides):
            raise ValueError(
                f"CheckOffer {self.check.value}: roles must name evidence among its needs"
            )

    def missing(self, evidence: Evidence, vendor: str) -> list[str]:
        """The needs the evidence does not meet, described for a skip reason."""
        return [n.describe() for n in self.needs if not n.met_by(evidence, vendor)]


def _checks(value: Iterable[Check]) -> frozenset[Check]:
    return frozenset(Check(v) for v in value)


@attrs.frozen
class ChallengeSpec:
    """A challenge step the vendor requires for some checks: issue, perform, verify.

    Evidence for these checks must carry a ``Challenge`` this vendor issued (through the
    ``build_challenge_request`` and ``parse_challenge`` hooks); the engine then binds those
    checks to this vendor for the decision.

    Attributes:
        checks: The checks whose requests carry the challenge.
        kind: What the person performs.
        operation: The vendor operation that issues it (``livegetfour``).
        ttl: Seconds a challenge stays usable after it was issued.
        opt_in: The vendor's boolean config key that lets callers supply the value
            themselves instead (migrations, offline comparisons of recorded captures);
            decisions that use it are recorded as such.
    """

    checks: frozenset[Check] = attrs.field(converter=_checks, validator=attrs.validators.min_len(1))
    kind: ChallengeKind = attrs.field(converter=ChallengeKind)
    operation: str = attrs.field(validator=attrs.validators.min_len(1))
    ttl: float = attrs.field(
        default=300.0,
        validator=[attrs.validators.instance_of(int | float), attrs.validators.gt(0)],
    )
    opt_in: str | None = None


_RESERVED_KEYS = frozenset({"base_url", "max_response_bytes", "plugin"})


def _validate_name(_inst: Any, _attribute: attrs.Attribute[str], value: str) -> None:
    if not _NAME.match(value):
        raise ValueError(f"vendor name {value!r} must match {_NAME.pattern}")


@attrs.frozen
class VendorSpec:
    """Everything a plugin declares about one vendor through ``register_vendors``.

    Attributes:
        name: Stable identifier (``tencent_legacy``): config table, records, CLI.
        display_name: Human name.
        default_base_url: Where the real service lives.
        offers: The checks served, each with operation and needed evidence.
        config_fields: The vendor's configuration keys (besides ``base_url``).
        scores: How each score field reads, with its calibration.
        simulator: Factory of a local simulator of the vendor's wire protocol, if shipped.
        docs_url: Where the vendor documents the API.
        max_response_bytes: The default cap on a response body (users may change it with
            ``[vendors.<name>] max_response_bytes``); answers are a few KB, so 1 MiB.
        codes: The vendor's documented codes and the defaults for undocumented ones, as
            ``classify_error`` maps them (optional; the conformance suite checks every row).
        challenge: The challenge step some of its checks require, if any.
        light_hooks: The plugin's promise that its vendor hooks (``build_request``, ``sign``,
            ``parse``, ``classify_error``, ``normalize_score``, ``build_challenge_request``,
            ``parse_challenge``) do bounded CPU work of microseconds, read at most a file's
            header, and never block on I/O or a lock. The engine may then run them on the
            event loop instead of the vendor's lane (two thread hops fewer per attempt);
            one that takes longer than a couple of milliseconds sends the vendor back to
            its lane for the engine's life. Default ``False``: hooks run on the lane.
            Instances of the vendor inherit it.
    """

    name: str = attrs.field(validator=_validate_name)
    display_name: str
    default_base_url: str
    offers: tuple[CheckOffer, ...] = attrs.field(validator=attrs.validators.min_len(1))
    config_fields: tuple[ConfigField, ...] = ()
    scores: tuple[ScoreSpec, ...] = ()
    simulator: Callable[[], Simulator] | None = attrs.field(default=None, eq=False)
    docs_url: str = ""
    max_response_bytes: int = attrs.field(
        default=DEFAULT_MAX_RESPONSE_BYTES,
        validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)],
    )
    codes: CodeTable | None = attrs.field(default=None, eq=False)
    challenge: ChallengeSpec | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(ChallengeSpec)),
    )
    light_hooks: bool = attrs.field(
        default=False, kw_only=True, validator=attrs.validators.instance_of(bool)
    )

    def __attrs_post_init__(self) -> None:
        names = [f.name for f in self.config_fields]
        # Keys core reads from every [vendors.<name>] table; ``plugin`` names an instance's.
        if len(set(names)) != len(names) or _RESERVED_KEYS & set(names):
            raise ValueError(
                f"vendor {self.name}: config field names must be unique, "
                "and not base_url, max_response_bytes or plugin (keys kycmux reads itself)"
            )
        if not self.default_base_url.startswith(("https://", "http://")):
            raise ValueError(f"vendor {self.name}: default_base_url must be an http(s) URL")
        if self.challenge is not None and not self.challenge.checks <= self.checks:
            raise ValueError(f"vendor {self.name}: challenge.checks must be checks it offers")
        opt_in = self.challenge.opt_in if self.challenge is not None else None
        if opt_in is not None and (
            opt_in not in names or self.config_field_map[opt_in].type is not bool
        ):
            raise ValueError(f"vendor {self.name}: challenge.opt_in must name a bool config field")

    @property
    def checks(self) -> frozenset[Check]:
        return frozenset(o.check for o in self.offers)

    def offer(self, check: Check) -> CheckOffer | None:
        return next((o for o in self.offers if o.check is check), None)

    def score_spec(self, name: str) -> ScoreSpec | None:
        return next((s for s in self.scores if s.name == name), None)

    def scores_for(self, check: Check) -> tuple[ScoreSpec, ...]:
        return tuple(s for s in self.scores if s.check is check)

    def challenged(self, checks: Iterable[Check]) -> frozenset[Check]:
        """Those of ``checks`` whose requests must carry a challenge this vendor issued."""
        if self.challenge is None:
            return frozenset()
        return self.challenge.checks & frozenset(checks)

    @property
    def config_field_map(self) -> Mapping[str, ConfigField]:
        return {f.name: f for f in self.config_fields}
