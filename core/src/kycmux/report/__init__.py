"""Comparison reports: statistics, plots and an HTML page from a study's ``Result`` rows.

Needs the ``report`` extra (matplotlib, numpy); ``kycmux`` itself never imports this package.

``summarize`` computes every number as one JSON-ready dict (structure:
``kycmux.report._summary``); ``write_report`` writes it as ``summary.json`` with PNG plots and
a self-contained ``index.html`` rendered from it. The statistics are plain functions, exported
for tests and for anyone re-checking a number (definitions: ``kycmux.report._stats``).
"""

from __future__ import annotations

from kycmux.report._agreement import agreement_matrix
from kycmux.report._report import ReportFiles, write_report
from kycmux.report._stats import (
    bootstrap_ci,
    cohen_kappa,
    det_curve,
    eer_ci,
    equal_error_rate,
    hter_ci,
    kappa_ci,
    observed_agreement,
    percentile,
    percentile_ci,
    percentile_interval,
    proportion_ci,
)
from kycmux.report._summary import SCHEMA, summarize

__all__ = [
    "SCHEMA",
    "ReportFiles",
    "agreement_matrix",
    "bootstrap_ci",
    "cohen_kappa",
    "det_curve",
    "eer_ci",
    "equal_error_rate",
    "hter_ci",
    "kappa_ci",
    "observed_agreement",
    "percentile",
    "percentile_ci",
    "percentile_interval",
    "proportion_ci",
    "summarize",
    "write_report",
]
