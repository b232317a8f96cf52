"""Built-in plugin registering the echo provider, through the same hook as any other."""

from __future__ import annotations

from typing import Any

from ._hookspecs import hookimpl


@hookimpl
def ainative_register_providers(register: Any) -> None:
    register("echo", "ainative_core._echo:EchoProvider", models=("echo",))
