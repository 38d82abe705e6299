"""What importing kycmux costs, as a ratio to importing httpx in the same interpreter.

Each import runs in a fresh interpreter (``python -X importtime -c "import ..."``), several times;
the figure is the median of the top-level module's cumulative time, in microseconds, as
``-X importtime`` reports it, from compiled bytecode (a warm-up run writes it to a private
cache) as a deployed service would import. Printed: ``import kycmux`` (what an embedding
service pays at startup; names load on first use) and ``from kycmux import Engine`` (the
engine and what it needs, loaded), each as a ratio to ``import httpx``.

    python benchmarks/imports.py [--runs N] [--check MAX_RATIO]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

CASES = {
    "import httpx": ("import httpx", "httpx"),
    "import kycmux": ("import kycmux", "kycmux"),
    "from kycmux import Engine": ("from kycmux import Engine", None),
}


def _cumulative(code: str, top: str | None, env: dict[str, str]) -> int:
    """Microseconds ``code`` spent importing (the whole statement when ``top`` is None)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    total = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        cumulative, name = cumulative.strip(), name[1:].rstrip()  # the indent shows nesting
        if not cumulative.isdigit():
            continue
        if top is not None and name == top:
            return int(cumulative)
        if top is None and not name.startswith(" "):  # a top-level import of the statement
            total += int(cumulative)
    return total


def measure(runs: int) -> dict[str, float]:
    samples: dict[str, list[int]] = {case: [] for case in CASES}
    with tempfile.TemporaryDirectory() as cache:
        # As a deployed service imports: from bytecode already compiled (an editable install
        # or PYTHONDONTWRITEBYTECODE would otherwise charge kycmux for compiling itself).
        env = {**os.environ, "PYTHONPYCACHEPREFIX": cache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for code, top in CASES.values():  # the warm-up run writes the bytecode
            _cumulative(code, top, env)
        for _ in range(runs):  # interleaved, so drift in the machine hits every case alike
            for case, (code, top) in CASES.items():
                samples[case].append(_cumulative(code, top, env))
    return {case: statistics.median(values) for case, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--check", type=float, default=None, help="fail above this ratio")
    args = parser.parse_args()
    medians = measure(args.runs)
    base = medians["import httpx"]
    print(f"import times, median of {args.runs} fresh interpreters (ratio to import httpx):")
    for case, value in medians.items():
        print(f"  {case:28s} {value / 1000:8.1f} ms  {value / base:5.2f}x")
    ratio = medians["import kycmux"] / base
    if args.check is not None and ratio > args.check:
        print(f"import kycmux is {ratio:.2f}x import httpx: above the {args.check:g}x budget")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
