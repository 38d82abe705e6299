"""write_report(): the files, the plots, and a page whose numbers are the summary's."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import attrs
import pytest

from kycmux.report import ReportFiles, summarize, write_report
from kycmux.results._model import Label, Role
from kycmux.results._store import StudyInfo
from report.report_support import LINKFACE, TENCENT, row, synthetic_study

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
INFO = StudyInfo("demo", "offline", 1_760_000_000.0, {"manifest": "demo.jsonl"})


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    out = tmp_path_factory.mktemp("report") / "nested" / "out"
    return write_report(synthetic_study(120, seed=1), out, study=INFO, bootstrap=200)


class _Page(HTMLParser):
    """Collects the text of every element with a data-key, and every tag."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("br", "img", "meta"):
            return
        self._open.append((tag, dict(attrs).get("data-key")))
        if dict(attrs).get("data-key"):
            self.values[dict(attrs)["data-key"] or ""] = ""

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        for _, key in self._open:
            if key:
                self.values[key] += data


def _page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _lookup(summary: dict[str, Any], key: str) -> Any:
    node: Any = summary
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def test_the_files_are_written_where_asked(report: ReportFiles) -> None:
    assert report.directory.is_dir()
    assert report.directory.name == "out"
    assert report.html == report.directory / "index.html"
    assert report.summary == report.directory / "summary.json"
    assert set(report.plots) == {
        "latency_cdf",
        f"agreement_{LINKFACE}_vs_{TENCENT}",
        "scatter_face_match",
        "det_face_match",
        "det_liveness",
    }
    assert all(p.parent == report.directory and p.suffix == ".png" for p in report.plots.values())


def test_every_plot_is_a_real_png_drawn_by_matplotlib(report: ReportFiles) -> None:
    for path in report.plots.values():
        data = path.read_bytes()
        assert data[:8] == PNG_SIGNATURE
        width, height = struct.unpack(">II", data[16:24])  # IHDR
        assert 500 <= width <= 1000
        assert 400 <= height <= 800
        assert len(data) > 15_000, path.name  # axes, text and data, not an empty canvas
        assert b"Software" not in data  # no tool/version tag: the same data, the same bytes


def test_summary_json_is_exactly_summarize(report: ReportFiles) -> None:
    written = json.loads(report.summary.read_text(encoding="utf-8"))
    assert written == summarize(synthetic_study(120, seed=1), study=INFO, bootstrap=200)


def test_numbers_on_the_page_are_the_summary_numbers(report: ReportFiles) -> None:
    summary = json.loads(report.summary.read_text(encoding="utf-8"))
    page = _page(report.html)
    checked = 0
    for key, text in page.values.items():
        if key == "verdict.statement":
            continue
        value = _lookup(summary, key)
        if isinstance(value, dict):  # a rate: "12.50% 25/200 [lo, hi]"
            value = value["value"]
        first = text.split()[0]
        if value is None:
            assert first == "—", key
        elif key.startswith("latency"):
            assert text.startswith(f"{value:,.1f} ms"), key
        elif key.endswith("kappa.value"):
            assert float(first) == value, key
        else:
            assert float(first.rstrip("%")) == pytest.approx(value * 100, abs=1e-9), key
        checked += 1
    assert checked > 40
    rate = summary["outcomes"][LINKFACE]["rates"]["accept"]
    text = page.values[f"outcomes.{LINKFACE}.rates.accept"]
    assert f"{rate['count']}/{rate['n']}" in text
    assert f"[{rate['ci'][0] * 100:.2f}%, {rate['ci'][1] * 100:.2f}%]" in text


def test_the_verdict_leads_the_page(report: ReportFiles) -> None:
    summary = json.loads(report.summary.read_text(encoding="utf-8"))
    page = _page(report.html)
    assert page.values["verdict.statement"] == "".join(summary["verdict"]["paragraphs"])
    html = report.html.read_text(encoding="utf-8")
    order = [
        html.index(f'id="{s}"')
        for s in ("verdict", "study", "outcomes", "latency", "agreement", "scores", "accuracy")
    ]
    assert order == sorted(order)


def test_the_page_is_self_contained_and_shows_every_plot(report: ReportFiles) -> None:
    page = _page(report.html)
    html = report.html.read_text(encoding="utf-8")
    assert not any(tag in ("script", "link", "iframe") for tag, _ in page.tags)
    assert "http://" not in html
    assert "https://" not in html
    images = {a["src"]: a["alt"] for tag, a in page.tags if tag == "img"}
    assert set(images) == {p.name for p in report.plots.values()}
    assert all(alt for alt in images.values())


def test_disagreements_are_listed_in_full_in_json_and_capped_on_the_page(
    tmp_path: Path,
) -> None:
    rows = []
    for index in range(70):
        rows.append(row(f"item-{index:03d}", "x", "accept"))
        rows.append(row(f"item-{index:03d}", "y", "reject", reasons=("face_match:y:low",)))
    files = write_report(rows, tmp_path, bootstrap=0)
    summary = json.loads(files.summary.read_text(encoding="utf-8"))
    assert len(summary["agreement"][0]["disagreements"]) == 70
    html = files.html.read_text(encoding="utf-8")
    assert "item-049" in html
    assert "item-050" not in html
    assert "and 20 more; every one is in summary.json" in html


def test_text_is_escaped_and_personal_data_never_shown(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    record = {"evidence": {"id_name": "Zhang San", "id_number": "110101199003074578"}}
    rows = [
        attrs.evolve(row("r1", evil, "accept", label=Label.GENUINE), record=record),
        attrs.evolve(
            row("r1", "ok", "reject", label=Label.GENUINE, reasons=(evil,)), record=record
        ),
    ]
    files = write_report(rows, tmp_path, bootstrap=0)
    html = files.html.read_text(encoding="utf-8")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for path in (files.html, files.summary):
        text = path.read_text(encoding="utf-8")
        assert "Zhang San" not in text
        assert "110101199003074578" not in text
    assert all("<" not in p.name and "/" not in p.stem for p in files.plots.values())


def test_odd_and_long_system_names_give_short_distinct_files_and_clean_plots(
    tmp_path: Path,
) -> None:
    long = "vendor-" + "x" * 120
    names = [long + "-1", long + "-2", "a $b", "a-b"]  # "a $b" slugs like "a-b"; $ is mathtext
    rows = [
        row(f"r{i}", name, "accept" if (i + j) % 3 else "reject", latency=10.0 + i)
        for i in range(12)
        for j, name in enumerate(names)
    ]
    files = write_report(rows, tmp_path, bootstrap=0)  # warnings are errors: none from plots
    agreement = [p for name, p in files.plots.items() if name.startswith("agreement_")]
    assert len(agreement) == 6  # every pair its own file
    assert all(len(p.name) < 120 for p in files.plots.values())


def test_the_same_inputs_give_the_same_bytes(report: ReportFiles, tmp_path: Path) -> None:
    again = write_report(synthetic_study(120, seed=1), tmp_path, study=INFO, bootstrap=200)
    names = sorted(p.name for p in report.directory.iterdir())
    assert names == sorted(p.name for p in again.directory.iterdir())
    for name in names:
        assert (report.directory / name).read_bytes() == (again.directory / name).read_bytes()


def test_reports_without_labels_or_pairs_draw_only_what_applies(tmp_path: Path) -> None:
    unlabelled = write_report(synthetic_study(40, labelled=False), tmp_path / "u", bootstrap=0)
    assert not any(name.startswith("det_") for name in unlabelled.plots)
    assert "scatter_face_match" in unlabelled.plots
    html = unlabelled.html.read_text(encoding="utf-8")
    assert "Accuracy cannot be judged without ground truth" in html
    arms = [
        row(f"q{i}", "arm-a" if i % 2 else "arm-b", "accept", role=Role.LIVE, latency=10.0 + i)
        for i in range(20)
    ]
    files = write_report(arms, tmp_path / "arms", bootstrap=0)
    assert set(files.plots) == {"latency_cdf"}
    assert "judged different items" in files.html.read_text(encoding="utf-8")


def test_kycmux_never_imports_the_report_package_and_reports_never_use_pyplot() -> None:
    code = (
        "import sys, kycmux, kycmux.results\n"
        "assert 'kycmux.report' not in sys.modules\n"
        "assert 'matplotlib' not in sys.modules and 'numpy' not in sys.modules\n"
        "import tempfile, kycmux.report\n"
        "from kycmux.results._model import Result\n"
        "rows = [Result(study='s', item=str(i), system=s, role='offline', outcome='accept',\n"
        "               latency_ms=1.0 + i, recorded_at=0.0) for i in range(5) for s in 'ab']\n"
        "kycmux.report.write_report(rows, tempfile.mkdtemp(), bootstrap=10)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
