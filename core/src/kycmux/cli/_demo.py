"""``kycmux demo``: a scripted tour of the engine against the embedded simulators.

Everything runs in-process on loopback; files (synthetic evidence, decision records) go to a
fresh temporary directory and nowhere else, removed at the end unless asked to keep it. Each
scene is printed as it ends, as plain ``Text`` (never markup) that wraps at the terminal's
width, so every scene the summary counts stays on screen, even on 80 columns.

Tencent's scenes ask livegetfour for the digits (``Engine.challenge``) and record the video
reading them; a replayed challenge and guessed digits are refused.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kycmux._contract._host import PluginHost
from kycmux._engine._challenge import challenge_key, seal
from kycmux._engine._engine import Decision, Engine
from kycmux._model._evidence import Consent, Evidence
from kycmux.simkit import Sandbox, run_sandbox
from kycmux.synthetic import DemoSet, VideoTruth, write_demo_set, write_video

__all__ = ["run_demo"]

LINKFACE, TENCENT = "linkface", "tencent_legacy"
_FAST_BREAKER = {"window": 10.0, "failure_ratio": 0.5, "min_calls": 4, "open_seconds": 2.0}
_RETRY = {"retry": {"max_attempts": 2, "base_delay": 0.05}}
# Per vendor, whatever the policy: [vendors.<name>.resilience].
_RESILIENCE = {"breaker": _FAST_BREAKER, "rate_limit": {"pause_on_limit": 0.2}}

# Linkface answers in the shadow of Tencent's live decisions, for subjects who consented.
EXPERIMENTS: dict[str, Any] = {
    "linkface_shadow": {"policy": "video_first", "shadow": LINKFACE, "max_delay": 2.0},
}

POLICIES: dict[str, Any] = {
    "video_first": {
        "deadline": 5.0,
        "liveness": {"vendors": [TENCENT, LINKFACE]},
        "face_match": {"vendors": [TENCENT, LINKFACE], "max_far": 1e-4},
        "vendors": {TENCENT: _RETRY, LINKFACE: _RETRY},
    },
    "sdk_first": {
        "deadline": 5.0,
        "liveness": {"vendors": [LINKFACE, TENCENT]},
        "face_match": {"vendors": [LINKFACE, TENCENT], "max_far": 1e-4},
        "vendors": {TENCENT: _RETRY, LINKFACE: _RETRY},
    },
    "composed": {
        "deadline": 5.0,
        "liveness": {"vendors": [LINKFACE, TENCENT]},
        "face_match": {"vendors": [LINKFACE, TENCENT], "max_far": 1e-4},
        "id_registry_match": {"vendors": [TENCENT], "raw_thresholds": {TENCENT: 75.0}},
        "vendors": {TENCENT: _RETRY, LINKFACE: _RETRY},
    },
}


@attrs.frozen
class Step:
    """One decision of the tour.

    ``challenge``: ``issue`` asks the policy's vendor for digits and records ``video`` (a
    demo truth) reading them (other digits if not ``reads_issued``); ``replay`` sends the
    last challenge and video again; ``guess`` sends digits the vendor never issued.
    """

    scene: str
    policy: str
    evidence: Evidence
    before: Callable[[Sandbox], None] | None = None
    pause: float = 0.0
    challenge: str | None = None
    video: str = "live_video"
    reads_issued: bool = True


@attrs.define
class Tour:
    """What the tour saw, for the scene log and the summary."""

    rows: list[tuple[str, Decision]] = attrs.field(factory=list)
    transitions: list[str] = attrs.field(factory=list)


def scene_lines(number: int, total: int, scene: str, decision: Decision) -> Text:
    """One scene of the log: what was asked, the outcome, the calls, any hint and shadow.

    Built as ``Text``, never markup, so a reason or hint prints as it is; Rich wraps it at
    the terminal's width instead of cutting it.
    """
    record = decision.record
    text = Text(f"{number:>2}/{total} {scene}: ")
    text.append(record.outcome, style=_colour(record.outcome))
    text.append(f" ({record.duration_ms:.0f} ms)")
    open_ = sorted({s.vendor for s in record.skipped if s.reason == "circuit_open"})
    calls = [f"⊘{v}" for v in open_] + [
        f"{a.vendor}{'' if a.error_class is None else '✗ ' + a.error_class}"
        for a in record.attempts
    ]
    text.append("\n      calls: " + (" → ".join(calls) or "none"))
    if record.hint:
        text.append("\n      hint: " + record.hint)
    for s in record.shadow:
        if s.status != "no_consent" or scene.startswith("shadow"):
            text.append(f"\n      shadow {s.vendor}: {s.outcome or s.status.replace('_', ' ')}")
    return text


def _colour(outcome: str) -> str:
    return {"accept": "green", "reject": "red", "retry_capture": "yellow"}.get(outcome, "magenta")


def _outage(seconds: float) -> Callable[[Sandbox], None]:
    def start(box: Sandbox) -> None:
        box.app(LINKFACE).faults.inject("http_5xx=503", duration=seconds)

    return start


def _rate_limited(count: int) -> Callable[[Sandbox], None]:
    def start(box: Sandbox) -> None:
        box.app(TENCENT).faults.inject("rate_limited", count=count)

    return start


def steps(d: DemoSet) -> Iterator[Step]:
    """The tour, scene by scene."""
    yield from _accepting_steps(d)
    yield from _shadow_steps(d)
    yield from _outage_steps(d)


def _video(d: DemoSet, name: str, **extra: Any) -> Evidence:
    """Tencent evidence; the video and the challenge are filled in when the scene runs."""
    return Evidence(video=d[name], reference_photo=d["card_photo"], **extra)


def _challenged(scene: str, evidence: Evidence, video: str = "live_video", **extra: Any) -> Step:
    return Step(scene, "video_first", evidence, challenge="issue", video=video, **extra)


def _sdk(d: DemoSet, liveness: str = "live_liveness_data") -> dict[str, Any]:
    return {"selfie": d["selfie"], "liveness_data": d[liveness]}


def _accepting_steps(d: DemoSet) -> Iterator[Step]:
    """Passes, a composed check, a spoof and two unusable captures."""
    me, both = d.subject, _sdk(d)
    for i in range(2):
        yield _challenged(
            "accept: Tencent digits+video+card", _video(d, "live_video", subject_id=f"v{i}")
        )
        yield Step("accept: Linkface SDK+selfie", "sdk_first", Evidence(**both, subject_id=f"s{i}"))
    yield Step(
        "replay: same digits and video again",
        "video_first",
        _video(d, "live_video", subject_id="v1"),
        challenge="replay",
    )
    yield Step(
        "guessed digits: never issued",
        "video_first",
        _video(d, "live_video", subject_id="g1"),
        challenge="guess",
    )
    composed = Evidence(**both, id_number=me.id_number, id_name=me.name, subject_id="c1")
    yield Step("composed: Linkface + Tencent registry", "composed", composed)
    spoof = _video(d, "spoof_video", **both, subject_id="spoofer")
    yield _challenged("spoof: rejected, no failover", spoof, "spoof_video")
    yield _challenged("capture: other digits read", _video(d, "live_video"), reads_issued=False)
    yield _challenged("capture: no sound", _video(d, "silent_video"), "silent_video")


def _shadow_steps(d: DemoSet) -> Iterator[Step]:
    """Linkface asked in the shadow of Tencent, with and without consent."""
    both, consent = _sdk(d), {"consents": [Consent.SHADOW_EVALUATION]}
    yield _challenged(
        "shadow: Linkface beside Tencent",
        _video(d, "live_video", **both, subject_id="sh1", **consent),
    )
    yield _challenged(
        "shadow: both see the spoof",
        _video(d, "spoof_video", **_sdk(d, "attack_liveness_data"), subject_id="sh2", **consent),
        "spoof_video",
    )
    yield _challenged(
        "shadow: no consent, nothing sent",
        _video(d, "live_video", **both, subject_id="sh3"),
    )


def _outage_steps(d: DemoSet) -> Iterator[Step]:
    """An outage opens the breaker, a probe closes it; a rate limit is waited out, and one
    that lasts cannot move Tencent's challenge to Linkface: a new capture is asked for."""
    outage = Evidence(**_sdk(d))
    for i in range(10):
        yield Step(
            "outage: Linkface 503s",
            "sdk_first",
            attrs.evolve(outage, subject_id=f"o{i}"),
            _outage(2.5) if i == 0 else None,
            pause=0.25,
        )
    yield Step(
        "recovery: breaker probe", "sdk_first", attrs.evolve(outage, subject_id="r1"), pause=2.2
    )
    yield Step("recovered", "sdk_first", attrs.evolve(outage, subject_id="r2"))
    yield _challenged(
        "rate limited: Tencent code 15", _video(d, "live_video", subject_id="rl"),
        before=_rate_limited(1),
    )  # fmt: skip
    yield _challenged(
        "rate limited twice: bound to Tencent",
        _video(d, "live_video", **_sdk(d), subject_id="rl2"),
        before=_rate_limited(2),
    )


@attrs.define
class Challenger:
    """Fills in a scene's challenge and the video reading it."""

    engine: Engine
    demo: DemoSet
    record_key: bytes = attrs.field(repr=False)
    last: Evidence | None = None
    count: int = 0

    async def evidence(self, step: Step) -> Evidence:
        if step.challenge is None:
            return step.evidence
        if step.challenge == "replay" and self.last is not None:
            return self.last
        if step.challenge == "guess":
            # A challenge the vendor never issued: the app (or an attacker) picked the digits.
            issued = await self.engine.challenge(step.evidence.subject_id, policy=step.policy)
            # The engine refuses a changed challenge (its seal); resealed here with the
            # engine's own key, which no app holds, to show the vendor's check behind it.
            guessed = attrs.evolve(issued, value=_other(issued.value))
            challenge = seal(challenge_key(self.record_key), guessed, guessed.subject)
        else:
            challenge = await self.engine.challenge(step.evidence.subject_id, policy=step.policy)
        read = challenge.value if step.reads_issued else _other(challenge.value)
        evidence = attrs.evolve(
            step.evidence, video=self._render(step.video, read), challenge=challenge
        )
        self.last = evidence
        return evidence

    def _render(self, name: str, digits: str) -> Path:
        truth = self.demo.truths[name]
        assert isinstance(truth, VideoTruth)
        self.count += 1
        path = self.demo.directory / f"challenge_{self.count:03d}.mp4"
        return write_video(path, attrs.evolve(truth, digits_read=digits))


def _other(digits: str) -> str:
    return "".join(str((int(c) + 5) % 10) for c in digits)


async def _tour(console: Console, box: Sandbox, engine: Engine, demo: DemoSet, key: bytes) -> Tour:
    """Run every scene, printing each as it ends (a log that scrolls: nothing is dropped)."""
    tour = Tour()

    def transition(vendor: str, old: Any, new: Any, at: float) -> None:
        tour.transitions.append(f"{vendor}: {old.value} → {new.value}")
        console.print(Text(f"      breaker {vendor}: {old.value} → {new.value}", style="bold"))

    engine.on_breaker_transition(transition)
    challenger = Challenger(engine, demo, key)
    scenes = list(steps(demo))
    for number, step in enumerate(scenes, start=1):
        if step.pause:
            await asyncio.sleep(step.pause)
        evidence = await challenger.evidence(step)  # asked before a scene's faults start
        if step.before is not None:
            step.before(box)
        decision = await engine.verify(evidence, policy=step.policy)
        tour.rows.append((step.scene, decision))
        console.print(scene_lines(number, len(scenes), step.scene, decision))
    return tour


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def _summary(console: Console, tour: Tour) -> None:
    """The counts, per-vendor latency, breaker transitions and the shadow experiment."""
    console.print()
    outcomes = Counter(d.record.outcome for _, d in tour.rows)
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
    console.print(Panel(f"{len(tour.rows)} scenes: {counts}", title="outcomes"))
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    for _, decision in tour.rows:
        for a in decision.record.attempts:
            latencies[a.vendor].append(a.latency_ms)
            errors[a.vendor] += a.error_class is not None
    table = Table(title="vendor calls")
    for column in ("vendor", "attempts", "failed", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, overflow="fold")
    for vendor, values in sorted(latencies.items()):
        table.add_row(
            escape(vendor),
            str(len(values)),
            str(errors[vendor]),
            *(f"{_percentile(values, q):.1f}" for q in (0.5, 0.95, 0.99)),
        )
    console.print(table)
    console.print(Panel(Text("\n".join(tour.transitions) or "none"), title="breaker transitions"))
    shadowed = [
        f"{scene}: live {d.record.outcome}, shadow {s.vendor} "
        + (s.outcome if s.status == "answered" and s.outcome else s.status.replace("_", " "))
        for scene, d in tour.rows
        for s in d.record.shadow
        if scene.startswith("shadow")
    ]
    console.print(
        Panel(Text("\n".join(shadowed) or "none"), title="shadow experiment (never deciding)")
    )


def _files(console: Console, workdir: Path, keep: bool) -> None:
    records, results = workdir / "records.jsonl", workdir / "results.sqlite"
    if not keep:
        console.print("Files (evidence, records, results) removed; --keep keeps them.")
        return
    console.print(Text(f"Decision records (JSON lines, masked): {records}"))
    console.print(
        Text(f"Shadow experiment results: {results} (kycmux report --results {results} --out DIR)")
    )


def run_demo(console: Console, *, copy_records_to: str | None = None, keep: bool = False) -> None:
    """Run the tour and print the summary; the temp folder goes unless ``keep``."""
    workdir = Path(tempfile.mkdtemp(prefix="kycmux-demo-"))
    try:
        _run(console, workdir, copy_records_to)
        _files(console, workdir, keep)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(console: Console, workdir: Path, copy_records_to: str | None) -> None:
    demo = write_demo_set(workdir / "evidence")
    records = workdir / "records.jsonl"
    host = PluginHost.from_entry_points()
    console.print(Text(f"kycmux demo — simulators on loopback, files in {workdir}", style="bold"))
    with run_sandbox(host, [LINKFACE, TENCENT]) as box:
        config = box.config(
            host,
            resilience={TENCENT: _RESILIENCE, LINKFACE: _RESILIENCE},
            policies=POLICIES,
            experiments=EXPERIMENTS,
            engine={"records": str(records), "results": str(workdir / "results.sqlite")},
        )
        key = secrets.token_bytes(32)
        engine = Engine.from_config(config, host=host, record_key=key)

        async def main() -> Tour:
            async with engine:
                return await _tour(console, box, engine, demo, key)

        tour = asyncio.run(main())
    _summary(console, tour)
    if copy_records_to:
        shutil.copyfile(records, copy_records_to)
