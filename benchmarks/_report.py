"""Issue 15's targets from the measurements of ``decision.py``, and the plain-text report."""

from __future__ import annotations

import math
from typing import Any

import imports

__all__ = ["import_times", "render", "targets"]

_SIZE_NAMES = {10_000: "10 KB", 1_000_000: "1 MB", 3_000_000: "3 MB"}
_CLIENTS = {
    "engine": "Engine.verify (records on)",
    "aiohttp_files": "aiohttp from files (base)",
    "aiohttp_bytes": "aiohttp from bytes",
    "httpx": "httpx AsyncClient (bytes)",
}


def _size(size: int) -> str:
    return _SIZE_NAMES.get(size) or f"{size} B"


def import_times(runs: int) -> dict[str, float]:
    """Median microseconds of each import case of ``imports.py`` and kycmux's ratio."""
    medians = imports.measure(runs)
    return {**medians, "ratio": medians["import kycmux"] / medians["import httpx"]}


def _target(
    name: str, cell: str, value: float, goal: float, unit: str, most: bool
) -> dict[str, Any]:
    ok = not math.isnan(value) and (value <= goal if most else value >= goal)
    return {"target": name, "cell": cell, "measured": value, "goal": f"{'≤' if most else '≥'} "
            f"{goal:g}{unit}", "unit": unit, "verdict": "PASS" if ok else "SHORT"}  # fmt: skip


def _cells(results: dict[str, Any]) -> dict[tuple[str, int, int], dict[str, float]]:
    return {(c["kind"], c["size"], c["in_flight"]): c for c in results["cells"]}


def _throughput_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    cells, opts = _cells(results), results["options"]
    found = []
    for size in opts["sizes"]:
        for n in opts["in_flight"]:
            eng, files = cells[("engine", size, n)], cells[("aiohttp_files", size, n)]
            raw = cells[("aiohttp_bytes", size, n)]
            where = f"{_size(size)} x {n}"
            found += [
                _target("req/s engine ÷ aiohttp from files", where,
                        eng["rate"] / files["rate"], 1.0, "x", most=False),
                _target("req/s engine ÷ aiohttp from bytes", where,
                        eng["rate"] / raw["rate"], 0.9, "x", most=False),
                _target("CPU/decision beyond the raw send", where,
                        (eng["cpu_per_op"] - files["cpu_per_op"]) * 1e6, 250, " µs", most=True),
            ]  # fmt: skip
        n = max(opts["in_flight"])
        eng, files = cells[("engine", size, n)], cells[("aiohttp_files", size, n)]
        found.append(_target("p99 engine ÷ aiohttp from files", f"{_size(size)} x {n}",
                             eng["p99"] / files["p99"], 1.2, "x", most=True))  # fmt: skip
    return found


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with its measured value and PASS / SHORT."""
    opts, found = results["options"], _throughput_targets(results)
    small = f"{_size(min(opts['sizes']))} x 1"
    fo, base = results["failover"]["failover"], results["failover"]["base"]
    found += [
        _target("failover past an open breaker: CPU added", small,
                (fo["cpu_per_op"] - base["cpu_per_op"]) * 1e6, 100, " µs", most=True),
        _target("failover past an open breaker: p50 added", small,
                (fo["p50"] - base["p50"]) * 1e6, 100, " µs", most=True),
    ]  # fmt: skip
    mem, red = results["redis"]["memory"], results["redis"]["redis"]
    found += [
        _target("Redis store: p99 added", small, (red["p99"] - mem["p99"]) * 1e3, 2, " ms",
                most=True),
        _target("Redis store: round trips/decision", small, red.get("round_trips", math.nan), 3,
                "", most=True),
    ]  # fmt: skip
    big, n = max(opts["sizes"]), max(opts["in_flight"])
    eng = _cells(results)[("engine", big, n)]
    found.append(_target("peak RSS added by the uploads", f"{_size(big)} x {n}",
                         eng["rss_added_kb"] / 1024, 16, " MB", most=True))  # fmt: skip
    sync = {(s["kind"], s["size"]): s for s in results["sync"]}
    for size in opts["sync_sizes"]:
        ratio = sync[("engine_sync", size)]["rate"] / sync[("requests", size)]["rate"]
        found.append(_target("req/s verify_sync ÷ requests", f"{_size(size)} x 1", ratio, 0.9,
                             "x", most=False))  # fmt: skip
    found.append(_target("import kycmux ÷ import httpx", "-", results["imports"]["ratio"], 1.3,
                         "x", most=True))  # fmt: skip
    return found


def _issue_table(results: dict[str, Any]) -> list[str]:
    cells, opts = _cells(results), results["options"]
    lines = [
        "Engine.verify req/s ÷ hand-written aiohttp upload from files (issue 15's table):",
        f"  {'body / in flight':<18}" + "".join(f"{n:>8}" for n in opts["in_flight"]),
    ]
    for size in opts["sizes"]:
        ratios = [cells[("engine", size, n)]["rate"] / cells[("aiohttp_files", size, n)]["rate"]
                  for n in opts["in_flight"]]  # fmt: skip
        lines.append(f"  {_size(size):<18}" + "".join(f"{r:>8.2f}" for r in ratios))
    return lines


def _cell_details(results: dict[str, Any]) -> list[str]:
    cells, opts = _cells(results), results["options"]
    lines = [f"  {'cell':<12} {'client':<28} {'req/s':>8} {'÷ files':>8} {'p50 ms':>8} "
             f"{'p99 ms':>8} {'CPU µs/call':>11} {'RSS +MB':>8}"]  # fmt: skip
    for size in opts["sizes"]:
        for n in opts["in_flight"]:
            base = cells[("aiohttp_files", size, n)]["rate"]
            for kind, label in _CLIENTS.items():
                c = cells[(kind, size, n)]
                lines.append(
                    f"  {_size(size) + ' x ' + str(n):<12} {label:<28} {c['rate']:>8.0f} "
                    f"{c['rate'] / base:>8.2f} {c['p50'] * 1e3:>8.2f} {c['p99'] * 1e3:>8.2f} "
                    f"{c['cpu_per_op'] * 1e6:>11.0f} {c['rss_added_kb'] / 1024:>8.1f}"
                )
    return lines


def _aux_details(results: dict[str, Any]) -> list[str]:
    fo, base = results["failover"]["failover"], results["failover"]["base"]
    mem, red = results["redis"]["memory"], results["redis"]["redis"]
    lines = [f"  failover [A open, B] vs [B]: CPU {fo['cpu_per_op'] * 1e6:.0f} vs "
             f"{base['cpu_per_op'] * 1e6:.0f} µs/decision, p50 {fo['p50'] * 1e3:.2f} vs "
             f"{base['p50'] * 1e3:.2f} ms",
             f"  Redis vs in-process state: p99 {red['p99'] * 1e3:.2f} vs {mem['p99'] * 1e3:.2f} "
             f"ms, req/s {red['rate']:.0f} vs {mem['rate']:.0f}"]  # fmt: skip
    for s in results["sync"]:
        lines.append(
            f"  sync {s['kind']:<12} {_size(s['size']):>6} x 1: {s['rate']:.0f} req/s, "
            f"p99 {s['p99'] * 1e3:.2f} ms, CPU {s['cpu_per_op'] * 1e6:.0f} µs/call"
        )
    opts = results["options"]
    big, n = max(opts["sizes"]), max(opts["in_flight"])
    files = _cells(results)[("aiohttp_files", big, n)]
    lines.append(f"  aiohttp from files at {_size(big)} x {n}: peak RSS "
                 f"+{files['rss_added_kb'] / 1024:.1f} MB (for comparison)")  # fmt: skip
    imp = results["imports"]
    lines.append("  imports (median µs): " + ", ".join(
        f"{k} {v:.0f}" for k, v in imp.items() if k != "ratio"))  # fmt: skip
    return lines


def render(results: dict[str, Any], found: list[dict[str, Any]]) -> str:
    opts = results["options"]
    lines = [
        f"kycmux decision benchmark: medians of {opts['runs']} run(s) of {opts['seconds']:g} s"
        f" (after {opts['warmup']:g} s of warm-up) per cell; ratios are what to compare",
        "",
    ]
    lines += [*_issue_table(results), "", "Per cell:", *_cell_details(results)]
    lines += ["", "Other measurements:", *_aux_details(results)]
    lines += ["", f"  {'target':<42} {'cell':<11} {'measured':>10} {'goal':>10}  verdict"]
    for t in found:
        lines.append(f"  {t['target']:<42} {t['cell']:<11} {t['measured']:>10.2f} "
                     f"{t['goal']:>10}  {t['verdict']}")  # fmt: skip
    short = sum(t["verdict"] == "SHORT" for t in found)
    lines.append(f"  {len(found) - short} of {len(found)} targets met")
    if "thread_cpu" in results:
        per_thread = ", ".join(
            f"{name} {cpu * 1e6:.0f}" for name, cpu in results["thread_cpu"].items() if cpu
        )
        small = _size(min(opts["sizes"]))
        lines += ["", f"Engine CPU per decision by thread at {small} x 16, unprofiled (µs; /proc, "
                  f"10 ms ticks): {per_thread}"]  # fmt: skip
    if "profile" in results:
        lines += ["", "Profiled (the profiler inflates the event-loop thread):", results["profile"]]
    lines.append(f"(took {results['seconds_taken']:.0f} s)")
    return "\n".join(lines)
