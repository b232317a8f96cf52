"""Tools: schemas from type hints, validated arguments, sync and async handlers, registry."""

from __future__ import annotations

import threading
from typing import Literal

import pytest

from ainative_core import ToolArgumentsError, ToolExecutionError, UnknownToolError
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
