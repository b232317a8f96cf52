"""Plugin module of ainative-openai: registers its pieces through the ainative hooks."""

from __future__ import annotations

from typing import Any

from ainative_core import hookimpl


@hookimpl
def ainative_register_providers(register: Any) -> None:
    # A "module:attr" string: the SDK is imported only when the provider is first used.
    register(
        "openai",
        "ainative_openai._provider:OpenAIProvider",
        aliases=("openai-compatible",),
        models=("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o4-mini"),
    )
