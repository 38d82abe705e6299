"""What a verdict says before any number: where its answers came from, and what HTER is."""

from __future__ import annotations

from typing import Any

from kycmux.report._data import StudyData
from kycmux.results._provenance import Provenance

__all__ = ["HTER_DEFINITION", "labelled"]

HTER_DEFINITION = (
    "HTER (half total error rate: the mean of the share of attacks accepted and the share "
    "of genuine people not accepted)"
)


def labelled(verdict: dict[str, Any], study: dict[str, Any], data: StudyData) -> dict[str, Any]:
    """Says in the verdict itself what the numbers rank (``summary["verdict"]["provenance"]``:
    ``label``, ``answers``, ``data``, ``simulated``, ``statement``), and defines HTER where
    the verdict first uses it."""
    provenance = Provenance.of(study["meta"])
    # Without the study's record (``summarize`` given bare results) there is nothing to say.
    statement = provenance.statement() if data.systems and study["kind"] else ""
    paragraphs = [statement, *verdict["paragraphs"]] if statement else list(verdict["paragraphs"])
    for index, paragraph in enumerate(paragraphs):
        if "HTER" in paragraph:
            paragraphs[index] = paragraph.replace("HTER", HTER_DEFINITION, 1)
            break
    return {
        **verdict,
        "statement": " ".join(paragraphs),
        "paragraphs": paragraphs,
        "provenance": {
            "label": provenance.label,
            "answers": {s: a.value for s, a in provenance.answers.items()},
            "data": provenance.data.value if provenance.data else None,
            "simulated": provenance.simulated(data.systems),
            "statement": statement or None,
        },
    }
