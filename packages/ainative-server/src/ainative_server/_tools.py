"""Tools the server offers: `Tool`, the `tool` decorator and `ToolRegistry`.

The decorator reads the handler's signature and type hints into a pydantic model: that gives
the JSON schema the model sees and validates the arguments of every call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any, final, get_type_hints, overload

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from ainative_core import (
    AINativeError,
    ToolArgumentsError,
    ToolExecutionError,
    ToolSpec,
    UnknownToolError,
    not_found,
)

__all__ = ["Tool", "ToolRegistry", "tool"]


def validation_message(error: ValidationError, prefix: str = "") -> str:
    """``"params.message: Field required; ..."``: each problem with its field path."""
    parts = []
    for item in error.errors():
        loc = ".".join(str(p) for p in (*((prefix,) if prefix else ()), *item["loc"]))
        parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
    return "; ".join(parts)


@final
class Tool:
    """A named function the server (or a model) can call with JSON arguments.

    ``parameters`` is the JSON schema of the arguments; `call` validates them against it and
    runs the handler (a sync handler runs in a worker thread).
    """

    def __init__(
        self,
        handler: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        self.handler = handler
        self.name = name or handler.__name__
        doc = inspect.getdoc(handler) or ""
        self.description = description if description is not None else doc.split("\n\n")[0]
        self.is_async = inspect.iscoroutinefunction(handler)
        self.arguments_model = _arguments_model(handler, self.name)
        schema = self.arguments_model.model_json_schema()
        schema.pop("title", None)
        self.parameters: dict[str, Any] = schema

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    def to_dict(self) -> dict[str, Any]:
        return self.spec().model_dump()

    def validate(self, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        """Checked and converted arguments; `ToolArgumentsError` names the bad fields."""
        try:
            model = self.arguments_model.model_validate(dict(arguments or {}))
        except ValidationError as exc:
            raise ToolArgumentsError(
                f"invalid arguments for tool {self.name!r}: {validation_message(exc)}"
            ) from None
        return {k: getattr(model, k) for k in type(model).model_fields}

    async def call(self, arguments: Mapping[str, Any] | None = None) -> Any:
        """Validate ``arguments`` and run the tool; failures are `ToolError`s."""
        kwargs = self.validate(arguments)
        try:
            if self.is_async:
                return await self.handler(**kwargs)
            return await anyio.to_thread.run_sync(partial(self.handler, **kwargs))
        except AINativeError:
            raise
        except Exception as exc:
            raise ToolExecutionError(
                f"tool {self.name!r} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def __repr__(self) -> str:
        return f"<Tool {self.name}>"


def _arguments_model(handler: Callable[..., Any], name: str) -> type[BaseModel]:
    signature = inspect.signature(handler)
    hints = get_type_hints(handler)
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {name!r}: *args/**kwargs are not supported")
        annotation = hints.get(param.name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    return create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)


@overload
def tool(func: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a `Tool` of a function: ``@tool`` or ``@tool(name=..., description=...)``.

    The schema comes from the type hints; the description from the docstring's first
    paragraph unless given.
    """
    if func is not None:
        return Tool(func, name=name, description=description)

    def decorate(f: Callable[..., Any]) -> Tool:
        return Tool(f, name=name, description=description)

    return decorate


@final
class ToolRegistry:
    """Tools by name. ``register`` accepts a `Tool` or a plain function."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(
        self,
        item: Tool | Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        replace: bool = True,
    ) -> Tool:
        made = item if isinstance(item, Tool) else Tool(item, name=name, description=description)
        if replace or made.name not in self._tools:
            self._tools[made.name] = made
        return made

    def unregister(self, name: str) -> None:
        self._tools.pop(name, None)

    def get(self, name: str) -> Tool:
        found = self._tools.get(name)
        if found is None:
            raise UnknownToolError(not_found("tool", name, self._tools).message)
        return found

    async def call(self, name: str, arguments: Mapping[str, Any] | None = None) -> Any:
        return await self.get(name).call(arguments)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [self._tools[n].spec() for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter([self._tools[n] for n in self.names()])

    def __len__(self) -> int:
        return len(self._tools)
