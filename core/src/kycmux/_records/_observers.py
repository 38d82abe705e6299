"""Where records go after a decision: the plugins' observer hooks, then the record sinks.

Off the event loop and off the decision's time: one thread runs them in order, so a slow
observer delays only later observations, never a decision. Each observation runs in a copy of
the context it was posted from (the caller's task, for a decision), so an observer reading
context variables (a tracing plugin's current span) sees the caller's, not the thread's.

A hand-off to that thread costs ~60 us of CPU and contends for the GIL with the event loop, so
none is made for nothing: a plugin implementing ``observes`` is asked first (on the posting
thread) and skipped when it declines, and a decision no observer wants is offered straight to
the sinks' own queues (``offer``); only what is left (a sink without ``offer``, or with a full
queue) goes through the thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from typing import Any

import attrs

from kycmux._contract._host import Observing, PluginHost
from kycmux._records._sink import JsonLinesSink, RecordSink, Sinks
from kycmux._transport._offload import HookRunner

__all__ = ["OBSERVER_DRAIN", "SINK_CLOSE", "Observers"]

OBSERVER_DRAIN = 10.0
"""Seconds ``Engine.drain`` waits for observers and record sinks to catch up."""
SINK_CLOSE = 1.0
"""Seconds closing the engine gives its own sinks more (``drain`` waited for them already)."""
_LANE = "observers"
Callers = tuple[tuple[str, Callable[..., Any]], ...]

log = logging.getLogger("kycmux.engine")


@attrs.define
class Observers:
    """The observer hooks of ``host`` and the engine's own record sinks, on one thread.

    Attributes:
        host: The plugin host whose observers are called.
        sinks: The engine's record sinks (after the observers, for ``on_decision``).
        hops: Observations handed to the observers' thread so far (the others needed none).
    """

    host: PluginHost
    sinks: Sinks = attrs.field(factory=Sinks)
    hops: int = attrs.field(init=False, default=0)
    _runner: HookRunner = attrs.field(init=False, factory=lambda: HookRunner(workers=1))
    _gate_failed: set[str] = attrs.field(init=False, factory=set)
    # Per hook: the callers left when some plugins declined, by who declined.
    _subsets: dict[str, tuple[Observing, dict[int, Callers]]] = attrs.field(
        init=False, factory=dict
    )

    def add_sink(self, sink: RecordSink, *, owned: bool = False) -> None:
        self.sinks.add(sink, owned=owned)

    def post(self, hook: str, record: Any = None, **kwargs: Any) -> None:
        """Hand ``record`` (or, for hooks without one, ``kwargs``) to the ``hook`` observers
        that want it (and, for decisions, the sinks), in a copy of the current context.

        Who is called is settled here, on the posting thread: the observers whose
        ``observes`` did not decline, and the sinks that did not take the record by ``offer``
        (offered only when no observer is called: the sinks come after the observers)."""
        observing = self.host.observing(hook)
        callers = self._asked(hook, observing) if observing.gates else observing.callers
        sinks: tuple[RecordSink, ...] | None = ()
        if hook == "on_decision" and self.sinks.sinks:
            sinks = None if callers else self.sinks.offer(record)  # None: all of them
        if not callers and sinks == ():
            return  # nobody left to tell: a thread woken for nothing costs ~60 us of CPU
        arguments = {"record": record} if record is not None else kwargs
        context = contextvars.copy_context()
        self.hops += 1
        self._runner.post(_LANE, context.run, self._observe, hook, arguments, callers, sinks)

    def _asked(self, hook: str, observing: Observing) -> Callers:
        """The callers of the plugins that observe this ``hook`` now: the cached tuple itself
        when none declines, else the one cached for who declined (nothing built per post)."""
        declined = 0  # a bit per position in the callers
        for position, plugin, gate in observing.gates:
            if not self._observes(plugin, gate, hook):
                declined |= 1 << position
        if not declined:
            return observing.callers
        subsets = self._subsets.get(hook)
        if subsets is None or subsets[0] is not observing:  # first, or plugins were added
            subsets = self._subsets[hook] = (observing, {})
        callers = subsets[1].get(declined)
        if callers is None:
            callers = tuple(c for n, c in enumerate(observing.callers) if not declined >> n & 1)
            subsets[1][declined] = callers
        return callers

    def _observes(self, plugin: str, gate: Callable[..., Any], hook: str) -> bool:
        try:
            return gate(hook=hook) is not False
        except Exception as exc:  # a broken gate must not hide observations: deliver them
            if plugin not in self._gate_failed:
                self._gate_failed.add(plugin)
                # The type only, once: it runs per observation, and a message may quote data.
                log.warning(
                    "observer %s.observes raised %s; observing everything", plugin,
                    type(exc).__name__,
                )  # fmt: skip
            return True

    def _observe(
        self,
        hook: str,
        arguments: dict[str, Any],
        callers: Callers,
        sinks: tuple[RecordSink, ...] | None,
    ) -> None:
        """Dispatch an observer hook through pluggy, one plugin at a time: wrappers run, and
        one failing observer can neither silence the others nor break the decision. The
        engine's own record sinks (those ``post`` left to this thread) come last."""
        for plugin, caller in callers:
            try:
                caller(**arguments)
            except Exception as exc:
                # The type only: an observer's message may quote what it was looking at.
                log.warning("observer %s.%s raised %s; ignored", plugin, hook, type(exc).__name__)
        if hook == "on_decision" and sinks != ():
            self.sinks.write(arguments["record"], sinks)

    async def drain(self) -> None:
        """Wait for the observers and sinks, for at most ``OBSERVER_DRAIN`` seconds (an
        observer stuck for ever is given up on, with a warning)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + OBSERVER_DRAIN
        try:
            if self.hops:  # else there is no thread to wait for (and none to start)
                async with asyncio.timeout_at(until):
                    await self._runner.run(_LANE, _nothing)
        except TimeoutError:
            log.warning("observers still busy after %g s; not waiting for them", OBSERVER_DRAIN)
        # A JSON-lines sink registered as a plugin writes on its own thread too: drained here,
        # so a decision's record is in its file once the engine drained, whoever added it.
        plugged = self.host.plugins_of(JsonLinesSink)
        if self.sinks.background or plugged:
            await asyncio.to_thread(self._flush, plugged, max(0.0, until - loop.time()))

    def _flush(self, plugged: tuple[JsonLinesSink, ...], timeout: float) -> None:
        until = time.monotonic() + timeout
        for sink in plugged:
            sink.flush(max(0.0, until - time.monotonic()))
        self.sinks.flush(max(0.0, until - time.monotonic()))

    def close(self) -> None:
        self._runner.close()
        self.sinks.close(SINK_CLOSE)


def _nothing() -> None:
    """A job that marks a place in the observers' queue: once it ran, all before it had."""
