"""The plugin manager: loads ``ainative`` entry points, isolates them, and keeps the registries.

Each plugin is loaded and each of its hooks is called on its own: a plugin that fails to
import or raises in a hook is recorded as broken (with its error) and everything it tried to
register in that call is dropped, while the other plugins load as usual. Environment:

- ``AINATIVE_PLUGINS=a,b`` loads only the named entry points;
- ``AINATIVE_DISABLE_PLUGIN_AUTOLOAD=1`` loads none (tests register plugins by hand).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, final

import pluggy

from . import _hookspecs
from ._exceptions import (
    NotFoundError,
    PluginError,
    UnknownProviderError,
    UnknownTransportError,
)
from ._provider import Provider

__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenPlugin",
    "PluginInfo",
    "Plugins",
    "ProviderInfo",
    "TransportInfo",
    "get_plugins",
    "not_found",
    "resolve_ref",
    "set_plugins",
]

ENTRY_POINT_GROUP: Final = "ainative"

# First-party providers that are not installed are named in "unknown provider" errors.
_KNOWN_EXTRAS: Final = {"openai": "openai", "anthropic": "anthropic", "ollama": "ollama"}


def resolve_ref(ref: Any) -> Any:
    """Import a ``"module:attr"`` string; anything else is returned as it is."""
    if not isinstance(ref, str):
        return ref
    module_name, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@final
@dataclass(frozen=True, slots=True)
class ProviderInfo:
    name: str
    factory: Any
    plugin: str
    aliases: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


@final
@dataclass(frozen=True, slots=True)
class TransportInfo:
    name: str
    plugin: str
    client: Any = None
    server: Any = None


@final
@dataclass(frozen=True, slots=True)
class BrokenPlugin:
    name: str
    error: str
    distribution: str | None = None
    version: str | None = None


@final
@dataclass(slots=True)
class PluginInfo:
    """One loaded plugin and what it registered (for ``ainative plugins``)."""

    name: str
    distribution: str | None = None
    version: str | None = None
    providers: list[str] = field(default_factory=list)
    transports: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@final
class Plugins:
    """Owns one pluggy ``PluginManager`` and the registries built from its hooks.

    ``autoload`` defaults to the environment (``AINATIVE_DISABLE_PLUGIN_AUTOLOAD``), ``allow``
    to ``AINATIVE_PLUGINS``. Registries are built on first use and rebuilt after `register`.
    """

    def __init__(self, *, autoload: bool | None = None, allow: Iterable[str] | None = None):
        self.manager = pluggy.PluginManager("ainative")
        self.manager.add_hookspecs(_hookspecs)
        if autoload is None:
            autoload = not _env_flag("AINATIVE_DISABLE_PLUGIN_AUTOLOAD")
        if allow is None and os.environ.get("AINATIVE_PLUGINS", "").strip():
            allow = [n.strip() for n in os.environ["AINATIVE_PLUGINS"].split(",") if n.strip()]
        self._autoload = autoload
        self._allow = frozenset(allow) if allow is not None else None
        self._loaded = False
        self._lock = threading.RLock()
        self._infos: dict[str, PluginInfo] = {}
        self._broken: dict[str, BrokenPlugin] = {}
        self._providers: dict[str, ProviderInfo] | None = None
        self._aliases: dict[str, str] = {}
        self._transports: dict[str, TransportInfo] | None = None
        self._tools: dict[str, Any] | None = None

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load entry points once (if autoload is on)."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            if self._autoload:
                self._load_entry_points()

    def _load_entry_points(self) -> None:
        seen: set[str] = set()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in seen or (self._allow is not None and ep.name not in self._allow):
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            dist_name = dist.name if dist is not None else None
            version = dist.version if dist is not None else None
            try:
                plugin = ep.load()
                self.manager.register(plugin, name=ep.name)
            except Exception as exc:  # isolate: one broken plugin never breaks the others
                self._broken[ep.name] = BrokenPlugin(
                    ep.name, f"{type(exc).__name__}: {exc}", dist_name, version
                )
                continue
            self._infos[ep.name] = PluginInfo(ep.name, dist_name, version)

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object or module by hand (tests, applications); returns its name."""
        self.load()
        with self._lock:
            registered = self.manager.register(plugin, name=name)
            if registered is None:
                raise PluginError(f"plugin {name or plugin!r} is blocked or already registered")
            self._infos[registered] = PluginInfo(registered)
            self._invalidate()
            return registered

    def unregister(self, name: str) -> None:
        with self._lock:
            self.manager.unregister(name=name)
            self._infos.pop(name, None)
            self._invalidate()

    def _invalidate(self) -> None:
        self._providers = None
        self._transports = None
        self._tools = None

    def _call_each(
        self,
        hook_name: str,
        make_register: Callable[[str, list[Callable[[], None]]], Callable[..., None]],
        arg_name: str = "register",
    ) -> None:
        """Call one hook plugin by plugin; a plugin's registrations count only if it succeeds."""
        hook = getattr(self.manager.hook, hook_name)
        for impl in reversed(hook.get_hookimpls()):  # registration order
            plugin_name = impl.plugin_name
            if plugin_name in self._broken:
                continue
            pending: list[Callable[[], None]] = []
            register = make_register(plugin_name, pending)
            try:
                impl.function(**{a: register for a in impl.argnames if a == arg_name})
            except Exception as exc:
                info = self._infos.pop(plugin_name, None)
                self._broken[plugin_name] = BrokenPlugin(
                    plugin_name,
                    f"{type(exc).__name__} in {hook_name}: {exc}",
                    info.distribution if info else None,
                    info.version if info else None,
                )
                continue
            for commit in pending:
                commit()

    def _info(self, plugin_name: str) -> PluginInfo:
        return self._infos.setdefault(plugin_name, PluginInfo(plugin_name))

    # -- providers -------------------------------------------------------------------------

    @property
    def providers(self) -> dict[str, ProviderInfo]:
        """Registered providers by name (aliases not included)."""
        self.load()
        with self._lock:
            if self._providers is None:
                providers: dict[str, ProviderInfo] = {}
                alias_map: dict[str, str] = {}

                def make(plugin: str, pending: list[Callable[[], None]]) -> Callable[..., None]:
                    def register(
                        name: str,
                        factory: Any,
                        *,
                        aliases: Sequence[str] = (),
                        models: Sequence[str] = (),
                        **_future: Any,
                    ) -> None:
                        info = ProviderInfo(name, factory, plugin, tuple(aliases), tuple(models))

                        def commit() -> None:
                            providers[name] = info
                            for alias in info.aliases:
                                alias_map[alias] = name
                            self._info(plugin).providers.append(name)

                        pending.append(commit)

                    return register

                for info in self._infos.values():
                    info.providers.clear()
                self._call_each("ainative_register_providers", make)
                self._providers, self._aliases = providers, alias_map
            return self._providers

    def provider_names(self) -> list[str]:
        return sorted(self.providers)

    def provider_info(self, name: str) -> ProviderInfo:
        providers = self.providers
        key = name if name in providers else self._aliases.get(name, name)
        info = providers.get(key)
        if info is None:
            raise UnknownProviderError(self._unknown("provider", name, sorted(providers)))
        return info

    def get_provider(self, name: str, **settings: Any) -> Provider:
        """Instantiate provider ``name`` (or an alias) with ``settings`` as keyword arguments."""
        info = self.provider_info(name)
        try:
            factory = resolve_ref(info.factory)
        except Exception as exc:
            raise PluginError(
                f"provider {info.name!r} from plugin {info.plugin!r} failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        provider: Provider = factory(**settings)
        return provider

    # -- transports ------------------------------------------------------------------------

    @property
    def transports(self) -> dict[str, TransportInfo]:
        """Registered transports by name; a later plugin may add the half an earlier one lacks."""
        self.load()
        with self._lock:
            if self._transports is None:
                transports: dict[str, TransportInfo] = {}

                def make(plugin: str, pending: list[Callable[[], None]]) -> Callable[..., None]:
                    def register(
                        name: str, *, client: Any = None, server: Any = None, **_future: Any
                    ) -> None:
                        def commit() -> None:
                            old = transports.get(name)
                            transports[name] = TransportInfo(
                                name,
                                plugin if old is None else f"{old.plugin}, {plugin}",
                                client if client is not None else (old.client if old else None),
                                server if server is not None else (old.server if old else None),
                            )
                            self._info(plugin).transports.append(name)

                        pending.append(commit)

                    return register

                for info in self._infos.values():
                    info.transports.clear()
                self._call_each("ainative_register_transports", make)
                self._transports = transports
            return self._transports

    def get_transport(self, name: str, side: str) -> Any:
        """The resolved ``client`` or ``server`` half of transport ``name``."""
        transports = self.transports
        info = transports.get(name)
        half = getattr(info, side, None) if info is not None else None
        if half is None:
            have = sorted(n for n, t in transports.items() if getattr(t, side) is not None)
            raise UnknownTransportError(self._unknown(f"{side} transport", name, have))
        return resolve_ref(half)

    # -- tools -----------------------------------------------------------------------------

    @property
    def tools(self) -> dict[str, Any]:
        """Tools registered by plugins, by their ``name`` attribute."""
        self.load()
        with self._lock:
            if self._tools is None:
                tools: dict[str, Any] = {}

                def make(plugin: str, pending: list[Callable[[], None]]) -> Callable[..., None]:
                    def register(tool: Any, **_future: Any) -> None:
                        tool_name = getattr(tool, "name", None)
                        if not isinstance(tool_name, str):
                            raise PluginError(f"tool {tool!r} has no string 'name'")

                        def commit() -> None:
                            tools[tool_name] = tool
                            self._info(plugin).tools.append(tool_name)

                        pending.append(commit)

                    return register

                for info in self._infos.values():
                    info.tools.clear()
                self._call_each("ainative_register_tools", make)
                self._tools = tools
            return self._tools

    # -- commands --------------------------------------------------------------------------

    def add_commands(self, cli: Any) -> None:
        """Let every plugin add its click commands to ``cli``, each in isolation."""
        self.load()
        with self._lock:
            hook = self.manager.hook.ainative_register_commands
            for impl in reversed(hook.get_hookimpls()):
                if impl.plugin_name in self._broken:
                    continue
                before = set(getattr(cli, "commands", {}))
                try:
                    impl.function(**{a: cli for a in impl.argnames if a == "cli"})
                except Exception as exc:
                    for added in set(getattr(cli, "commands", {})) - before:
                        cli.commands.pop(added, None)
                    self._broken[impl.plugin_name] = BrokenPlugin(
                        impl.plugin_name,
                        f"{type(exc).__name__} in ainative_register_commands: {exc}",
                    )
                    continue
                added = sorted(set(getattr(cli, "commands", {})) - before)
                self._info(impl.plugin_name).commands.extend(added)

    # -- reporting -------------------------------------------------------------------------

    def plugin_infos(self) -> list[PluginInfo]:
        """Every loaded plugin with what it registered (hooks are called to fill this in)."""
        _ = self.providers, self.transports, self.tools
        return sorted(self._infos.values(), key=lambda i: i.name)

    @property
    def broken(self) -> list[BrokenPlugin]:
        self.load()
        return sorted(self._broken.values(), key=lambda b: b.name)

    @staticmethod
    def _unknown(kind: str, name: str, installed: list[str]) -> str:
        message = f"unknown {kind} {name!r}; installed: {', '.join(installed) or 'none'}"
        hints = [
            f'pip install "ainative[{extra}]" for {prov}'
            for prov, extra in _KNOWN_EXTRAS.items()
            if kind == "provider" and prov not in installed
        ]
        close = difflib.get_close_matches(name, installed, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        if hints:
            message += f" ({'; '.join(hints)})"
        return message


_default: Plugins | None = None
_default_lock = threading.Lock()


def get_plugins() -> Plugins:
    """The process-wide `Plugins`, created (and entry points loaded) on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Plugins()
        return _default


def set_plugins(plugins: Plugins | None) -> Plugins | None:
    """Replace the process-wide `Plugins` (tests); returns the previous one."""
    global _default
    with _default_lock:
        previous, _default = _default, plugins
        return previous


def not_found(kind: str, name: str, installed: Iterable[str]) -> NotFoundError:
    """A `NotFoundError` whose message lists what exists (for tools, actions, streams)."""
    return NotFoundError(Plugins._unknown(kind, name, sorted(installed)))
