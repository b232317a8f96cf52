"""AIStateManager: read-only snapshots shared between commits, one undo step for many changes."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from pydantic import ValidationError

from ainative_client import AIReconciler, AIStateManager, AppState, Patch
from ainative_client._frozen import FrozenDict, FrozenList, freeze, thaw
from ainative_core import EventBus, Message, ToolCall


def conversation(count: int = 3) -> dict[str, Any]:
    roles = ["user", "assistant"]
    return {"messages": [{"role": roles[i % 2], "content": f"m{i}"} for i in range(count)]}


def test_a_flush_copies_and_validates_only_what_it_changes() -> None:
    manager = AIStateManager({**conversation(), "context": {"deep": {"x": [1]}}})
    reconciler = AIReconciler(manager, batch_delay=60.0)
    data, state = manager.data, manager.state
    reconciler.apply_patch(Patch.of("replace", "messages.-1.content", "m2, longer"))
    reconciler.apply_patch(Patch.of("merge", "metadata", {"k": "v"}))
    reconciler.flush()
    new_data, new_state = manager.data, manager.state
    assert new_data["messages"] is not data["messages"]
    assert new_data["messages"][2] is not data["messages"][2]
    assert new_data["messages"][0] is data["messages"][0]  # untouched: shared
    assert new_data["context"] is data["context"]
    assert new_state.messages[0] is state.messages[0]  # not validated again
    assert new_state.messages[1] is state.messages[1]
    assert new_state.context is state.context
    assert new_state.messages[2].content == "m2, longer"
    assert new_state.metadata == {"k": "v"}
    assert state.messages[2].content == "m2"  # the state before is as it was
    assert state.metadata == {}
    assert data["messages"][2] == {"role": "user", "content": "m2"}


def test_moved_messages_are_not_validated_again() -> None:
    manager = AIStateManager(conversation())
    reconciler = AIReconciler(manager)
    state = manager.state
    reconciler.apply_patch(
        Patch("add", ("messages", 0), {"role": "system", "content": "s"}), batching=False
    )
    assert [m.content for m in manager.state.messages] == ["s", "m0", "m1", "m2"]
    assert manager.state.messages[1:] == state.messages
    assert all(a is b for a, b in zip(manager.state.messages[1:], state.messages, strict=True))
    reconciler.apply_patch(Patch("remove", ("messages", 1)), batching=False)
    assert manager.state.messages[1] is state.messages[1]


def test_a_patch_that_does_not_fit_changes_nothing() -> None:
    manager = AIStateManager(conversation())
    reconciler = AIReconciler(manager, batch_delay=60.0)
    seen: list[AppState] = []
    manager.subscribe(seen.append)
    state, version = manager.state, manager.version
    reconciler.apply_patch(Patch.of("replace", "error", "kept? no"))
    reconciler.apply_patch(Patch.of("replace", "messages.1.content", 5))
    with pytest.raises(ValidationError):
        reconciler.flush()
    with pytest.raises(ValidationError):
        manager.set_state({"streaming": "not a bool"})
    with pytest.raises(ValidationError):
        manager.set_state({"messages": {"not": "a list"}})
    assert manager.state is state
    assert manager.version == version
    assert reconciler.commits == 0
    assert seen == []
    assert not manager.can_undo


def test_snapshots_and_what_they_hold_are_read_only() -> None:
    manager = AIStateManager({"context": {"deep": {"x": [1]}}, "theme": {"dark": True}})
    manager.set_state(
        {
            "messages": [
                {"role": "assistant", "content": "hi", "tool_calls": [{"id": "1", "name": "f"}]}
            ]
        }
    )
    state = manager.state
    message = state.messages[0]
    refusals: list[tuple[type[Exception], Any]] = [
        (TypeError, lambda: state.messages.append(message)),
        (TypeError, lambda: state.messages.__setitem__(0, message)),
        (TypeError, lambda: state.context.__setitem__("k", 1)),
        (TypeError, lambda: state.context["deep"]["x"].append(2)),
        (TypeError, lambda: state.context["deep"].update(y=1)),
        (TypeError, lambda: state.metadata.clear()),
        (TypeError, lambda: state.model_extra and state.model_extra.pop("theme")),
        (TypeError, lambda: state.theme.update(dark=False)),  # type: ignore[attr-defined]
        (TypeError, lambda: message.tool_calls.clear()),
        (ValidationError, lambda: setattr(message, "content", "changed")),
        (ValidationError, lambda: setattr(message.tool_calls[0], "name", "g")),
        (ValidationError, lambda: setattr(state, "error", "changed")),
    ]
    for error, attempt in refusals:
        with pytest.raises(error):
            attempt()
    assert manager.get_state() == {
        "messages": [
            {"role": "assistant", "content": "hi", "tool_calls": [{"id": "1", "name": "f"}]}
        ],
        "context": {"deep": {"x": [1]}},
        "streaming": False,
        "error": None,
        "metadata": {},
        "theme": {"dark": True},
    }


def test_read_only_values_behave_as_plain_ones() -> None:
    manager = AIStateManager(
        {
            "messages": [
                {"role": "assistant", "content": "hi", "tool_calls": [{"id": "1", "name": "f"}]}
            ]
        }
    )
    state = manager.state
    message = Message(role="assistant", content="hi", tool_calls=[ToolCall(id="1", name="f")])
    assert state.messages == [message]
    assert message == state.messages[0]
    assert isinstance(state.messages[0], Message)
    assert repr(state.messages[0]) == repr(message)
    assert state.messages[0].model_dump() == message.model_dump()
    assert AppState.model_validate(state.model_dump()) == state
    assert json.loads(state.model_dump_json())["messages"][0]["tool_calls"][0]["name"] == "f"
    for mutable in (
        copy.copy(state.context),
        copy.deepcopy(state.context),
        pickle.loads(pickle.dumps(state.context)),
        dict(state.context),
    ):
        assert type(mutable) is dict
        mutable["k"] = 1
    copied = copy.deepcopy(state.messages)
    assert type(copied) is list
    copied.clear()
    assert len(state.messages) == 1


def test_the_callers_data_is_not_kept_and_copies_are_the_callers() -> None:
    mine = {"deep": {"x": [1]}}
    manager = AIStateManager({"context": mine})
    manager.set_state({"metadata": mine})
    mine["deep"]["x"].append(2)
    assert manager.state.context == {"deep": {"x": [1]}}
    assert manager.state.metadata == {"deep": {"x": [1]}}
    copied = manager.get_state()
    copied["context"]["deep"]["x"].append(3)
    copied["messages"].append({"role": "user", "content": "x"})
    assert manager.get_state()["context"] == {"deep": {"x": [1]}}
    assert manager.state.messages == []


def test_undo_and_redo_give_back_the_same_snapshots() -> None:
    manager = AIStateManager()
    first = manager.state
    second = manager.set_state({"error": "x"})
    assert manager.undo()
    assert manager.state is first
    assert manager.redo()
    assert manager.state is second


def test_changes_inside_one_undo_step_are_undone_together() -> None:
    manager = AIStateManager()
    reconciler = AIReconciler(manager, batch_delay=0.0)
    manager.set_state({"error": "before"})
    before = manager.state
    with manager.one_undo_step():
        manager.set_state({"streaming": True})
        with manager.one_undo_step():  # nested: still the same step
            for i in range(10):
                reconciler.apply_patch(Patch("replace", ("error",), str(i)), batching=False)
        manager.set_state({"streaming": False})
    assert manager.version == 13
    assert manager.undo()
    assert manager.state is before
    assert manager.redo()
    assert manager.state.error == "9"
    assert manager.undo()
    assert manager.undo()
    assert manager.get_state()["error"] is None
    assert not manager.undo()


def test_a_step_without_changes_records_nothing_and_undo_inside_ends_it() -> None:
    manager = AIStateManager()
    with manager.one_undo_step():
        pass
    assert not manager.can_undo
    with manager.one_undo_step():
        manager.set_state({"error": "a"})
        manager.set_state({"error": "b"})
        assert manager.undo()  # back to before the step; what follows is a new step
        assert manager.state.error is None
        manager.set_state({"error": "c"})
        manager.set_state({"error": "d"})
    assert not manager.can_redo
    assert manager.undo()
    assert manager.state.error is None
    assert not manager.undo()


def test_state_change_events_carry_the_read_only_snapshot() -> None:
    bus = EventBus()
    manager = AIStateManager(event_bus=bus)
    state = manager.set_state({"context": {"a": [1]}})
    (event,) = [e for e in bus.history if e.type == "state-change"]
    assert event.payload["state"] is state
    with pytest.raises(TypeError):
        event.payload["state"].context["a"].append(2)


def test_freeze_keeps_frozen_parts_and_thaw_copies_everything() -> None:
    shared = freeze({"a": [1, {"b": 2}]})
    assert isinstance(shared, FrozenDict)
    assert isinstance(shared["a"], FrozenList)
    assert isinstance(shared["a"][1], FrozenDict)
    mixed = freeze({"shared": shared, "new": [shared["a"]], "pair": (1, [2])})
    assert mixed["shared"] is shared
    assert mixed["new"][0] is shared["a"]
    assert mixed["pair"] == (1, [2])
    assert isinstance(mixed["pair"][1], FrozenList)
    plain = thaw(mixed)
    assert plain == {"shared": {"a": [1, {"b": 2}]}, "new": [[1, {"b": 2}]], "pair": (1, [2])}
    assert type(plain["shared"]) is dict
    assert type(plain["shared"]["a"][1]) is dict
    assert type(plain["pair"][1]) is list
