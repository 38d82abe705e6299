"""How the simulated service scores a face comparison: livedetectfour's ``sim``.

``sim`` is calibrated: over the synthetic population's impostor pairs, ``sim > 70`` passes
exactly 1/1,000 and ``sim > 80`` 1/10,000, as the livedetectfour document publishes (its rule
is "greater than", 大于, hence ``>``). Each pair's ``match_rank`` is read off the tables below
and rounded up onto the integer scale, so "greater than t" on ``sim`` is "greater than t" on
the continuous score. idcardcompare's ``similarity`` has no published table, so it keeps a
plain curve of the match strength and claims no false-accept rate.
"""

from __future__ import annotations

import math
from typing import Final

from kycmux.synthetic import ScoreModel, TailCurve, match_rank

__all__ = ["SALT", "SIM_MODEL", "face_match_sim"]

SALT: Final = "tencent_legacy"

SIM_MODEL: Final = ScoreModel(
    # Share of impostor pairs with sim above each score. 70 → 1e-3 and 80 → 1e-4 are the
    # vendor's; from 50 up the same decade per 10 points is continued (the line kycmux reads
    # the table with); below 50 the bulk of impostors, median 35, is the simulator's choice.
    impostor=TailCurve(
        (
            (0.0, 1.0),
            (20.0, 0.9),
            (35.0, 0.5),
            (50.0, 1e-1),
            (60.0, 1e-2),
            (70.0, 1e-3),
            (80.0, 1e-4),
            (90.0, 1e-5),
            (100.0, 1e-6),
        )
    ),
    # Share of genuine pairs with sim at or below each score (the simulator's choice; Tencent
    # publishes none): 3 % rejected at 70, 6 % at 75, 10 % at 80, median 90.
    genuine=TailCurve(
        (
            (0.0, 1e-7),
            (40.0, 1e-4),
            (60.0, 1e-2),
            (70.0, 3e-2),
            (75.0, 6e-2),
            (80.0, 1e-1),
            (90.0, 0.5),
            (100.0, 1.0),
        )
    ),
)


def face_match_sim(a: str | None, b: str | None, difficulty: float) -> int:
    """livedetectfour's ``sim`` for a video showing ``a`` and a card photo showing ``b``."""
    rank = match_rank(a, b, difficulty=difficulty, salt=SALT)
    # Rounded up: sim > t exactly when the continuous score is above t.
    return min(100, max(0, math.ceil(SIM_MODEL.score(rank))))
