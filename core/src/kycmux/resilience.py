"""The resilience primitives the engine is built from, for embedders who need one on its own.

Circuit breakers, rate limiters, retries and their budget, subject lockout, deadlines and the
clock they all read, and the state store they keep what must be shared in. The engine builds
them from configuration; see ``kycmux._resilience`` for how each works.
"""

from __future__ import annotations

from kycmux._resilience import *  # noqa: F403 - this module is the public face of that one
from kycmux._resilience import __all__ as __all__
