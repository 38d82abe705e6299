"""The report page's building blocks: its style sheet, value formats and escaped cells.

Every helper escapes what it is given, so the page builder in ``_html`` never writes raw text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from html import escape
from typing import Any

__all__ = [
    "CSS",
    "cell",
    "ci_span",
    "esc",
    "figure_img",
    "fmt_ms",
    "fmt_num",
    "fmt_pct",
    "fmt_pp",
    "html_table",
    "note_p",
    "rate_td",
    "stat_td",
]

CSS = """
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


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def fmt_pp(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f} pp"


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def fmt_num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def ci_span(ci: list[float] | None, fmt: Callable[[float | None], str]) -> str:
    return "" if ci is None else f'<span class="ci">[{esc(fmt(ci[0]))}, {esc(fmt(ci[1]))}]</span>'


def rate_td(rate: Mapping[str, Any] | None, key: str) -> str:
    if rate is None:
        return '<td class="num">—</td>'
    count = f'<span class="cnt">{rate["count"]:,}/{rate["n"]:,}</span>'
    return (
        f'<td class="num" data-key="{esc(key)}">{esc(fmt_pct(rate["value"]))} {count}'
        f"{ci_span(rate['ci'], fmt_pct)}</td>"
    )


def stat_td(
    stat: Mapping[str, Any] | None, key: str, fmt: Callable[[float | None], str], css: str = "num"
) -> str:
    if stat is None:
        return f'<td class="{css}">—</td>'
    data_key = f' data-key="{esc(key)}"' if key else ""
    return f'<td class="{css}"{data_key}>{esc(fmt(stat["value"]))} {ci_span(stat["ci"], fmt)}</td>'


def html_table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def cell(value: object, css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    return f"<td{attr}>{esc(value)}</td>"


def figure_img(
    plots: Mapping[str, str], name: str | None, alt: str, caption: str = "", *, small: bool = False
) -> str:
    if not name or name not in plots:
        return ""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    css = ' class="small"' if small else ""
    return f'<figure{css}><img src="{esc(plots[name])}" alt="{esc(alt)}">{cap}</figure>'


def note_p(text: str | None) -> str:
    return f'<p class="note">{esc(text)}</p>' if text else ""
