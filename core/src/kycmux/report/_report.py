"""``write_report``: the summary, its plots and the page, written to one directory."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from kycmux.compare._settings import MAX_ERROR_SHARE
from kycmux.report._data import StudyData
from kycmux.report._html import render_html
from kycmux.report._plots import render_plots
from kycmux.report._summary import summarize
from kycmux.results._model import Result
from kycmux.results._store import StudyInfo

__all__ = ["ReportFiles", "write_report"]


@attrs.frozen
class ReportFiles:
    """What ``write_report`` wrote.

    Attributes:
        directory: The report directory.
        html: The page (``index.html``).
        summary: The numbers (``summary.json``, exactly what ``summarize`` returns).
        plots: Every PNG plot, by name without suffix (``latency_cdf``, ``det_face_match``...).
    """

    directory: Path
    html: Path
    summary: Path
    plots: Mapping[str, Path] = attrs.field(factory=dict)


def write_report(
    results: Sequence[Result],
    out_dir: str | os.PathLike[str],
    *,
    study: StudyInfo | None = None,
    confidence: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
    max_error_share: float = MAX_ERROR_SHARE,
) -> ReportFiles:
    """Write ``index.html``, ``summary.json`` and the PNG plots into ``out_dir`` (created).

    Files of an earlier report in the same directory are overwritten, not removed.
    """
    summary = summarize(
        results,
        study=study,
        confidence=confidence,
        bootstrap=bootstrap,
        seed=seed,
        max_error_share=max_error_share,
    )
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    summary_path = directory / "summary.json"
    summary_path.write_text(
        json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    plots = render_plots(StudyData.from_results(results), summary, directory)
    html_path = directory / "index.html"
    html_path.write_text(
        render_html(summary, {p.name: p.name for p in plots.values()}), encoding="utf-8"
    )
    return ReportFiles(directory=directory, html=html_path, summary=summary_path, plots=plots)
