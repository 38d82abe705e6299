"""Where records go after a decision: the plugins' observer hooks, then the record sinks.

Off the event loop and off the decision's time: one thread runs them in order, so a slow
observer delays only later observations, never a decision. Each observation runs in a copy of
the context it was posted from (the caller's task, for a decision), so an observer reading
context variables (a tracing plugin's current span) sees the caller's, not the thread's.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import Any

import attrs

from kycmux._contract._host import PluginHost
from kycmux._records._sink import JsonLinesSink, RecordSink, Sinks
from kycmux._transport._offload import HookRunner

__all__ = ["OBSERVER_DRAIN", "SINK_CLOSE", "Observers"]

OBSERVER_DRAIN = 10.0
"""Seconds ``Engine.drain`` waits for observers and record sinks to catch up."""
SINK_CLOSE = 1.0
"""Seconds closing the engine gives its own sinks more (``drain`` waited for them already)."""
_LANE = "observers"

log = logging.getLogger("kycmux.engine")


@attrs.define
class Observers:
    """The observer hooks of ``host`` and the engine's own record sinks, on one thread.

    Attributes:
        host: The plugin host whose observers are called.
        sinks: The engine's record sinks (after the observers, for ``on_decision``).
    """

    host: PluginHost
    sinks: Sinks = attrs.field(factory=Sinks)
    _runner: HookRunner = attrs.field(init=False, factory=lambda: HookRunner(workers=1))

    def add_sink(self, sink: RecordSink, *, owned: bool = False) -> None:
        self.sinks.add(sink, owned=owned)

    def post(self, hook: str, record: Any = None, **kwargs: Any) -> None:
        """Hand ``record`` (or, for hooks without one, ``kwargs``) to the ``hook`` observers
        (and, for decisions, the sinks), in a copy of the current context."""
        if not self.host.observers(hook) and (hook != "on_decision" or not self.sinks.sinks):
            return  # nobody to tell: a thread woken for nothing costs ~60 us of CPU
        arguments = {"record": record} if record is not None else kwargs
        context = contextvars.copy_context()
        self._runner.post(_LANE, context.run, self._observe, hook, arguments)

    def _observe(self, hook: str, arguments: dict[str, Any]) -> None:
        """Dispatch an observer hook through pluggy, one plugin at a time: wrappers run, and
        one failing observer can neither silence the others nor break the decision. The
        engine's own record sinks come last."""
        for plugin, caller in self.host.observers(hook):
            try:
                caller(**arguments)
            except Exception as exc:
                # The type only: an observer's message may quote what it was looking at.
                log.warning("observer %s.%s raised %s; ignored", plugin, hook, type(exc).__name__)
        if hook == "on_decision":
            self.sinks.write(arguments["record"])

    async def drain(self) -> None:
        """Wait for the observers and sinks, for at most ``OBSERVER_DRAIN`` seconds (an
        observer stuck for ever is given up on, with a warning)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + OBSERVER_DRAIN
        try:
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
