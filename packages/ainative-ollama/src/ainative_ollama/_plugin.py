"""Plugin module of ainative-ollama: registers its pieces through the ainative hooks."""

from __future__ import annotations

from typing import Any

from ainative_core import hookimpl


@hookimpl
def ainative_register_providers(register: Any) -> None:
    # A "module:attr" string: httpx is imported only when the provider is used.
    register("ollama", "ainative_ollama._provider:OllamaProvider", models=("llama3.2",))
