"""Offline vendor comparisons: the same labelled captures through every vendor, side by side.

The flow:

1. A *manifest* lists the captures, one row each: an ``id``, an optional ground-truth
   ``label`` (genuine, impostor, spoof) and the evidence (file paths relative to the
   manifest). ``Manifest.load`` validates every row before anything is sent.
   ``write_synthetic_manifest`` writes a labelled synthetic one the simulators can judge.
2. ``run_comparison`` sends each row to each vendor of ``CompareSettings`` (alone, for the
   same checks: by default ``common_checks``, those every vendor offers) through an
   ``Engine``, and stores every answer as a ``kycmux.results.Result`` in a ``ResultStore``
   under the study's name. Interrupt it and run it again: answered rows are never re-sent.
   Several workers can share one study on a ``PostgresResultStore``: each pair is sent once.
3. ``kycmux.report`` computes the error rates, agreement and confidence intervals from the
   stored results and renders them (``kycmux report``).

On the command line: ``kycmux synthetic-manifest``, ``kycmux compare`` and ``kycmux report``.
"""

from __future__ import annotations

from kycmux.compare._manifest import COLUMNS, Manifest, ManifestRow, write_manifest
from kycmux.compare._runner import (
    CompareSummary,
    ProgressCallback,
    prepare_study,
    run_comparison,
)
from kycmux.compare._settings import BUSY_WAIT, MAX_CONCURRENCY, CompareSettings, common_checks
from kycmux.compare._synthetic import write_synthetic_manifest

__all__ = [
    "BUSY_WAIT",
    "COLUMNS",
    "MAX_CONCURRENCY",
    "CompareSettings",
    "CompareSummary",
    "Manifest",
    "ManifestRow",
    "ProgressCallback",
    "common_checks",
    "prepare_study",
    "run_comparison",
    "write_manifest",
    "write_synthetic_manifest",
]
