"""Plugin discovery and the per-vendor dispatch of hook calls.

There is no global plugin manager: whoever needs one (the CLI, an ``Engine``, a test) builds a
``PluginHost``.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import os
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import pluggy

from kycmux import hookspecs
from kycmux._contract import _defaults
from kycmux._contract._vendor import VendorSpec
from kycmux.exceptions import InvalidVendorError, PluginError, UnknownVendorError

__all__ = ["ENTRY_POINT_GROUP", "Observing", "PluginFailure", "PluginHost", "VendorHooks"]

ENTRY_POINT_GROUP = "kycmux"
"""The entry-point group a plugin distribution registers its module under."""
ALLOW_ENV = "KYCMUX_PLUGINS"
DENY_ENV = "KYCMUX_DISABLE_PLUGINS"

log = logging.getLogger("kycmux.plugins")
_P = TypeVar("_P")

_VENDOR_HOOKS = (
    "build_request",
    "sign",
    "parse",
    "classify_error",
    "normalize_score",
    "build_challenge_request",
    "parse_challenge",
)
_DEFAULTS_NAME = "kycmux.defaults"


@attrs.frozen
class PluginFailure:
    """A plugin that was reported and skipped.

    Attributes:
        name: Entry-point or registration name.
        distribution: The distribution that declared it, if known.
        version: Its version, if known.
        error: What went wrong, one line.
    """

    name: str
    distribution: str | None
    version: str | None
    error: str


@attrs.frozen
class VendorOrigin:
    """Where a vendor came from, for ``kycmux vendors``."""

    plugin: str
    distribution: str | None
    version: str | None


@attrs.frozen
class VendorHooks:
    """The hook callers for one vendor: its own plugin plus every cross-cutting plugin."""

    build_request: Callable[..., Any]
    sign: Callable[..., Any]
    parse: Callable[..., Any]
    classify_error: Callable[..., Any]
    normalize_score: Callable[..., Any]
    build_challenge_request: Callable[..., Any]
    parse_challenge: Callable[..., Any]


@attrs.frozen
class Observing:
    """The plugins observing one hook, each reached on its own, and who may decline it.

    Attributes:
        callers: ``(plugin name, caller)`` for each plugin implementing the hook, in pluggy's
            call order; each caller reaches that plugin's implementations only.
        gates: ``(position in callers, plugin name, caller of that plugin's observes)`` for
            each of them that implements ``observes`` (the others observe everything).
    """

    callers: tuple[tuple[str, Callable[..., Any]], ...]
    gates: tuple[tuple[int, str, Callable[..., Any]], ...]


def _env_names(env: Mapping[str, str], key: str) -> frozenset[str] | None:
    raw = env.get(key)
    if raw is None:
        return None
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


@attrs.define
class PluginHost:
    """Owns a pluggy ``PluginManager`` and the vendors its plugins registered.

    Build one with ``PluginHost.from_entry_points()`` (installed plugins) or ``PluginHost()``
    and ``register()`` (tests, embedders).
    """

    _pm: pluggy.PluginManager = attrs.field(init=False)
    _vendors: dict[str, VendorSpec] = attrs.field(init=False, factory=dict)
    _owners: dict[str, object] = attrs.field(init=False, factory=dict)
    _origins: dict[str, VendorOrigin] = attrs.field(init=False, factory=dict)
    _failures: list[PluginFailure] = attrs.field(init=False, factory=list)
    _hooks: dict[str, VendorHooks] = attrs.field(init=False, factory=dict)
    _dists: dict[str, str | None] = attrs.field(init=False, factory=dict)
    _observers: dict[str, tuple[tuple[str, Callable[..., Any]], ...]] = attrs.field(
        init=False, factory=dict
    )
    _observing: dict[str, Observing] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self._pm = pluggy.PluginManager("kycmux")
        self._pm.add_hookspecs(hookspecs)
        self._pm.register(_defaults, name=_DEFAULTS_NAME)

    @classmethod
    def from_entry_points(
        cls,
        *,
        env: Mapping[str, str] | None = None,
        entry_points: Iterable[md.EntryPoint] | None = None,
    ) -> PluginHost:
        """Load every plugin of the ``kycmux`` entry-point group.

        ``KYCMUX_PLUGINS`` (comma-separated entry-point names) is an allow list, and
        ``KYCMUX_DISABLE_PLUGINS`` a deny list; both read from ``env`` (default: the process
        environment).
        """
        host = cls()
        host.load_entry_points(env=env, entry_points=entry_points)
        return host

    def load_entry_points(
        self,
        *,
        env: Mapping[str, str] | None = None,
        entry_points: Iterable[md.EntryPoint] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        allow, deny = _env_names(env, ALLOW_ENV), _env_names(env, DENY_ENV) or frozenset()
        eps = md.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
        for ep in sorted(eps, key=lambda e: e.name):
            if (allow is not None and ep.name not in allow) or ep.name in deny:
                log.debug("plugin %s not loaded: excluded by %s/%s", ep.name, ALLOW_ENV, DENY_ENV)
                continue
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                self._fail(ep.name, dist_name, version, f"import failed: {exc!r}")
                continue
            self.register(plugin, ep.name, distribution=dist_name, version=version)

    def register(
        self,
        plugin: object,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> bool:
        """Register a plugin; returns False (and records a failure) if it was skipped."""
        name = name or getattr(plugin, "__name__", None) or repr(plugin)
        try:
            self._pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            self._fail(name, distribution, version, f"registration failed: {exc}")
            return False
        try:
            specs = self._declared_vendors(plugin, name)
        except PluginError as exc:
            self._pm.unregister(plugin)
            self._fail(name, distribution, version, exc.problem)
            return False
        for spec in specs:
            self._vendors[spec.name] = spec
            self._owners[spec.name] = plugin
            self._origins[spec.name] = VendorOrigin(name, distribution, version)
        self._dists[name] = distribution
        self._hooks.clear()
        self._observers.clear()
        self._observing.clear()
        return True

    def _declared_vendors(self, plugin: object, name: str) -> list[VendorSpec]:
        others = [p for p in self._pm.get_plugins() if p is not plugin]
        caller = self._pm.subset_hook_caller("register_vendors", remove_plugins=others)
        try:
            declared = [spec for specs in caller() for spec in specs]
        except Exception as exc:
            raise InvalidVendorError(name, f"register_vendors raised {exc!r}") from exc
        for spec in declared:
            if not isinstance(spec, VendorSpec):
                raise InvalidVendorError(name, f"register_vendors returned {type(spec).__name__}")
            if spec.name in self._vendors:
                raise InvalidVendorError(name, f"vendor {spec.name!r} is already registered")
        if len({s.name for s in declared}) != len(declared):
            raise InvalidVendorError(name, "registered the same vendor name twice")
        return declared

    def _fail(self, name: str, dist: str | None, version: str | None, error: str) -> None:
        log.warning("plugin %s skipped: %s", name, error)
        self._failures.append(PluginFailure(name, dist, version, error))

    @property
    def failures(self) -> Sequence[PluginFailure]:
        return tuple(self._failures)

    @property
    def vendors(self) -> Mapping[str, VendorSpec]:
        return dict(self._vendors)

    def plugin_for(self, vendor: str) -> object:
        """The plugin object that registered ``vendor`` (to register it in another host)."""
        try:
            return self._owners[vendor]
        except KeyError:
            raise UnknownVendorError(vendor) from None

    def origin(self, vendor: str) -> VendorOrigin:
        return self._origins[vendor]

    def vendor(self, name: str) -> VendorSpec:
        try:
            return self._vendors[name]
        except KeyError:
            raise UnknownVendorError(name) from None

    @property
    def hook(self) -> Any:
        """All plugins' hooks (for observer hooks, which every plugin sees)."""
        return self._pm.hook

    def plugins_of(self, kind: type[_P]) -> tuple[_P, ...]:
        """The registered plugins that are instances of ``kind``."""
        return tuple(p for p in self._pm.get_plugins() if isinstance(p, kind))

    def observers(self, hook: str) -> tuple[tuple[str, Callable[..., Any]], ...]:
        """One pluggy caller per plugin implementing observer ``hook``, in pluggy's call order.

        Each caller dispatches through pluggy to that plugin's implementations only (its
        ``wrapper=True`` ones included), so the engine can isolate plugins from each other:
        one observer raising cannot silence the rest or reach the decision.
        """
        callers = self._observers.get(hook)
        if callers is None:
            impls = getattr(self._pm.hook, hook).get_hookimpls()
            names = list(dict.fromkeys(i.plugin_name for i in reversed(impls)))
            plugins = {n: self._pm.get_plugin(n) for n in names}
            callers = tuple(
                (n, self._pm.subset_hook_caller(hook, [p for o, p in plugins.items() if o != n]))
                for n in names
            )
            self._observers[hook] = callers
        return callers

    def observing(self, hook: str) -> Observing:
        """``observers(hook)`` and, for the plugins implementing ``observes``, a caller of
        that plugin's own ``observes`` (resolved once, like the observers: asking costs one
        pluggy call per gated plugin, no caller built per observation)."""
        found = self._observing.get(hook)
        if found is None:
            callers = self.observers(hook)
            gated = {i.plugin_name for i in self._pm.hook.observes.get_hookimpls()}
            gates = tuple(
                (n, name, self._alone("observes", name))
                for n, (name, _caller) in enumerate(callers)
                if name in gated
            )
            found = self._observing[hook] = Observing(callers, gates)
        return found

    def _alone(self, hook: str, name: str) -> Callable[..., Any]:
        """A caller of ``hook`` reaching plugin ``name``'s implementations only."""
        others = [p for p in self._pm.get_plugins() if p is not self._pm.get_plugin(name)]
        return self._pm.subset_hook_caller(hook, remove_plugins=others)

    def blame(self, vendor: str, hook: str, error: BaseException) -> tuple[str, str | None]:
        """The plugin (name, distribution) whose ``hook`` implementation raised ``error``.

        The innermost traceback frame running one of the hook's implementations decides, so a
        cross-cutting wrapper that raised is blamed and not the vendor plugin it wrapped. Core's
        own defaults, or no such frame, blame the plugin that registered ``vendor``.
        """
        codes = {}
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            function = getattr(impl.function, "__func__", impl.function)
            code = getattr(function, "__code__", None)
            if code is not None and impl.plugin_name != _DEFAULTS_NAME:
                codes[code] = impl.plugin_name
        blamed = None
        for frame, _line in traceback.walk_tb(error.__traceback__):
            blamed = codes.get(frame.f_code, blamed)
        if blamed is None:
            blamed = self._origins[vendor].plugin if vendor in self._origins else vendor
        return blamed, self._dists.get(blamed)

    def hooks_for(self, vendor: str) -> VendorHooks:
        """Hook callers that reach ``vendor``'s own plugin and the cross-cutting ones only."""
        hooks = self._hooks.get(vendor)
        if hooks is None:
            owner = self._owners.get(vendor)
            if owner is None:
                raise UnknownVendorError(vendor)
            others = [p for p in set(self._owners.values()) if p is not owner]
            hooks = VendorHooks(
                **{h: self._pm.subset_hook_caller(h, remove_plugins=others) for h in _VENDOR_HOOKS}
            )
            self._hooks[vendor] = hooks
        return hooks

    def cross_cutting(self, vendor: str) -> tuple[str, ...]:
        """The plugins, other than ``vendor``'s own and core's defaults, whose implementations
        of the vendor hooks reach ``vendor``'s calls (cross-cutting plugins), by name.

        Read-only: the engine runs a vendor's declared-light hooks on the event loop only when
        this is empty, since a cross-cutting plugin made no promise about its own work.
        """
        owner = self._owners.get(vendor)
        if owner is None:
            raise UnknownVendorError(vendor)
        hooks = self.hooks_for(vendor)
        names = {
            impl.plugin_name
            for hook in _VENDOR_HOOKS
            for impl in getattr(hooks, hook).get_hookimpls()
            if impl.plugin is not owner and impl.plugin_name != _DEFAULTS_NAME
        }
        return tuple(sorted(names))
