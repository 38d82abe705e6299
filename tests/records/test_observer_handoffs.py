"""Observer hand-offs: a plugin's ``observes`` gate, and decision records offered straight to
the sinks' queues, so that an observation nobody needs wakes no thread."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import kycmux
from kycmux import DecisionRecord, Evidence, JsonLinesSink, PluginHost
from kycmux._records import _sink
from kycmux._records._observers import Observers
from kycmux.testing import make_rig, policy

pytestmark = pytest.mark.anyio


def _record(n: int) -> DecisionRecord:
    return DecisionRecord(
        request_id=f"req-{n}",
        started_at=1_700_000_000.0 + n,
        duration_ms=1.0,
        policy="default",
        policy_hash="h",
        subject=None,
        evidence={"selfie": "file"},
        outcome="accept",
        reasons=("all_checks_passed",),
        explanation="passed",
    )


class Gated:
    """An observer whose ``observes`` answers ``answer`` (a value, or an exception to raise)."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.asked: list[str] = []
        self.seen: list[str] = []
        self.wrapped: list[str] = []

    @kycmux.hookimpl
    def observes(self, hook: str) -> object:
        self.asked.append(hook)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    @kycmux.hookimpl
    def on_decision(self, record: DecisionRecord) -> None:
        self.seen.append(record.request_id)

    @kycmux.hookimpl(wrapper=True)
    def on_attempt(self, record: Any) -> Generator[None, None, None]:
        self.wrapped.append("before")
        yield
        self.wrapped.append("after")

    @kycmux.hookimpl
    def on_breaker_transition(self, vendor: str, new: str) -> None:
        self.seen.append(f"{vendor}:{new}")


class Counting:
    """Stands in for the observers' runner: counts the jobs handed to its thread, runs them."""

    def __init__(self, observers: Observers) -> None:
        self.inner = observers._runner
        self.jobs = 0

    def post(self, lane: str, fn: Any, *args: Any) -> None:
        self.jobs += 1
        self.inner.post(lane, fn, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _observers(*plugins: object) -> tuple[Observers, Counting]:
    host = PluginHost()
    for n, plugin in enumerate(plugins):
        assert host.register(plugin, f"p{n}")
    observers = Observers(host)
    counting = Counting(observers)
    observers._runner = counting  # type: ignore[assignment]
    return observers, counting


async def test_a_plugin_declining_is_not_called_and_one_accepting_is() -> None:
    no, yes, ungated = Gated(False), Gated(True), Gated(None)
    observers, runner = _observers(no, yes, ungated)
    for n in range(3):
        observers.post("on_decision", _record(n))
    await observers.drain()
    observers.close()
    assert no.asked == yes.asked == ["on_decision"] * 3
    assert no.seen == []
    assert yes.seen == ungated.seen == ["req-0", "req-1", "req-2"]
    assert runner.jobs == 3


async def test_everyone_declining_wakes_no_thread_and_drain_starts_none() -> None:
    no = Gated(False)
    observers, runner = _observers(no)
    observers.post("on_decision", _record(0))
    observers.post("on_attempt", _record(0))
    observers.post("on_breaker_transition", vendor="v", old="closed", new="open", at=1.0)
    await observers.drain()
    observers.close()
    assert no.asked == ["on_decision", "on_attempt", "on_breaker_transition"]
    assert (runner.jobs, observers.hops, no.seen, no.wrapped) == (0, 0, [], [])
    assert runner.inner._lanes == {}  # this engine's observers' thread was never started


async def test_the_answer_is_asked_per_observation() -> None:
    later = Gated(False)
    observers, runner = _observers(later)
    observers.post("on_decision", _record(0))
    later.answer = True  # e.g. the application set a provider meanwhile
    observers.post("on_decision", _record(1))
    await observers.drain()
    observers.close()
    assert later.seen == ["req-1"]
    assert runner.jobs == 1


async def test_a_raising_gate_still_delivers_and_logs_its_type_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = Gated(RuntimeError("secret 11010519491231002X"))
    observers, _runner = _observers(broken)
    for n in range(3):
        observers.post("on_decision", _record(n))
    await observers.drain()
    observers.close()
    assert broken.seen == ["req-0", "req-1", "req-2"]
    lines = [r.getMessage() for r in caplog.records if "observes raised" in r.getMessage()]
    assert lines == ["observer p0.observes raised RuntimeError; observing everything"]
    assert "11010519491231002X" not in caplog.text


async def test_an_observer_wrapper_of_an_accepting_plugin_runs() -> None:
    yes = Gated(True)
    observers, _runner = _observers(yes)
    observers.post("on_attempt", _record(0))
    await observers.drain()
    observers.close()
    assert yes.asked == ["on_attempt"]
    assert yes.wrapped == ["before", "after"]


class WrappedGate:
    """A plugin whose ``observes`` wrapper has the last word over its own answer."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.seen: list[str] = []

    @kycmux.hookimpl(wrapper=True)
    def observes(self, hook: str) -> Generator[None, object, object]:
        answer = yield
        self.asked.append(f"{hook}: {answer}")
        return False

    @kycmux.hookimpl
    def on_decision(self, record: DecisionRecord) -> None:
        self.seen.append(record.request_id)


async def test_a_wrapper_of_the_gate_itself_runs() -> None:
    plugin = WrappedGate()
    host = PluginHost()
    assert host.register(plugin, "wrapped")
    observers = Observers(host)
    observers.post("on_decision", _record(0))
    await observers.drain()
    observers.close()
    # Only a wrapper answered (None inside it): the wrapper's False is the plugin's answer.
    assert (plugin.asked, plugin.seen, observers.hops) == (["on_decision: None"], [], 0)


async def test_breaker_transitions_go_through_the_gate() -> None:
    no, yes = Gated(False), Gated(True)
    observers, _runner = _observers(no, yes)
    observers.post("on_breaker_transition", vendor="alpha", old="closed", new="open", at=1.0)
    await observers.drain()
    observers.close()
    assert no.asked == yes.asked == ["on_breaker_transition"]
    assert (no.seen, yes.seen) == ([], ["alpha:open"])


# records straight to the sinks ---------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return [json.loads(line)["request_id"] for line in path.read_text("utf-8").splitlines()]


async def test_records_offered_directly_are_in_the_file_after_drain(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "records.jsonl")
    observers, runner = _observers()
    observers.add_sink(sink, owned=True)
    for n in range(50):
        observers.post("on_decision", _record(n))
    await observers.drain()
    assert _lines(tmp_path / "records.jsonl") == [f"req-{n}" for n in range(50)]
    assert runner.jobs == 0  # every record went to the sink's queue on this thread
    assert (sink.written, sink.lost) == (50, 0)
    observers.close()


async def test_an_engine_with_only_a_records_file_hands_nothing_to_the_observers(
    tmp_path: Path, png_file: Path
) -> None:
    engine = make_rig().engine(policy())
    sink = JsonLinesSink(tmp_path / "records.jsonl")
    engine.add_sink(sink, owned=True)
    runner = Counting(engine._observers)
    engine._observers._runner = runner  # type: ignore[assignment]
    async with engine:
        for _ in range(5):
            await engine.verify(Evidence(selfie=png_file, subject_id="s"))
        await engine.drain()
        assert len(_lines(tmp_path / "records.jsonl")) == 5
    assert runner.jobs == 0


class Held(JsonLinesSink):
    """A JSON-lines sink whose writer starts only once ``go`` is set (a stuck disk)."""

    go: threading.Event = threading.Event()

    def _work(self) -> None:
        self.go.wait()
        super()._work()


async def test_a_full_queue_falls_back_to_the_thread_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sink, "FULL_WAIT", 60.0)  # the old path waits that long for room
    Held.go = threading.Event()
    sink = Held(tmp_path / "records.jsonl", queue_size=1)
    observers, runner = _observers()
    observers.add_sink(sink, owned=True)
    for n in range(4):
        observers.post("on_decision", _record(n))
    # The first record filled the queue; the other three went to the observers' thread,
    # which waits for room on the queue, as ``on_decision`` always did.
    assert runner.jobs == 3
    Held.go.set()
    await observers.drain()
    observers.close()
    assert sorted(_lines(tmp_path / "records.jsonl")) == [f"req-{n}" for n in range(4)]
    assert (sink.written, sink.lost) == (4, 0)


class Plain:
    """A sink without ``offer``."""

    def __init__(self) -> None:
        self.records: list[str] = []

    def on_decision(self, record: DecisionRecord) -> None:
        self.records.append(record.request_id)


class Refusing(Plain):
    """A sink whose ``offer`` raises: the record reaches it by ``on_decision`` instead."""

    def offer(self, record: DecisionRecord) -> bool:
        raise ValueError(record.request_id)


async def test_sinks_without_offer_get_every_record_once_on_the_thread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plain, refusing = Plain(), Refusing()
    sink = JsonLinesSink(tmp_path / "records.jsonl")
    observers, runner = _observers()
    observers.add_sink(plain)
    observers.add_sink(sink, owned=True)
    observers.add_sink(refusing)
    for n in range(5):
        observers.post("on_decision", _record(n))
    await observers.drain()
    observers.close()
    expected = [f"req-{n}" for n in range(5)]
    assert plain.records == refusing.records == expected
    assert _lines(tmp_path / "records.jsonl") == expected
    assert (sink.written, sink.lost) == (5, 0)
    assert runner.jobs == 5
    assert "offer raised ValueError" in caplog.text
    assert "req-" not in caplog.text  # the type only, never the message


async def test_with_an_observer_the_sinks_come_after_it_on_the_thread(tmp_path: Path) -> None:
    order: list[str] = []

    class First:
        @kycmux.hookimpl
        def on_decision(self, record: DecisionRecord) -> None:
            order.append("observer")

    class Last(Plain):
        def offer(self, record: DecisionRecord) -> bool:
            order.append("offered")
            return True

        def on_decision(self, record: DecisionRecord) -> None:
            order.append("sink")

    observers, runner = _observers(First())
    observers.add_sink(Last())
    observers.post("on_decision", _record(0))
    await observers.drain()
    observers.close()
    assert (order, runner.jobs) == (["observer", "sink"], 1)


def test_offer_never_waits_and_refuses_when_full(tmp_path: Path) -> None:
    Held.go = threading.Event()
    sink = Held(tmp_path / "records.jsonl", queue_size=2)
    assert [sink.offer(_record(n)) for n in range(3)] == [True, True, False]
    assert (sink.lost, sink._pending) == (0, 2)  # a refused record is not counted anywhere
    Held.go.set()
    assert sink.flush()
    sink.close()
    assert (sink.written, sink.lost) == (2, 0)


def test_the_postgres_sink_offers_without_waiting() -> None:
    from kycmux._postgres._target import PgTarget
    from kycmux._records._postgres import PostgresRecordSink

    sink = PostgresRecordSink(PgTarget.parse("postgresql://u@127.0.0.1:9/db"), 2)  # no writer
    assert [sink.offer(_record(n)) for n in range(3)] == [True, True, False]
    assert (sink.pending, sink.lost) == (2, 0)
    sink.on_decision(_record(3))  # full: lost and counted, as before
    assert (sink.pending, sink.lost) == (2, 1)
    sink.close(timeout=0.0)
    assert sink.offer(_record(4)) is False  # closed
    assert sink.lost == 3  # the two queued (never written) and the one dropped


def test_logging_is_quiet_for_a_declining_plugin(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kycmux")
    no = Gated(False)
    observers, _runner = _observers(no)
    observers.post("on_decision", _record(0))
    observers.close()
    assert caplog.records == []


class Counted(JsonLinesSink):
    """A JSON-lines sink counting its writes (one per batch)."""

    appends: int = 0

    def _append(self, bodies: list[str]) -> None:
        type(self).appends += 1
        super()._append(bodies)


def test_the_writer_lingers_so_records_arriving_meanwhile_share_one_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lingering = threading.Event()
    release = threading.Event()
    slept: list[float] = []

    class Clock:
        monotonic = staticmethod(_sink.time.monotonic)

        @staticmethod
        def sleep(seconds: float) -> None:
            slept.append(seconds)
            lingering.set()
            release.wait()

    monkeypatch.setattr(_sink, "time", Clock)
    Counted.appends = 0
    sink = Counted(tmp_path / "records.jsonl")
    assert sink.offer(_record(0))
    assert lingering.wait(30)  # the writer has the first record and lingers
    assert all(sink.offer(_record(n)) for n in range(1, 5))
    release.set()
    assert sink.flush()
    sink.close()
    assert slept == [_sink.LINGER]
    assert Counted.appends == 1  # the five records in one write
    assert _lines(tmp_path / "records.jsonl") == [f"req-{n}" for n in range(5)]
