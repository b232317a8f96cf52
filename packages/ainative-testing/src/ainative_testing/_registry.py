"""Plugin fixtures' engine: a fresh `Plugins` with fake providers, installed process-wide."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, final

from ainative_core import Plugins, Provider, hookimpl, set_plugins

__all__ = ["PluginSandbox", "plugin_sandbox"]


@final
class _ProviderPlugin:
    def __init__(self, name: str, factory: Callable[..., Provider], models: tuple[str, ...]):
        self.name = name
        self.factory = factory
        self.models = models

    @hookimpl
    def ainative_register_providers(self, register: Any) -> None:
        register(self.name, self.factory, models=self.models)


@final
class PluginSandbox:
    """A `Plugins` with autoload off (unless asked) where tests register what they need."""

    def __init__(self, *, autoload: bool = False) -> None:
        self.plugins = Plugins(autoload=autoload)
        if not autoload:
            from ainative_core import _echo_plugin

            self.plugins.register(_echo_plugin, name="echo")

    def add_provider(
        self,
        name: str,
        provider: Provider | Callable[..., Provider],
        *,
        models: tuple[str, ...] = (),
    ) -> None:
        """Register a provider instance (returned for every request) or a factory."""
        factory: Callable[..., Provider]
        if isinstance(provider, type) or not hasattr(provider, "stream"):
            factory = provider
        else:
            instance = provider

            def factory(**_settings: Any) -> Provider:
                return instance  # type: ignore[return-value]

        self.plugins.register(_ProviderPlugin(name, factory, models), name=f"test-{name}")

    def add_plugin(self, plugin: object, name: str | None = None) -> str:
        return self.plugins.register(plugin, name=name)


@contextmanager
def plugin_sandbox(*, autoload: bool = False) -> Iterator[PluginSandbox]:
    """Install a `PluginSandbox` as the process-wide plugins for the duration of the block."""
    sandbox = PluginSandbox(autoload=autoload)
    previous = set_plugins(sandbox.plugins)
    try:
        yield sandbox
    finally:
        set_plugins(previous)
