"""Tools the server offers: `Tool`, the `tool` decorator and `ToolRegistry`.

A tool is described one of two ways. A typed function (``@tool``): its signature and type
hints become a pydantic model, which gives the JSON schema the model sees and validates
(and converts) the arguments, passed as keyword arguments. Or, as the seed writes it, a JSON
schema (``Tool(name=..., description=..., parameters={...}, handler=...)``): the arguments
are validated against the schema with ``jsonschema`` (pydantic makes schemas from types, it
cannot validate against a schema) and the handler is called as ``handler(args, context)``.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, final, get_type_hints, overload

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from ainative_core import (
    AINativeError,
    ConfigurationError,
    ToolArgumentsError,
    ToolExecutionError,
    ToolSpec,
    ToolTimeout,
    UnknownToolError,
    not_found,
)

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

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

    Without ``parameters``, the handler's signature is the schema (see the module) and it
    is called with the arguments as keyword arguments. With ``parameters`` (a JSON schema
    of the arguments object), the arguments are checked against it and the handler is
    called as ``handler(args, context)`` (or ``handler(args)`` if it takes one argument),
    ``context`` being the caller's (``POST /ai/tool``'s ``context``). `call` raises
    `ToolArgumentsError` for invalid arguments; a sync handler runs in a worker thread.
    """

    def __init__(
        self,
        handler: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        self.handler = handler
        self.name = name or handler.__name__
        doc = inspect.getdoc(handler) or ""
        self.description = description if description is not None else doc.split("\n\n")[0]
        self.is_async = inspect.iscoroutinefunction(handler)
        self.arguments_model: type[BaseModel] | None = None
        """The pydantic model of a typed tool's arguments (None for a JSON-schema tool)."""
        self._schema_validator: Validator | None = None
        self._takes_context = False
        if parameters is None:
            self.arguments_model = _arguments_model(handler, self.name)
            schema = self.arguments_model.model_json_schema()
            schema.pop("title", None)
        else:
            schema = dict(parameters)
            self._schema_validator = _schema_validator(schema, self.name)
            self._takes_context = _positional_count(handler) >= 2
        self.parameters: dict[str, Any] = schema

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    def to_dict(self) -> dict[str, Any]:
        return self.spec().model_dump()

    def validate(self, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        """Checked (and, for typed tools, converted) arguments; `ToolArgumentsError` names
        the bad fields."""
        given = dict(arguments or {})
        if self._schema_validator is not None:
            problems = [
                (".".join(str(p) for p in error.absolute_path), error.message)
                for error in self._schema_validator.iter_errors(given)
            ]
            if problems:
                text = "; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in sorted(problems))
                raise ToolArgumentsError(f"invalid arguments for tool {self.name!r}: {text}")
            return given
        assert self.arguments_model is not None
        try:
            model = self.arguments_model.model_validate(given)
        except ValidationError as exc:
            raise ToolArgumentsError(
                f"invalid arguments for tool {self.name!r}: {validation_message(exc)}"
            ) from None
        return {k: getattr(model, k) for k in type(model).model_fields}

    async def call(
        self,
        arguments: Mapping[str, Any] | None = None,
        context: Any = None,
        *,
        time_limit: float | None = None,
    ) -> Any:
        """Validate ``arguments`` and run the tool; failures are `ToolError`s.

        ``context`` reaches handlers of JSON-schema tools that take it (typed tools are
        called with their arguments only). After ``time_limit`` seconds (None: no limit) the
        call raises `ToolTimeout`: an async handler is cancelled; a sync one, which runs in
        a worker thread so that it never blocks the event loop, is abandoned to finish
        there (its result is dropped).
        """
        checked = self.validate(arguments)
        run: Callable[[], Any]
        if self._schema_validator is None:
            run = partial(self.handler, **checked)
        elif self._takes_context:
            run = partial(self.handler, checked, context)
        else:
            run = partial(self.handler, checked)
        try:
            with anyio.fail_after(time_limit):
                return await self._run(run)
        except TimeoutError:
            raise ToolTimeout(f"tool {self.name!r} took longer than {time_limit} s") from None

    async def _run(self, run: Callable[[], Any]) -> Any:
        try:
            if self.is_async:
                result: Awaitable[Any] = run()
                return await result
            return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        except AINativeError:
            raise
        except Exception as exc:  # a handler's own TimeoutError too: it is not ours
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


def _schema_validator(schema: dict[str, Any], name: str) -> Validator:
    """A validator for ``schema`` (its ``$schema`` draft, else the latest one)."""
    from jsonschema import SchemaError  # imported on first use: it takes a while
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise ConfigurationError(
            f"tool {name!r}: parameters is not a valid JSON schema: {exc.message}"
        ) from None
    validator: Validator = cls(schema)
    return validator


def _positional_count(handler: Callable[..., Any]) -> int:
    """How many positional arguments ``handler`` takes (2 for ``*args``)."""
    count = 0
    for param in inspect.signature(handler).parameters.values():
        if param.kind == param.VAR_POSITIONAL:
            return 2
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


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
    """Tools by name. ``register`` accepts a `Tool` or a plain function.

    The seed's API is here too: `get` (None when missing), `list`, `tools`, `get_schema`
    and `execute`, which answers ``{"success": True, "result": ...}`` or ``{"success":
    False, "error": ...}`` instead of raising. ``timeout`` bounds every call made through
    the registry (`ToolTimeout` after it; None: no limit).
    """

    def __init__(self, *, timeout: float | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self.timeout = timeout

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

    def get(self, name: str) -> Tool | None:
        """The tool ``name``, or None."""
        return self._tools.get(name)

    def require(self, name: str) -> Tool:
        """The tool ``name``; `UnknownToolError` (listing the tools) if there is none."""
        found = self._tools.get(name)
        if found is None:
            raise UnknownToolError(not_found("tool", name, self._tools).message)
        return found

    async def call(
        self, name: str, arguments: Mapping[str, Any] | None = None, context: Any = None
    ) -> Any:
        """Run the tool ``name``; raises `UnknownToolError` or the tool's `ToolError`
        (`ToolTimeout` after the registry's ``timeout``)."""
        return await self.require(name).call(arguments, context, time_limit=self.timeout)

    async def execute(
        self, tool_name: str, args: Mapping[str, Any] | None = None, context: Any = None
    ) -> dict[str, Any]:
        """Run a tool the seed's way: ``{"success": True, "result": ...}``, or ``{"success":
        False, "error": "<message>", "code": "<error code>"}`` for any ainative error."""
        try:
            result = await self.call(tool_name, args, context)
        except AINativeError as exc:
            return {"success": False, "error": exc.message, "code": exc.code}
        return {"success": True, "result": result}

    @property
    def tools(self) -> Mapping[str, Tool]:
        """Every tool by name (read-only; `register` and `unregister` change it)."""
        return MappingProxyType(self._tools)

    def list(self) -> builtins.list[Tool]:
        """Every tool, by name."""
        return [self._tools[n] for n in self.names()]

    def get_schema(self) -> builtins.list[dict[str, Any]]:
        """``[{"name", "description", "parameters"}, ...]``, what ``GET /ai/tools`` lists."""
        return [t.to_dict() for t in self.list()]

    def names(self) -> builtins.list[str]:
        return sorted(self._tools)

    def specs(self) -> builtins.list[ToolSpec]:
        return [self._tools[n].spec() for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._tools)
