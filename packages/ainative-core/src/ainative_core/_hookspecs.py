"""The hooks a plugin may implement. All are synchronous and take a ``register`` callback.

Registering through a callback (rather than returning values) lets a hook gain keyword
arguments later without breaking plugins written against today's signature.
"""

from __future__ import annotations

from typing import Any

import pluggy

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("ainative")
hookimpl = pluggy.HookimplMarker("ainative")


@hookspec
def ainative_register_providers(register: Any) -> None:
    """Register LLM providers.

    ``register(name, factory, *, aliases=(), models=())``: ``factory`` is a callable or a
    ``"module:attr"`` string called with the provider's settings as keyword arguments; it is
    imported only when the provider is first used.
    """


@hookspec
def ainative_register_transports(register: Any) -> None:
    """Register transports: ``register(name, *, client=None, server=None)``.

    ``client`` and ``server`` are factories or ``"module:attr"`` strings for the two halves.
    """


@hookspec
def ainative_register_tools(register: Any) -> None:
    """Register tools the server offers: ``register(tool)``."""


@hookspec
def ainative_register_settings(register: Any) -> None:
    """Declare the ``AINATIVE_*`` environment variables the plugin reads: ``register(name)``.

    ``ainative doctor`` reports a variable that no installed plugin declared (a typo, or a
    setting of a plugin that is not installed).
    """


@hookspec
def ainative_register_commands(cli: Any) -> None:
    """Add click commands to the ``ainative`` command group ``cli``."""


@hookspec
def ainative_doctor(report: Any) -> None:
    """Add lines to ``ainative doctor``: ``report(line)`` (e.g. whether a service answers)."""
