"""Plugin module of ainative-anthropic: registers its pieces through the ainative hooks."""

from __future__ import annotations

from typing import Any

from ainative_core import hookimpl


@hookimpl
def ainative_register_providers(register: Any) -> None:
    # A "module:attr" string: the anthropic SDK is imported only when the provider is used.
    register(
        "anthropic",
        "ainative_anthropic._provider:AnthropicProvider",
        aliases=("claude",),
        models=("claude-sonnet-4-6", "claude-opus-4-7", "claude-haiku-4-5"),
    )
