"""Tools: schemas from type hints, validated arguments, sync and async handlers, registry."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, Literal

import pytest

from ainative_core import (
    ConfigurationError,
    ToolArgumentsError,
    ToolExecutionError,
    UnknownToolError,
)
from ainative_server import Tool, ToolRegistry, tool

pytestmark = pytest.mark.anyio


@tool
def add(a: int, b: int = 2) -> int:
    """Add two integers.

    More detail that is not part of the description.
    """
    return a + b


@tool(name="shout", description="Upper-case a word.")
async def shout_word(word: str, style: Literal["plain", "bang"] = "plain") -> str:
    return word.upper() + ("!" if style == "bang" else "")


def test_schema_and_description_come_from_the_signature() -> None:
    assert add.name == "add"
    assert add.description == "Add two integers."
    assert add.parameters["properties"] == {
        "a": {"type": "integer", "title": "A"},
        "b": {"type": "integer", "title": "B", "default": 2},
    }
    assert add.parameters["required"] == ["a"]
    assert shout_word.name == "shout"
    assert shout_word.description == "Upper-case a word."
    assert shout_word.parameters["properties"]["style"]["enum"] == ["plain", "bang"]
    assert shout_word.spec().name == "shout"


async def test_sync_tools_run_in_a_worker_thread_and_async_ones_in_the_loop() -> None:
    seen: list[bool] = []

    def where() -> bool:
        seen.append(threading.current_thread() is threading.main_thread())
        return True

    assert await Tool(where).call({}) is True
    assert seen == [False]
    assert await add.call({"a": 1}) == 3
    assert await add.call({"a": "4", "b": 5}) == 9  # lax conversion of "4"
    assert await shout_word.call({"word": "hi", "style": "bang"}) == "HI!"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "a: Field required"),
        ({"a": "x"}, "a: Input should be a valid integer"),
        ({"a": 1, "c": 3}, "c: Extra inputs are not permitted"),
    ],
)
async def test_bad_arguments_name_the_field(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ToolArgumentsError, match=message) as info:
        await add.call(arguments)
    assert "'add'" in str(info.value)
    assert info.value.status == 422


async def test_a_failing_tool_is_a_tool_execution_error() -> None:
    @tool
    def broken() -> None:
        raise KeyError("missing")

    with pytest.raises(ToolExecutionError, match="tool 'broken' failed: KeyError"):
        await broken.call()


def test_var_args_are_refused() -> None:
    def anything(*args: int) -> None: ...

    with pytest.raises(TypeError, match=r"\*args"):
        Tool(anything)


async def test_registry_lists_calls_and_reports_unknown_names() -> None:
    registry = ToolRegistry()
    registry.register(add)
    registry.register(lambda text: text, name="same", description="Return the text.")
    assert registry.names() == ["add", "same"]
    assert [s.name for s in registry.specs()] == ["add", "same"]
    assert "add" in registry
    assert len(registry) == 2
    assert await registry.call("add", {"a": 40}) == 42
    assert registry.get("ad") is None
    with pytest.raises(UnknownToolError, match="unknown tool 'ad'; installed: add, same"):
        await registry.call("ad")
    registry.register(Tool(lambda: 0, name="add"), replace=False)
    assert await registry.call("add", {"a": 1}) == 3  # not replaced
    registry.unregister("add")
    assert registry.names() == ["same"]


# -- tools described by a JSON schema, the seed's way --------------------------------------------

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "location": {"type": "string"},
        "units": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["location"],
    "additionalProperties": False,
}


async def _weather(args: dict[str, object], context: object = None) -> dict[str, object]:
    return {"location": args["location"], "context": context}


def seed_tool(handler: Callable[..., object] = _weather, **overrides: object) -> Tool:
    settings: dict[str, Any] = {
        "name": "get_weather",
        "description": "Get weather for a location",
        "parameters": WEATHER_SCHEMA,
        "handler": handler,
        **overrides,
    }
    return Tool(**settings)


async def test_a_json_schema_tool_gets_its_arguments_and_the_context() -> None:
    weather = seed_tool()
    assert weather.parameters == WEATHER_SCHEMA
    assert weather.arguments_model is None
    assert weather.to_dict() == {
        "name": "get_weather",
        "description": "Get weather for a location",
        "parameters": WEATHER_SCHEMA,
    }
    result = await weather.call({"location": "Paris"}, {"userId": "123"})
    assert result == {"location": "Paris", "context": {"userId": "123"}}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "'location' is a required property"),
        ({"location": 3}, "location: 3 is not of type 'string'"),
        ({"location": "x", "units": "kelvin"}, "units: 'kelvin' is not one of"),
        ({"location": "x", "days": [1, "2"]}, "days.1: '2' is not of type 'integer'"),
        ({"location": "x", "extra": 1}, "Additional properties are not allowed"),
    ],
)
async def test_json_schema_arguments_are_validated(
    arguments: dict[str, object], message: str
) -> None:
    called: list[object] = []

    async def handler(args: dict[str, object], context: object = None) -> None:
        called.append(args)

    with pytest.raises(ToolArgumentsError, match=re.escape(message)) as raised:
        await seed_tool(handler).call(arguments)
    assert "'get_weather'" in str(raised.value)
    assert raised.value.status == 422
    assert called == []


async def test_seed_handlers_may_take_only_the_arguments_and_may_be_sync() -> None:
    seen: list[bool] = []

    def sync_handler(args: dict[str, object]) -> str:
        seen.append(threading.current_thread() is threading.main_thread())
        return f"sunny in {args['location']}"

    assert await seed_tool(sync_handler).call({"location": "Oslo"}, {"ignored": 1}) == (
        "sunny in Oslo"
    )
    assert seen == [False]  # a worker thread


async def test_a_seed_handler_that_raises_is_a_tool_execution_error() -> None:
    async def risky(args: dict[str, object], context: object = None) -> None:
        raise RuntimeError("Operation failed: boom")

    with pytest.raises(ToolExecutionError, match="Operation failed: boom"):
        await seed_tool(risky).call({"location": "x"})


def test_an_invalid_schema_is_refused_when_the_tool_is_made() -> None:
    with pytest.raises(ConfigurationError, match=r"'get_weather'.*not a valid JSON schema"):
        seed_tool(parameters={"type": "objekt"})


async def test_the_seed_registry_api() -> None:
    registry = ToolRegistry()
    weather = seed_tool()
    registry.register(weather)
    registry.register(add)
    assert registry.get("get_weather") is weather
    assert registry.get("nope") is None
    assert registry.list() == [add, weather]
    assert dict(registry.tools) == {"get_weather": weather, "add": add}
    with pytest.raises(TypeError):
        registry.tools["x"] = weather  # type: ignore[index]  # read-only
    assert registry.get_schema() == [add.to_dict(), weather.to_dict()]

    ok = await registry.execute("get_weather", {"location": "Rome"}, {"userId": "1"})
    assert ok == {"success": True, "result": {"location": "Rome", "context": {"userId": "1"}}}
    bad = await registry.execute("get_weather", {})
    assert bad["success"] is False
    assert "'location' is a required property" in bad["error"]
    assert bad["code"] == "tool_arguments_error"
    missing = await registry.execute("nope", {})
    assert missing == {
        "success": False,
        "error": "unknown tool 'nope'; installed: add, get_weather",
        "code": "unknown_tool",
    }
