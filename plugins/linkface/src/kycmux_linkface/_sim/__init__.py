"""The local Linkface simulator (see ``docs/vendors/linkface.md``)."""

from __future__ import annotations

from kycmux_linkface._sim._app import DEFAULT_ACCOUNTS, LinkfaceSimulator, ScoreFormat
from kycmux_linkface._sim._decide import (
    HACK_CURVE,
    VERIFY_MODEL,
    Failure,
    Scores,
    decide,
    hack_score,
    verify_score,
)
from kycmux_linkface._sim._request import Account, AccountState

__all__ = [
    "DEFAULT_ACCOUNTS",
    "HACK_CURVE",
    "VERIFY_MODEL",
    "Account",
    "AccountState",
    "Failure",
    "LinkfaceSimulator",
    "ScoreFormat",
    "Scores",
    "decide",
    "hack_score",
    "verify_score",
]
