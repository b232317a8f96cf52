"""The plugin manager: loads ``ainative`` entry points, isolates them, and keeps the registries.

Each plugin is loaded and each of its hooks is called on its own: a plugin that fails to
import or raises in a hook is recorded as broken (with its error, distribution and version)
and everything it tried to register in that call is dropped (commands it added included),
while the other plugins load as usual. Environment:

- ``AINATIVE_PLUGINS=a,b`` loads only the named entry points;
- ``AINATIVE_DISABLE_PLUGIN_AUTOLOAD=1`` loads none (tests register plugins by hand).

Name clashes. When two plugins register the same provider name or alias, the same half
(``client`` or ``server``) of a transport, the same tool name or the same command name, one
registration is kept, whatever the order in which entry points were found. Hooks are called
plugin by plugin in a fixed order and the first plugin to register a name wins:

1. plugins registered by hand (`Plugins.register`: applications, tests), the latest first,
   so that an application overrides what is installed and what it registered before;
2. entry-point plugins, sorted by entry-point name.

A provider name also wins over another plugin's alias that spells the same, and commands
already in the CLI when `Plugins.add_commands` runs (the core's own) win over plugins'
commands. Halves of one transport from two plugins are merged, not a clash (``client``
from one plugin, ``server`` from another). Each clash is logged once as a warning
(``plugin.name_clash`` on the ``ainative.plugins`` logger, with the name, the kind, the
winner and the loser) and listed in `Plugins.clashes`, which ``ainative plugins`` shows.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import itertools
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
from ._logging import get_logger
from ._provider import Provider
from ._wheelhouse import install_command, wheelhouse_note

__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenPlugin",
    "NameClash",
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

# The owner named as the winner of a clash with a command the CLI already had.
_CLI_OWNER: Final = "ainative"

# The environment variables the plugin manager itself reads (see the module docstring).
CORE_SETTINGS: Final = ("AINATIVE_DISABLE_PLUGIN_AUTOLOAD", "AINATIVE_PLUGINS")

_log = get_logger("ainative.plugins")


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
@dataclass(frozen=True, slots=True, order=True)
class NameClash:
    """Two plugins registered one name: ``winner``'s registration is kept, ``loser``'s dropped.

    ``kind`` is ``"provider"``, ``"provider alias"``, ``"client transport"``,
    ``"server transport"``, ``"tool"`` or ``"command"``.
    """

    kind: str
    name: str
    winner: str
    loser: str


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


@final
@dataclass(slots=True)
class _Call:
    """What one plugin's hook receives, and how to keep or drop what it registered."""

    arg: Any
    commit: Callable[[], None]
    rollback: Callable[[], None]


def _deferred(
    make_register: Callable[[str, list[Callable[[], None]]], Callable[..., None]],
) -> Callable[[str], _Call]:
    """Calls of a ``register(...)`` hook: registrations wait in a list until the hook returns."""

    def begin(plugin: str) -> _Call:
        pending: list[Callable[[], None]] = []

        def commit() -> None:
            for step in pending:
                step()

        return _Call(make_register(plugin, pending), commit, pending.clear)

    return begin


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
        self._entry_points: set[str] = set()
        self._by_hand: dict[str, int] = {}
        self._sequence = itertools.count(1)
        self._clashes: dict[str, list[NameClash]] = {}
        self._logged: set[NameClash] = set()
        self._providers: dict[str, ProviderInfo] | None = None
        self._aliases: dict[str, str] = {}
        self._transports: dict[str, TransportInfo] | None = None
        self._tools: dict[str, Any] | None = None
        self._settings: dict[str, str] | None = None

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
            self._entry_points.add(ep.name)
            self._infos[ep.name] = PluginInfo(ep.name, dist_name, version)

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object or module by hand (tests, applications); returns its name.

        Its registrations win over those of entry-point plugins and of plugins registered by
        hand before it.
        """
        self.load()
        with self._lock:
            registered = self.manager.register(plugin, name=name)
            if registered is None:
                raise PluginError(f"plugin {name or plugin!r} is blocked or already registered")
            self._by_hand[registered] = next(self._sequence)
            self._infos[registered] = PluginInfo(registered)
            self._invalidate()
            return registered

    def unregister(self, name: str) -> None:
        with self._lock:
            self.manager.unregister(name=name)
            self._infos.pop(name, None)
            self._by_hand.pop(name, None)
            self._entry_points.discard(name)
            self._invalidate()

    def _invalidate(self) -> None:
        self._providers = None
        self._transports = None
        self._tools = None
        self._settings = None

    def _precedence(self, plugin_name: str) -> tuple[int, int, str]:
        """Sort key of the hook-call order: by hand (latest first), then entry points by name.

        A plugin registered on the manager directly counts as by hand, after the others.
        """
        if plugin_name in self._entry_points:
            return (1, 0, plugin_name)
        return (0, -self._by_hand.get(plugin_name, 0), plugin_name)

    def _call_each(self, hook_name: str, arg_name: str, begin: Callable[[str], _Call]) -> None:
        """Call one hook plugin by plugin, in precedence order, isolating each plugin.

        ``begin(plugin)`` gives what the hook receives as ``arg_name`` and how to keep (the
        hook returned) or drop (it raised) what the plugin registered; a plugin that raises
        is recorded as broken and skipped by later hooks.
        """
        hook = getattr(self.manager.hook, hook_name)
        impls = {impl.plugin_name: impl for impl in hook.get_hookimpls()}
        for plugin_name in sorted(impls, key=self._precedence):
            if plugin_name in self._broken:
                continue
            impl = impls[plugin_name]
            call = begin(plugin_name)
            try:
                impl.function(**{a: call.arg for a in impl.argnames if a == arg_name})
            except Exception as exc:  # isolate: one broken plugin never breaks the others
                call.rollback()
                info = self._infos.pop(plugin_name, None)
                self._broken[plugin_name] = BrokenPlugin(
                    plugin_name,
                    f"{type(exc).__name__} in {hook_name}: {exc}",
                    info.distribution if info else None,
                    info.version if info else None,
                )
                continue
            call.commit()

    def _info(self, plugin_name: str) -> PluginInfo:
        return self._infos.setdefault(plugin_name, PluginInfo(plugin_name))

    def _clash(self, found: list[NameClash], kind: str, name: str, winner: str, loser: str) -> None:
        """Record a clash in ``found``; log it the first time this `Plugins` sees it."""
        clash = NameClash(kind, name, winner, loser)
        found.append(clash)
        if clash not in self._logged:
            self._logged.add(clash)
            _log.warning("plugin.name_clash", name=name, kind=kind, winner=winner, loser=loser)

    # -- providers -------------------------------------------------------------------------

    @property
    def providers(self) -> dict[str, ProviderInfo]:
        """Registered providers by name (aliases not included)."""
        self.load()
        with self._lock:
            if self._providers is None:
                providers: dict[str, ProviderInfo] = {}
                alias_map: dict[str, str] = {}
                found: list[NameClash] = []

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
                            kept = providers.get(name)
                            if kept is not None and kept.plugin != plugin:
                                self._clash(found, "provider", name, kept.plugin, plugin)
                                return
                            providers[name] = info
                            for alias in info.aliases:
                                owner = providers[alias_map.get(alias, name)].plugin
                                if owner != plugin:
                                    self._clash(found, "provider alias", alias, owner, plugin)
                                    continue
                                alias_map[alias] = name
                            if kept is None:
                                self._info(plugin).providers.append(name)

                        pending.append(commit)

                    return register

                for info in self._infos.values():
                    info.providers.clear()
                self._call_each("ainative_register_providers", "register", _deferred(make))
                for alias, target in alias_map.items():  # a name wins over an alias
                    shadow = providers.get(alias)
                    if shadow is not None and shadow.plugin != providers[target].plugin:
                        winner, loser = shadow.plugin, providers[target].plugin
                        self._clash(found, "provider alias", alias, winner, loser)
                self._clashes["providers"] = found
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
                owners: dict[tuple[str, str], str] = {}  # (name, side) -> plugin
                found: list[NameClash] = []

                def make(plugin: str, pending: list[Callable[[], None]]) -> Callable[..., None]:
                    def register(
                        name: str, *, client: Any = None, server: Any = None, **_future: Any
                    ) -> None:
                        def commit() -> None:
                            old = transports.get(name)
                            halves = {
                                "client": old.client if old else None,
                                "server": old.server if old else None,
                            }
                            took = False
                            for side, half in (("client", client), ("server", server)):
                                if half is None:
                                    continue
                                owner = owners.setdefault((name, side), plugin)
                                if owner != plugin:
                                    self._clash(found, f"{side} transport", name, owner, plugin)
                                    continue
                                halves[side], took = half, True
                            if old is not None and not took:
                                return
                            contributors = old.plugin.split(", ") if old else []
                            if plugin not in contributors:
                                contributors.append(plugin)
                                self._info(plugin).transports.append(name)
                            transports[name] = TransportInfo(
                                name, ", ".join(contributors), halves["client"], halves["server"]
                            )

                        pending.append(commit)

                    return register

                for info in self._infos.values():
                    info.transports.clear()
                self._call_each("ainative_register_transports", "register", _deferred(make))
                self._clashes["transports"] = found
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
                owners: dict[str, str] = {}
                found: list[NameClash] = []

                def make(plugin: str, pending: list[Callable[[], None]]) -> Callable[..., None]:
                    def register(tool: Any, **_future: Any) -> None:
                        tool_name = getattr(tool, "name", None)
                        if not isinstance(tool_name, str):
                            raise PluginError(f"tool {tool!r} has no string 'name'")

                        def commit() -> None:
                            owner = owners.setdefault(tool_name, plugin)
                            if owner != plugin:
                                self._clash(found, "tool", tool_name, owner, plugin)
                                return
                            if tool_name not in tools:
                                self._info(plugin).tools.append(tool_name)
                            tools[tool_name] = tool

                        pending.append(commit)

                    return register

                for info in self._infos.values():
                    info.tools.clear()
                self._call_each("ainative_register_tools", "register", _deferred(make))
                self._clashes["tools"] = found
                self._tools = tools
            return self._tools

    # -- settings --------------------------------------------------------------------------

    @property
    def settings(self) -> dict[str, str]:
        """Environment variables the plugins declared they read, each with the first plugin
        that declared it; the plugin manager's own are ``ainative-core``'s."""
        self.load()
        with self._lock:
            if self._settings is None:
                settings = dict.fromkeys(CORE_SETTINGS, "ainative-core")

                def make(plugin: str, pending: list[Callable[[], None]]) -> Callable[..., None]:
                    def register(name: str, **_future: Any) -> None:
                        if not name:
                            raise PluginError(f"setting {name!r} is not a variable name")

                        def commit() -> None:
                            settings.setdefault(name, plugin)

                        pending.append(commit)

                    return register

                self._call_each("ainative_register_settings", "register", _deferred(make))
                self._settings = settings
            return self._settings

    # -- commands --------------------------------------------------------------------------

    def add_commands(self, cli: Any) -> None:
        """Let every plugin add its click commands to the group ``cli``, each in isolation.

        A command whose name ``cli`` already has, or that a plugin earlier in precedence
        added, is put back as it was and reported as a clash.
        """
        self.load()
        with self._lock:
            commands: dict[str, Any] = cli.commands
            owners = dict.fromkeys(commands, _CLI_OWNER)
            for info in self._infos.values():  # commands added by an earlier call
                owners.update((name, info.name) for name in info.commands if name in owners)
            found: list[NameClash] = []

            def begin(plugin: str) -> _Call:
                before = dict(commands)

                def rollback() -> None:
                    commands.clear()
                    commands.update(before)

                def commit() -> None:
                    for name, command in list(commands.items()):
                        old = before.get(name)
                        if old is command:
                            continue
                        owner = owners.setdefault(name, plugin) if old is None else owners[name]
                        if owner != plugin:
                            commands[name] = old
                            self._clash(found, "command", name, owner, plugin)
                        elif name not in self._info(plugin).commands:
                            self._info(plugin).commands.append(name)

                return _Call(cli, commit, rollback)

            self._call_each("ainative_register_commands", "cli", begin)
            self._clashes.setdefault("commands", []).extend(found)

    # -- reporting -------------------------------------------------------------------------

    def doctor_lines(self) -> list[str]:
        """The lines plugins add to ``ainative doctor`` (a plugin that raises is broken)."""
        self.load()
        with self._lock:
            lines: list[str] = []

            def begin(plugin: str) -> _Call:
                mine: list[str] = []
                return _Call(
                    lambda line: mine.append(str(line)), lambda: lines.extend(mine), mine.clear
                )

            self._call_each("ainative_doctor", "report", begin)
            return lines

    def plugin_infos(self) -> list[PluginInfo]:
        """Every loaded plugin with what it registered (hooks are called to fill this in)."""
        _ = self.providers, self.transports, self.tools
        return sorted(self._infos.values(), key=lambda i: i.name)

    @property
    def broken(self) -> list[BrokenPlugin]:
        self.load()
        return sorted(self._broken.values(), key=lambda b: b.name)

    @property
    def clashes(self) -> list[NameClash]:
        """Every name two plugins registered, with the plugin kept (hooks are called first)."""
        _ = self.providers, self.transports, self.tools
        with self._lock:
            return sorted(c for found in self._clashes.values() for c in found)

    @staticmethod
    def _unknown(kind: str, name: str, installed: list[str]) -> str:
        message = f"unknown {kind} {name!r}; installed: {', '.join(installed) or 'none'}"
        hints = [
            f"{install_command(f'ainative[{extra}]', note=False)} for {prov}"
            for prov, extra in _KNOWN_EXTRAS.items()
            if kind == "provider" and prov not in installed
        ]
        close = difflib.get_close_matches(name, installed, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        if hints:
            note = wheelhouse_note()
            message += f" ({'; '.join(hints)}{'; ' + note if note else ''})"
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
