"""Placing the credentials: Linkface has no signature, only ``api_id`` and ``api_secret``."""

from __future__ import annotations

from typing import TypeAlias

import attrs

from kycmux import Secret, VendorConfig, VendorRequest
from kycmux_linkface._settings import CredentialsIn, Settings, credential

__all__ = ["CREDENTIAL_NAMES", "sign"]

CREDENTIAL_NAMES = frozenset({"api_id", "api_secret"})

_Params: TypeAlias = tuple[tuple[str, str | Secret], ...]


def _without_credentials(params: _Params) -> _Params:
    return tuple((k, v) for k, v in params if k not in CREDENTIAL_NAMES)


def sign(request: VendorRequest, config: VendorConfig) -> VendorRequest:
    """A copy of ``request`` carrying the credentials where configured, as ``Secret`` values.

    Credentials already present (a request signed for an earlier attempt) are replaced, never
    duplicated, and removed from the other placement.
    """
    creds: _Params = (
        ("api_id", credential(config, "api_id")),
        ("api_secret", credential(config, "api_secret")),
    )
    fields = _without_credentials(request.fields)
    params = _without_credentials(request.params)
    if Settings.from_config(config).credentials_in is CredentialsIn.QUERY:
        params = (*params, *creds)
    else:
        # First, as in the vendor's field table; the order is not significant to the server.
        fields = (*creds, *fields)
    return attrs.evolve(request, fields=fields, params=params)
