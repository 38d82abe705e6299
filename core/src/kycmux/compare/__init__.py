"""Offline vendor comparisons: the same labelled captures through every vendor, side by side.

The flow:

1. A *manifest* lists the captures, one row each: an ``id``, an optional ground-truth
   ``label`` (genuine, impostor, spoof) and the evidence (file paths relative to the
   manifest). ``Manifest.load`` validates every row before anything is sent.
   ``write_synthetic_manifest`` writes a labelled synthetic one the simulators can judge.
2. ``run_comparison`` sends each row to each vendor of ``CompareSettings`` (alone, for the
   study's checks it offers: by default ``offered_checks``, so each check is judged by every
   vendor offering it; ``evidence_for`` puts the reference photo on each vendor's declared
   reference side) through an
   ``Engine``, and stores every answer as a ``kycmux.results.Result`` in a ``ResultStore``
   under the study's name. Interrupt it and run it again: answered rows are never re-sent.
   Several workers can share one study on a ``PostgresResultStore``: each pair is sent once.
3. ``kycmux.report`` computes the error rates, agreement and confidence intervals from the
   stored results and renders them (``kycmux report``).

On the command line: ``kycmux synthetic-manifest``, ``kycmux compare`` and ``kycmux report``.
"""

from __future__ import annotations

from kycmux.compare._manifest import (
    COLUMNS,
    TRUTH_COLUMNS,
    Manifest,
    ManifestRow,
    write_manifest,
)
from kycmux.compare._runner import (
    CompareSummary,
    ProgressCallback,
    evidence_for,
    prepare_study,
    run_comparison,
)
from kycmux.compare._settings import (
    BUSY_WAIT,
    MAX_CONCURRENCY,
    MAX_ERROR_SHARE,
    CompareSettings,
    common_checks,
    offered_checks,
)
from kycmux.compare._synthetic import write_synthetic_manifest

__all__ = [
    "BUSY_WAIT",
    "COLUMNS",
    "MAX_CONCURRENCY",
    "MAX_ERROR_SHARE",
    "TRUTH_COLUMNS",
    "CompareSettings",
    "CompareSummary",
    "Manifest",
    "ManifestRow",
    "ProgressCallback",
    "common_checks",
    "evidence_for",
    "offered_checks",
    "prepare_study",
    "run_comparison",
    "write_manifest",
    "write_synthetic_manifest",
]
