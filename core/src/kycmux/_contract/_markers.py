"""The pluggy markers, so plugins never import pluggy themselves."""

from __future__ import annotations

import pluggy

__all__ = ["hookimpl"]

hookimpl = pluggy.HookimplMarker("kycmux")
"""Marks a plugin's function as the implementation of the hook of the same name."""
