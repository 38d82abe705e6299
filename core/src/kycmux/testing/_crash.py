"""A vendor plugin with one hook made to crash, for showing a crash is the plugin's own error."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["CRASH_MESSAGE", "PluginCrash", "crashing", "implemented_hooks"]

_MARKER = "kycmux_impl"
# Planted in the crash's message: a record or log quoting exception messages would show it.
CRASH_MESSAGE = "kycmux-conformance-crash-7f3e"
"""The text of every crash ``crashing`` plants: no record or log may quote it."""


class PluginCrash(RuntimeError):
    """What a crashing hook raises: an ordinary bug, nothing kycmux gives a meaning to."""


class _StandIn:
    """Holds the hook implementations (pluggy wants a hashable object with attributes)."""


def implemented_hooks(plugin: object) -> dict[str, Callable[..., Any]]:
    """The plugin's hook implementations by hook name (``@hookimpl`` functions or methods)."""
    found: dict[str, Callable[..., Any]] = {}
    for name in dir(plugin):
        value = getattr(plugin, name, None)
        options = getattr(value, _MARKER, None)
        if callable(value) and isinstance(options, dict):
            found[options.get("specname") or name] = value
    return found


def _crash(function: Callable[..., Any], hook: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def crashing(*args: Any, **kwargs: Any) -> Any:
        raise PluginCrash(f"{hook} crashed ({CRASH_MESSAGE})")

    return crashing


def crashing(plugin: object, hook: str) -> object:
    """A stand-in for ``plugin`` whose ``hook`` raises ``PluginCrash``; every other hook is the
    plugin's own. Register it instead of the plugin (same name): the crash is then the vendor
    plugin's, as a bug in its own code would be."""
    hooks = implemented_hooks(plugin)
    if hook not in hooks:
        raise ValueError(f"the plugin does not implement {hook}")
    stand_in = _StandIn()
    for name, function in hooks.items():
        setattr(stand_in, name, _crash(function, name) if name == hook else function)
    return stand_in
