"""The page's per-check part: usable systems, one table per check, and which systems' whole
decisions compare (``summary["usability"]``, ``["checks"]``, ``["whole_decision"]``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kycmux.report._cells import cell, esc, fmt_pct, html_table, note_p, rate_td, stat_td

__all__ = ["checks_html"]

_VERDICT_COLUMNS = (("pass", "Pass"), ("fail", "Fail"), ("error", "Error"))


def checks_html(summary: Mapping[str, Any]) -> str:
    """The per-check section (empty when no check was answered)."""
    checks = summary["checks"]
    if not checks:
        return ""
    parts = ['<h2 id="checks">Each check on its own</h2>', _usability(summary["usability"])]
    parts += [_check(entry, index) for index, entry in enumerate(checks)]
    parts.append(_whole(summary["whole_decision"]))
    return "".join(parts)


def _usability(section: Mapping[str, Any]) -> str:
    unusable = section["unusable"]
    limit = fmt_pct(section["max_error_share"])
    if not unusable:
        return note_p(f"Every system is usable (at most {limit} of its answers in error).")
    reasons = "; ".join(f"{s}: {section['systems'][s]['reason']}" for s in unusable)
    return note_p(f"Unusable, so never ranked (more than {limit} errors): {reasons}.")


def _check(entry: Mapping[str, Any], index: int) -> str:
    check, attack = entry["check"], entry["attack_label"] or "attack"
    key = f"checks.{index}.systems"
    rows = [
        [cell(system), cell(f"{e['n']:,}", "num")]
        + [rate_td(e["verdicts"][v], f"{key}.{system}.verdicts.{v}") for v, _ in _VERDICT_COLUMNS]
        + [
            rate_td(e["far"], f"{key}.{system}.far"),
            rate_td(e["frr"], f"{key}.{system}.frr"),
            stat_td(e["hter"], f"{key}.{system}.hter.value", fmt_pct),
            cell("yes" if e["usable"] else f"no: {e['reason']}"),
        ]
        for system, e in entry["systems"].items()
    ]
    head = ["System", "Asked", *(t for _, t in _VERDICT_COLUMNS), "FAR", "FRR", "HTER", "Usable"]
    ranked = ", ".join(r["system"] for r in entry["ranking"]) or "nobody"
    return (
        f'<h3 id="check-{esc(check)}">{esc(check)}</h3>'
        + note_p(
            f"Judged by every system asked for {check}, against its own truth (genuine vs "
            f"{attack}): FAR = {attack} items passed, FRR = genuine items not passed, "
            f"HTER = (FAR + FRR) / 2. Ranked, best first: {ranked}."
        )
        + html_table(head, rows)
    )


def _whole(section: Mapping[str, Any]) -> str:
    groups = "; ".join(
        f"{', '.join(g['systems'])}: {', '.join(g['checks']) or 'no check'}"
        for g in section["groups"]
    )
    compared = ", ".join(section["compared"]) or "none"
    excluded = "; ".join(f"{e['system']} ({e['reason']})" for e in section["excluded"])
    text = (
        f"Whole decisions are compared only between usable systems serving the same checks. "
        f"Checks served: {groups}. Compared: {compared}."
    )
    if excluded:
        text += f" Left out of the whole-decision comparison: {excluded}."
    return '<h3 id="whole-decision">Whole decisions</h3>' + note_p(text)
