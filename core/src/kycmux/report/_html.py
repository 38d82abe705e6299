"""The report page: one self-contained HTML file rendered from the summary dict.

Every number on the page comes from the summary (so the page and ``summary.json`` agree);
cells holding one carry ``data-key``, its path in the summary. All text is escaped; there
is no script and nothing external but the PNG files beside the page.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from html import escape
from typing import Any

from kycmux.report._data import OUTCOMES

__all__ = ["DISAGREEMENTS_SHOWN", "render_html"]

DISAGREEMENTS_SHOWN = 50

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f8fafc;color:#1f2937;font:14px/1.5 -apple-system,BlinkMacSystemFont,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:32px 28px 64px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:40px 0 12px;padding-bottom:6px;border-bottom:2px solid #e2e8f0}
h3{font-size:15px;margin:24px 0 8px}
.sub{color:#64748b;margin:0 0 20px}
.verdict{border-radius:10px;padding:16px 20px;margin:20px 0;border:1px solid;font-size:15px}
.verdict.win{background:#ecfdf5;border-color:#6ee7b7}
.verdict.open{background:#fffbeb;border-color:#fcd34d}
.verdict p{margin:6px 0}
.verdict .tag{font-size:11px;font-weight:700;letter-spacing:.06em;text-transform:uppercase;
color:#475569;margin-bottom:4px}
table{border-collapse:collapse;background:#fff;margin:8px 0 12px;border:1px solid #e2e8f0;
font-size:13px}
th,td{padding:6px 10px;border-bottom:1px solid #eef2f7;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600;color:#334155}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.id{white-space:nowrap;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
td.diag{background:#eff6ff;font-weight:600}
.ci{color:#64748b;font-size:11.5px;display:block}
.cnt{color:#94a3b8;font-size:11.5px}
.note{color:#475569;background:#f1f5f9;border-left:3px solid #94a3b8;padding:8px 12px;
margin:8px 0}
figure{margin:12px 0 20px}
figure img{max-width:100%;height:auto;border:1px solid #e2e8f0;border-radius:6px;
background:#fff}
figure.small img{max-width:400px}
figcaption{color:#64748b;font-size:12.5px}
.grid{display:flex;flex-wrap:wrap;gap:12px 28px;align-items:flex-start}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0}
dt{color:#64748b}dd{margin:0}
code{font-size:12px;background:#f1f5f9;padding:1px 4px;border-radius:4px}
footer{margin-top:48px;color:#94a3b8;font-size:12px}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _pp(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f} pp"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ci(ci: list[float] | None, fmt: Callable[[float | None], str]) -> str:
    return "" if ci is None else f'<span class="ci">[{_e(fmt(ci[0]))}, {_e(fmt(ci[1]))}]</span>'


def _rate(rate: Mapping[str, Any] | None, key: str) -> str:
    if rate is None:
        return '<td class="num">—</td>'
    count = f'<span class="cnt">{rate["count"]:,}/{rate["n"]:,}</span>'
    return (
        f'<td class="num" data-key="{_e(key)}">{_e(_pct(rate["value"]))} {count}'
        f"{_ci(rate['ci'], _pct)}</td>"
    )


def _stat(
    stat: Mapping[str, Any] | None, key: str, fmt: Callable[[float | None], str], css: str = "num"
) -> str:
    if stat is None:
        return f'<td class="{css}">—</td>'
    data_key = f' data-key="{_e(key)}"' if key else ""
    return f'<td class="{css}"{data_key}>{_e(fmt(stat["value"]))} {_ci(stat["ci"], fmt)}</td>'


def _table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _td(value: object, css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    return f"<td{attr}>{_e(value)}</td>"


def _img(
    plots: Mapping[str, str], name: str | None, alt: str, caption: str = "", *, small: bool = False
) -> str:
    if not name or name not in plots:
        return ""
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    css = ' class="small"' if small else ""
    return f'<figure{css}><img src="{_e(plots[name])}" alt="{_e(alt)}">{cap}</figure>'


def _note(text: str | None) -> str:
    return f'<p class="note">{_e(text)}</p>' if text else ""


def render_html(summary: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    """The page for ``summary``; ``plots`` maps each drawn plot's file name to its URL."""
    study = summary["study"]
    title = f"Comparison report: {study['name'] or 'no results'}"
    sections = [
        _verdict_box(summary["verdict"]),
        _study(summary),
        _outcomes(summary),
        _latency(summary, plots),
        _agreement(summary, plots),
        _scores(summary, plots),
        _accuracy(summary, plots),
        _comparisons(summary),
        _methods(summary),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1>"
        f'<p class="sub">kycmux vendor comparison · {_e(_when(study["created_at"]))}</p>'
        + "".join(sections)
        + f"<footer>Generated by kycmux.report ({_e(summary['schema'])}).</footer>"
        "</main></body></html>\n"
    )


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "study details not given"
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return "study opened " + moment.strftime("%Y-%m-%d %H:%M UTC")


def _verdict_box(verdict: Mapping[str, Any]) -> str:
    css = "win" if verdict["winner"] else "open"
    tag = f"Winner: {verdict['winner']}" if verdict["winner"] else "No winner called"
    paragraphs = "".join(f"<p>{_e(p)}</p>" for p in verdict["paragraphs"])
    return (
        f'<section class="verdict {css}" id="verdict"><div class="tag">{_e(tag)}</div>'
        f'<div data-key="verdict.statement">{paragraphs}</div></section>'
    )


def _study(summary: Mapping[str, Any]) -> str:
    study, overview = summary["study"], summary["overview"]
    facts = [
        ("Study", study["name"] or "—"),
        ("Kind", study["kind"] or "—"),
        ("Items", f"{overview['n_items']:,}"),
        ("Paired items (judged by 2+ systems)", f"{overview['n_paired_items']:,}"),
        (
            "Labels",
            ", ".join(f"{k} {v:,}" for k, v in overview["labels"].items())
            + ("" if overview["labelled"] else " (no ground truth)"),
        ),
    ]
    facts += [
        (f"meta: {k}", v if isinstance(v, str) else json.dumps(v)) for k, v in study["meta"].items()
    ]
    if overview["replaced_rows"]:
        facts.append(("Rows replaced by a later answer", str(overview["replaced_rows"])))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    systems = _table(
        ["System", "Role", "Items judged"],
        [[_td(s["name"]), _td(s["role"]), _td(f"{s['n']:,}", "num")] for s in overview["systems"]],
    )
    return f'<h2 id="study">1. Study</h2><dl>{dl}</dl>{systems}'


def _outcomes(summary: Mapping[str, Any]) -> str:
    section = summary["outcomes"]
    rows = [
        [_td(system)]
        + [_rate(entry["rates"][o], f"outcomes.{system}.rates.{o}") for o in OUTCOMES]
        + [
            _td(f"{entry['calls']:,}", "num"),
            _td(_num(entry["calls_per_item"], 2), "num"),
            _td(f"{entry['possibly_billed']:,}", "num"),
        ]
        for system, entry in section.items()
    ]
    head = [
        "System",
        *(o.replace("_", " ") for o in OUTCOMES),
        "Calls",
        "Calls/item",
        "Possibly billed",
    ]
    parts = [
        '<h2 id="outcomes">2. Outcomes</h2>',
        _table(head, rows),
        '<p class="sub">Rates over every item the system judged, with the bootstrap CI and the '
        "count. “Possibly billed”: items where some attempt reached the vendor.</p>",
    ]
    for system, entry in section.items():
        classes = entry["attempt_error_classes"]
        reasons = entry["first_reasons"]
        if not classes and not reasons:
            continue
        parts.append(f"<h3>{_e(system)}: why items were not accepted</h3><div class='grid'>")
        if classes:
            parts.append(
                _table(
                    ["Attempt error class", "Attempts"],
                    [[_td(k), _td(f"{v:,}", "num")] for k, v in classes.items()],
                )
            )
        if reasons:
            parts.append(
                _table(
                    ["Outcome", "First reason", "Items"],
                    [
                        [_td(o.replace("_", " ")), _td(r), _td(f"{n:,}", "num")]
                        for o, by_reason in reasons.items()
                        for r, n in by_reason.items()
                    ],
                )
            )
        parts.append("</div>")
    return "".join(parts)


def _latency(summary: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    section = summary["latency"]
    rows = [
        [_td(system), _td(f"{e['n']:,}", "num")]
        + [_stat(e[p], f"latency.systems.{system}.{p}.value", _ms) for p in ("p50", "p95", "p99")]
        + [
            _td(_ms(e["mean_ms"]), "num"),
            _td(_ms(e["min_ms"]), "num"),
            _td(_ms(e["max_ms"]), "num"),
        ]
        for system, e in section["systems"].items()
    ]
    table = _table(["System", "n", "p50", "p95", "p99", "Mean", "Min", "Max"], rows)
    figure = _img(
        plots,
        section["plot"],
        "Empirical CDF of decision latency per system, log scale",
        "Share of items decided within a given time (log scale).",
    )
    return f'<h2 id="latency">3. Latency</h2>{table}{figure}'


def _agreement(summary: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    parts = ['<h2 id="agreement">4. Agreement on paired items</h2>']
    pairs = summary["agreement"]
    if not pairs:
        parts.append(_note("Only one system: there is no pair to compare."))
    for index, pair in enumerate(pairs):
        a, b = pair["systems"]
        key = f"agreement.{index}"
        parts.append(f"<h3>{_e(a)} vs {_e(b)}</h3>")
        if not pair["paired"]:
            parts.append(_note(pair["note"]))
            continue
        parts.append('<div class="grid"><div>')
        parts.append(_matrix(pair))
        stats = _table(
            ["Paired items", "Observed agreement", "Cohen's κ", "Disagreements"],
            [
                [
                    _td(f"{pair['n']:,}", "num"),
                    _rate(pair["observed_agreement"], f"{key}.observed_agreement"),
                    _stat(pair["kappa"], f"{key}.kappa.value", _num),
                    _td(f"{pair['n_disagreements']:,}", "num"),
                ]
            ],
        )
        parts.append(stats + _note(pair["note"]) + "</div>")
        parts.append(
            _img(plots, pair["plot"], f"Outcome agreement heat map, {a} vs {b}", small=True)
        )
        parts.append("</div>")
        parts.append(_disagreements(pair))
    return "".join(parts)


def _matrix(pair: Mapping[str, Any]) -> str:
    a, b = pair["systems"]
    names = [o.replace("_", " ") for o in pair["categories"]]
    rows = [
        [f"<th>{_e(names[i])}</th>"]
        + [_td(f"{v:,}", "num diag" if i == j else "num") for j, v in enumerate(row)]
        for i, row in enumerate(pair["matrix"])
    ]
    return _table([f"{a} ↓ / {b} →", *names], rows)


def _disagreements(pair: Mapping[str, Any]) -> str:
    items = pair["disagreements"]
    if not items:
        return ""
    a, b = pair["systems"]
    shown = items[:DISAGREEMENTS_SHOWN]
    rows = [
        [
            _td(d["item"], "id"),
            _td(d["label"] or "—"),
            _td(d["outcomes"][a].replace("_", " ")),
            _reasons(d["reasons"][a]),
            _td(d["outcomes"][b].replace("_", " ")),
            _reasons(d["reasons"][b]),
        ]
        for d in shown
    ]
    more = len(items) - len(shown)
    tail = (
        f'<p class="sub">…and {more:,} more; every one is in summary.json.</p>' if more > 0 else ""
    )
    head = ["Item", "Label", f"{a}", f"{a} reasons", f"{b}", f"{b} reasons"]
    title = _e(f"Items to review: {a} and {b} disagree ({len(items):,})")
    return f"<h3>{title}</h3>" + _table(head, rows) + tail


def _reasons(reasons: list[str]) -> str:
    return "<td>" + ("<br>".join(_e(r) for r in reasons) or "—") + "</td>"


def _scores(summary: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    parts = ['<h2 id="scores">5. Scores on the common FAR scale</h2>']
    checks = summary["scores"]["checks"]
    if not checks:
        parts.append(_note("No check results to compare."))
    for check in checks:
        name = check["check"]
        parts.append(f"<h3>{_e(name)}</h3>")
        rows = [
            [
                _td(s),
                _td(v["status"].replace("_", " ")),
                _td(v["score_name"] or "—"),
                _td(f"{v['n_scored']:,}", "num"),
            ]
            for s, v in check["systems"].items()
        ]
        parts.append(_table(["System", "Score", "Field", "Items scored"], rows))
        parts.extend(_note(n) for n in check["notes"])
        for pair in check["pairs"]:
            a, b = pair["systems"]
            parts.append(
                _img(
                    plots,
                    pair["plot"],
                    f"Scatter of -log10 FAR for {name}: {a} vs {b}, coloured by label",
                    f"{pair['n']:,} paired items; points above the diagonal: {b} is more "
                    f"confident of a match than {a}.",
                )
            )
    return "".join(parts)


_ERROR_COLUMNS = (
    ("far", "FAR"),
    ("impostor_acceptance", "Impostors accepted"),
    ("spoof_acceptance", "Spoofs accepted"),
    ("frr", "FRR"),
    ("frr_reject", "FRR: rejects"),
    ("fta", "FRR: failure to acquire"),
)


def _accuracy(summary: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    section = summary["accuracy"]
    parts = ['<h2 id="accuracy">6. Accuracy against ground truth</h2>', _note(section["note"])]
    if not section["available"]:
        return "".join(parts)
    rows = [
        [_td(system), _td(f"{e['n_labelled']:,}", "num")]
        + [_rate(e[k], f"accuracy.systems.{system}.{k}") for k, _ in _ERROR_COLUMNS]
        + [_stat(e["hter"], f"accuracy.systems.{system}.hter.value", _pct)]
        for system, e in section["systems"].items()
    ]
    head = ["System", "Labelled", *(title for _, title in _ERROR_COLUMNS), "HTER"]
    parts.append("<h3>Decision-level error rates at the configured thresholds</h3>")
    parts.append(_table(head, rows))
    for index, det in enumerate(section["det"]):
        parts.append(_det(det, f"accuracy.det.{index}", plots))
    return "".join(parts)


def _det(det: Mapping[str, Any], key: str, plots: Mapping[str, str]) -> str:
    check = det["check"]
    attacks = " + ".join(det["attack_labels"])
    rows = [
        [
            _td(system),
            _td(e["score_name"] or "—"),
            _td(e["kind"] or "verdicts only"),
            _td(f"{e['n_genuine']:,}", "num"),
            _td(f"{e['n_attack']:,}", "num"),
            _td(f"{e['n_excluded']:,}", "num"),
            _stat(e["eer"], f"{key}.systems.{system}.eer.value", _pct),
            _rate(e["operating_point"]["far"], f"{key}.systems.{system}.operating_point.far"),
            _rate(e["operating_point"]["frr"], f"{key}.systems.{system}.operating_point.frr"),
        ]
        for system, e in det["systems"].items()
    ]
    head = [
        "System",
        "Score",
        "Kind",
        "Genuine",
        attacks.capitalize(),
        "Not used",
        "EER",
        "FAR at threshold",
        "FRR at threshold",
    ]
    parts = [f"<h3>DET: {_e(check)} (genuine vs {_e(attacks)})</h3>"]
    if rows:
        parts.append(_table(head, rows))
    parts.extend(_note(n) for n in det["notes"])
    parts.append(
        _img(
            plots,
            det["plot"],
            f"DET curves for {check}: false accept vs false reject rate, normal-deviate axes",
            "Each curve sweeps the score threshold; the dot is the configured threshold.",
        )
    )
    return "".join(parts)


def _comparisons(summary: Mapping[str, Any]) -> str:
    comparisons = summary["verdict"]["comparisons"]
    if not comparisons:
        return ""
    names = {"hter": "HTER", "error_rate": "Error rate", "p95_latency_ms": "p95 latency"}
    rows = []
    for c in comparisons:
        best, other = c["systems"]
        fmt = _ms if c["metric"].endswith("_ms") else _pct
        diff = _ms if c["metric"].endswith("_ms") else _pp
        rows.append(
            [
                _td(names.get(c["metric"], c["metric"])),
                _td(f"{best} ({fmt(c['values'][best])})"),
                _td(f"{other} ({fmt(c['values'][other])})"),
                _stat({"value": c["difference"], "ci": c["ci"]}, "", diff),
                _td("paired" if c["paired"] else "independent"),
                _td(f"{c['n']:,}", "num"),
                _td("yes" if c["significant"] else "no"),
                _td(f"≈ {c['items_needed']:,}" if c["items_needed"] else "—", "num"),
            ]
        )
    head = [
        "Metric",
        "Best",
        "Other",
        "Difference (other − best)",
        "Bootstrap",
        "n",
        "CI excludes 0",
        "Items needed (rough)",
    ]
    return '<h2 id="comparisons">7. Comparisons behind the verdict</h2>' + _table(head, rows)


_METHOD_NAMES = {
    "rates": "Rates",
    "percentiles": "Percentiles",
    "kappa": "Cohen's kappa",
    "far": "FAR",
    "frr": "FRR",
    "hter": "HTER",
    "det": "DET and EER",
    "winner": "Winner",
    "bootstrap": "Bootstrap",
}


def _methods(summary: Mapping[str, Any]) -> str:
    settings = summary["settings"]
    facts = [
        ("Confidence", f"{settings['confidence'] * 100:g}%"),
        ("Bootstrap resamples", f"{settings['bootstrap']:,}" if settings["bootstrap"] else "off"),
        ("Seed", str(settings["seed"])),
        ("Percentile method", settings["percentile_method"]),
    ]
    facts += [(_METHOD_NAMES.get(k, k), v) for k, v in summary["methods"].items()]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    return f'<h2 id="methods">8. Methods</h2><dl>{dl}</dl>'
