"""The report's PNG plots, drawn with matplotlib's object API (no pyplot, no global state).

Each plot is named by the summary (``plot`` fields), drawn from the study's data and the
summary's numbers, and saved without a timestamp or software tag, so the same data gives
the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

from kycmux.report._accuracy import DetInput, det_inputs
from kycmux.report._agreement import scatter_points
from kycmux.report._data import OUTCOMES, StudyData
from kycmux.report._stats import FloatArray, det_curve
from kycmux.results._model import Label

__all__ = ["render_plots"]

_DPI = 120
_SYSTEM_COLOURS = ("#2563eb", "#ea580c", "#059669", "#9333ea", "#dc2626", "#0891b2", "#ca8a04")
_LABEL_COLOURS = {
    Label.GENUINE: "#059669",
    Label.IMPOSTOR: "#ea580c",
    Label.SPOOF: "#be123c",
    None: "#64748b",
}
_TEXT = "#1f2937"
_GRID = "#e5e7eb"
_DET_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
_NORMAL = NormalDist()


def render_plots(data: StudyData, summary: Mapping[str, Any], directory: Path) -> dict[str, Path]:
    """Draw every plot the summary names into ``directory``; return them by name (no suffix)."""
    colours = {s: _SYSTEM_COLOURS[i % len(_SYSTEM_COLOURS)] for i, s in enumerate(data.systems)}
    figures: dict[str, Figure] = {}
    latency = summary["latency"]
    if latency["plot"]:
        figures[latency["plot"]] = _latency(data, latency, colours)
    for pair in summary["agreement"]:
        if pair["plot"]:
            figures[pair["plot"]] = _agreement(pair)
    for check in summary["scores"]["checks"]:
        for pair in check["pairs"]:
            if pair["plot"]:
                figures[pair["plot"]] = _scatter(data, check["check"], *pair["systems"])
    for det in summary["accuracy"]["det"]:
        if det["plot"]:
            figures[det["plot"]] = _det(data, det, colours)
    paths = {}
    for name, figure in figures.items():
        path = directory / name
        FigureCanvasAgg(figure)
        figure.savefig(path, format="png", dpi=_DPI, metadata={"Software": None})
        paths[path.stem] = path
    return paths


def _short(text: str, limit: int = 28) -> str:
    """A name fit for a plot: at most ``limit`` characters, ``$`` not read as mathtext."""
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return short.replace("$", r"\$")


def _figure(width: float = 7.2, height: float = 4.4) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), facecolor="white", layout="constrained")
    ax = figure.add_subplot()
    ax.set_facecolor("white")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9ca3af")
    ax.tick_params(colors=_TEXT, labelsize=9)
    ax.grid(True, color=_GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    return figure, ax


def _title(ax: Axes, title: str, subtitle: str = "") -> None:
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold", color=_TEXT, pad=18)
    if subtitle:
        ax.text(0, 1.02, subtitle, transform=ax.transAxes, fontsize=9, color="#6b7280")


def _latency(data: StudyData, section: Mapping[str, Any], colours: Mapping[str, str]) -> Figure:
    figure, ax = _figure()
    for system in data.systems:
        values = np.sort([r.latency_ms for r in data.results(system)])
        if values.size == 0:
            continue
        values = np.maximum(values, 0.1)  # a log axis cannot show 0 ms
        share = np.arange(1, values.size + 1) / values.size
        p95 = section["systems"][system]["p95"]["value"]
        ax.step(
            np.concatenate([[values[0]], values]),
            np.concatenate([[0.0], share]),
            where="post",
            color=colours[system],
            linewidth=1.8,
            label=f"{_short(system)}  (n={values.size:,}, p95 {p95:,.0f} ms)",
        )
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    for level, text in ((0.5, "p50"), (0.95, "p95")):
        ax.axhline(level, color="#9ca3af", linewidth=0.8, linestyle=":")
        ax.text(
            1.005,
            level,
            text,
            transform=ax.get_yaxis_transform(),
            fontsize=8,
            color="#6b7280",
            va="center",
        )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Decision latency (ms, log scale)", fontsize=10, color=_TEXT)
    ax.set_ylabel("Share of items decided", fontsize=10, color=_TEXT)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.legend(loc="lower right", fontsize=9, frameon=False)
    _title(ax, "Latency", "Empirical CDF per system")
    return figure


def _agreement(pair: Mapping[str, Any]) -> Figure:
    a, b = (_short(s) for s in pair["systems"])
    matrix = np.array(pair["matrix"], dtype=np.float64)
    figure, ax = _figure(5.6, 4.9)
    ax.grid(False)
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(1.0, float(matrix.max())))
    names = [o.replace("_", " ") for o in OUTCOMES]
    ax.set_xticks(range(len(OUTCOMES)), names, fontsize=11)
    ax.set_yticks(range(len(OUTCOMES)), names, fontsize=11)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    threshold = matrix.max() * 0.55
    for (row, col), value in np.ndenumerate(matrix):
        ax.text(
            col,
            row,
            f"{int(value):,}",
            ha="center",
            va="center",
            fontsize=13,
            color="white" if value > threshold else _TEXT,
        )
    ax.set_xlabel(f"{b} outcome", fontsize=10, color=_TEXT)
    ax.set_ylabel(f"{a} outcome", fontsize=10, color=_TEXT)
    kappa = pair["kappa"]["value"]
    agreement = pair["observed_agreement"]["value"]
    detail = f"n={pair['n']:,} paired items, agreement {agreement:.1%}"
    detail += f", κ = {kappa:.3f}" if kappa is not None else ", κ undefined"
    _title(ax, f"Outcomes: {a} vs {b}", detail)
    return figure


def _neg_log_far(far: float) -> float:
    return float(-np.log10(max(far, 1e-300)))


def _scatter(data: StudyData, check: str, a: str, b: str) -> Figure:
    points = scatter_points(data, check, a, b)
    figure, ax = _figure(5.8, 5.6)
    xs = np.array([_neg_log_far(p[1]) for p in points])
    ys = np.array([_neg_log_far(p[2]) for p in points])
    labels = [data.labels[p[0]] for p in points]
    top = float(max(xs.max(), ys.max())) + 0.5
    ax.plot([0, top], [0, top], color="#9ca3af", linestyle="--", linewidth=1, label="same FAR")
    for label in (Label.GENUINE, Label.IMPOSTOR, Label.SPOOF, None):
        mask = np.array([lab is label for lab in labels], dtype=bool)
        if mask.any():
            ax.scatter(
                xs[mask],
                ys[mask],
                s=22,
                alpha=0.75,
                color=_LABEL_COLOURS[label],
                edgecolors="white",
                linewidths=0.4,
                label=f"{label.value if label else 'unlabelled'} ({int(mask.sum())})",
            )
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    names = {s: _short(_score_name(data, check, s)) for s in (a, b)}
    ax.set_xlabel(f"{_short(a)} {names[a]}: $-\\log_{{10}}$ FAR", fontsize=10, color=_TEXT)
    ax.set_ylabel(f"{_short(b)} {names[b]}: $-\\log_{{10}}$ FAR", fontsize=10, color=_TEXT)
    ax.legend(loc="upper left", fontsize=9, frameon=False)
    _title(
        ax,
        f"{_short(check)}: calibrated scores",
        f"{len(points):,} paired items; 3 = FAR 1 in 1,000",
    )
    return figure


def _score_name(data: StudyData, check: str, system: str) -> str:
    for result in data.results(system):
        found = result.checks.get(check)
        if found is not None and found.score_name:
            return found.score_name
    return "score"


def _probit(values: FloatArray | float, floor: float) -> FloatArray:
    clipped = np.clip(np.asarray(values, dtype=np.float64), floor, 1 - floor)
    return np.array([_NORMAL.inv_cdf(float(v)) for v in clipped.ravel()]).reshape(clipped.shape)


def _det(data: StudyData, det: Mapping[str, Any], colours: Mapping[str, str]) -> Figure:
    check = det["check"]
    inputs, _ = det_inputs(data, check)
    largest = max(max(v.n_genuine, v.n_attack) for v in inputs.values())
    # Rates of 0 sit on the axes' edge: half an item below the smallest rate the data can show.
    floor = max(0.001, min(0.01, 0.5 / largest))
    figure, ax = _figure(5.9, 5.6)
    limits = (float(_probit(floor, floor)), float(_probit(0.6, floor)))
    ax.plot(limits, limits, color="#9ca3af", linestyle="--", linewidth=1, label="FAR = FRR")
    for system, found in inputs.items():
        entry = det["systems"][system]
        if found.curve and found.kind is not None:
            far, frr, _ = det_curve(found.genuine, found.attack, kind=found.kind)
            name = f"{_short(system)} {_short(found.score_name or '')}"
            ax.plot(
                _probit(far, floor),
                _probit(frr, floor),
                color=colours[system],
                linewidth=1.8,
                label=f"{name}: EER {entry['eer']['value']:.1%} "
                f"(n = {found.n_genuine:,} + {found.n_attack:,})",
            )
        _operating_point(ax, system, found, entry, colours[system], floor)
    ax.set_xlim(*limits)
    ax.set_ylim(*limits)
    ax.set_aspect("equal")
    # The corner holds the clipped rates: exactly 0 when no positive rate can be that small.
    ticks = [floor, *(t for t in _DET_TICKS if t >= 1.6 * floor)]
    corner = "0" if 1 / largest > floor else f"≤{floor * 100:g}%"
    positions = [float(_probit(t, floor)) for t in ticks]
    labels = [corner, *(f"{t * 100:g}%" for t in ticks[1:])]
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_yticks(positions, labels, fontsize=8)
    attacks = " + ".join(det["attack_labels"])
    ax.set_xlabel(f"False accept rate ({attacks} accepted)", fontsize=10, color=_TEXT)
    ax.set_ylabel("False reject rate (genuine rejected)", fontsize=10, color=_TEXT)
    ax.legend(loc="upper right", fontsize=8, frameon=True, facecolor="white", edgecolor=_GRID)
    _title(ax, f"DET: {_short(check)}", f"Genuine vs {attacks}; dots: the configured threshold")
    return figure


def _operating_point(
    ax: Axes,
    system: str,
    found: DetInput,
    entry: Mapping[str, Any],
    colour: str,
    floor: float,
) -> None:
    far = entry["operating_point"]["far"]["value"]
    frr = entry["operating_point"]["frr"]["value"]
    if far is None or frr is None:
        return
    # A curve's dot needs no legend entry (the colour and the subtitle say it); a lone dot does.
    label = "_nolegend_" if found.curve else f"{_short(system)} (verdicts only)"
    ax.plot(
        _probit(far, floor),
        _probit(frr, floor),
        marker="o" if found.curve else "D",
        markersize=8,
        color=colour,
        markeredgecolor="black",
        linestyle="none",
        clip_on=False,  # a rate of 0 sits on the axis: draw the whole marker
        zorder=5,
        label=label,
    )
