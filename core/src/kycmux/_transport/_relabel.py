"""Vendor instances at the plugin boundary: the names on the values crossing it.

A plugin knows its vendor by its own name (``VENDOR``) and stamps it into what it returns and
raises; core knows a call by its instance's name (``[vendors.<instance>] plugin = ...``). What
goes into a hook is labelled with the plugin's name, so a plugin checking ``request.vendor`` or
a media id's vendor keeps working; what comes out is labelled with the instance's, so records,
reasons, breakers and limits name the instance. Pure: values in, values out (an exception is
relabelled in place, since it is re-raised).
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

from kycmux._contract._taxonomy import Classification
from kycmux._contract._wire import VendorRequest, VendorResult
from kycmux._model._challenge import Challenge
from kycmux._model._evidence import Evidence, VendorMediaId
from kycmux.exceptions import ConfigError, InvalidEvidenceError, ProtocolError

__all__ = [
    "OTHER_INSTANCE",
    "Labels",
    "relabel",
    "relabel_error",
    "relabel_evidence",
    "relabel_reason",
]

T = TypeVar("T")
# Marks, on the way into a plugin, a challenge another instance of the same plugin issued.
OTHER_INSTANCE = "@another-instance"


@attrs.frozen
class Labels:
    """One rename at the boundary.

    Attributes:
        old: The name the value carries now.
        new: The name it should carry.
    """

    old: str
    new: str


def relabel_reason(reason: str, labels: Labels) -> str:
    """``"<old>:code"`` as ``"<new>:code"``; any other reason as it is."""
    prefix = f"{labels.old}:"
    return labels.new + reason[len(labels.old) :] if reason.startswith(prefix) else reason


def relabel(value: T, labels: Labels) -> T:
    """A request, result, challenge or classification under the new name; anything else
    unchanged."""
    if labels.old == labels.new:
        return value
    found: Any = value
    if isinstance(found, VendorRequest | VendorResult | Challenge) and found.vendor == labels.old:
        found = attrs.evolve(found, vendor=labels.new)
    elif isinstance(found, Classification):
        found = attrs.evolve(found, reason=relabel_reason(found.reason, labels))
    relabelled: T = found
    return relabelled


def relabel_error(error: BaseException, labels: Labels) -> BaseException:
    """The error, relabelled in place (its attributes and its message) where it names a
    vendor or a ``vendors.<name>`` key."""
    if labels.old == labels.new:
        return error
    if isinstance(error, ProtocolError) and error.vendor == labels.old:
        ProtocolError.__init__(error, labels.new, error.detail, http_status=error.http_status)
    elif isinstance(error, InvalidEvidenceError) and error.vendor == labels.old:
        # A rule may point at the vendor's settings ("set vendors.<name>.key"): the instance's.
        rule = error.rule.replace(f"vendors.{labels.old}.", f"vendors.{labels.new}.")
        InvalidEvidenceError.__init__(error, error.field, rule, vendor=labels.new)
    elif isinstance(error, ConfigError):
        key = _relabel_key(error.key, labels)
        if key != error.key:
            ConfigError.__init__(error, key, error.rule)
    return error


def relabel_evidence(evidence: Evidence, labels: Labels) -> Evidence:
    """The evidence with every media id and challenge the old name issued naming the new one
    (a media id uploaded through an instance, or a challenge it issued, is that instance's: its
    plugin checks it is its own)."""
    if labels.old == labels.new:
        return evidence
    changes: dict[str, Any] = {
        field.name: attrs.evolve(value, vendor=labels.new)
        for field in attrs.fields(type(evidence))
        if isinstance(value := getattr(evidence, field.name), VendorMediaId | Challenge)
        and value.vendor == labels.old
    }
    challenge = evidence.challenge
    if challenge is not None and challenge.vendor == labels.new:
        # Issued under the plugin's own name, so by another instance (another account): the
        # plugin must not take it for its own.
        changes["challenge"] = attrs.evolve(challenge, vendor=f"{labels.new}{OTHER_INSTANCE}")
    return attrs.evolve(evidence, **changes) if changes else evidence


def _relabel_key(key: str, labels: Labels) -> str:
    table = f"vendors.{labels.old}"
    if key == table or key.startswith(f"{table}."):
        return f"vendors.{labels.new}{key[len(table) :]}"
    return key
