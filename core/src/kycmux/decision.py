"""The rules of a decision, with no I/O, for embedders and plugin authors' tests.

``judge`` turns one vendor's reading into a verdict under a threshold; ``combine`` and
``outcome_of`` add verdicts up; ``DecisionMachine`` is the whole decision as a state machine
(readings in, next calls out) that the engine's async driver performs.
"""

from __future__ import annotations

from kycmux._decision._machine import (
    Conclusion,
    DecisionMachine,
    Group,
    Skip,
    Step,
    ineligible,
)
from kycmux._decision._verdict import (
    CheckVerdict,
    Outcome,
    VendorVerdict,
    Verdict,
    combine,
    judge,
    outcome_of,
)

__all__ = [
    "CheckVerdict",
    "Conclusion",
    "DecisionMachine",
    "Group",
    "Outcome",
    "Skip",
    "Step",
    "VendorVerdict",
    "Verdict",
    "combine",
    "ineligible",
    "judge",
    "outcome_of",
]
