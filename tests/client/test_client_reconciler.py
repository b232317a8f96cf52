"""AIReconciler: patch semantics, batching, flush, reconcile; AIStateManager: undo, listeners."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from ainative_client import AIReconciler, AIStateManager, AppState, Patch
from ainative_core import ConfigurationError, EventBus


def make(
    initial: dict[str, object] | None = None, *, delay: float = 0.016
) -> tuple[AIStateManager, AIReconciler, list[AppState]]:
    manager = AIStateManager(initial)
    seen: list[AppState] = []
    manager.subscribe(seen.append)
    return manager, AIReconciler(manager, batch_delay=delay), seen


def test_add_appends_to_a_list_and_sets_a_dict_key() -> None:
    manager, reconciler, _ = make()
    reconciler.apply_patch(
        Patch("add", ("messages", "-"), {"role": "user", "content": "Hi"}), batching=False
    )
    reconciler.apply_patch(Patch.of("add", "context.lang", "fr"), batching=False)
    state = manager.state
    assert [m.content for m in state.messages] == ["Hi"]
    assert state.context == {"lang": "fr"}


def test_add_inserts_at_an_index_and_negative_one_appends() -> None:
    manager, reconciler, _ = make({"items": [1, 3]})
    reconciler.apply_patch(Patch("add", ("items", 1), 2), batching=False)
    reconciler.apply_patch(Patch("add", ("items", -1), 4), batching=False)
    assert manager.get_state()["items"] == [1, 2, 3, 4]


def test_remove_replace_and_merge() -> None:
    manager, reconciler, _ = make({"items": ["a", "b", "c"], "metadata": {"x": 1}})
    reconciler.apply_patches(
        [
            Patch("remove", ("items", 0)),
            Patch.of("replace", "items.-1", "z"),
            Patch("merge", ("metadata",), {"y": 2}),
            Patch("remove", ("error",)),
        ],
        batching=False,
    )
    data = manager.get_state()
    assert data["items"] == ["b", "z"]
    assert data["metadata"] == {"x": 1, "y": 2}
    assert "error" not in data


def test_merge_into_a_non_dict_is_refused() -> None:
    _, reconciler, _ = make({"items": []})
    with pytest.raises(ConfigurationError):
        reconciler.apply_patch(Patch("merge", ("items",), {"a": 1}), batching=False)


def test_path_from_a_dotted_string() -> None:
    assert Patch.of("replace", "messages.-1.content", "x").path == ("messages", -1, "content")


def test_batched_patches_wait_for_flush_and_commit_once() -> None:
    manager, reconciler, seen = make(delay=60.0)
    for i in range(5):
        reconciler.apply_patch(Patch("add", ("messages", "-"), {"role": "user", "content": str(i)}))
    assert reconciler.pending == 5
    assert seen == []
    assert manager.state.messages == []
    reconciler.flush()
    assert reconciler.pending == 0
    assert len(seen) == 1
    assert [m.content for m in seen[0].messages] == ["0", "1", "2", "3", "4"]
    assert reconciler.flush() is None


def test_unbatched_patch_applies_pending_ones_first() -> None:
    manager, reconciler, seen = make(delay=60.0)
    reconciler.apply_patch(Patch("replace", ("error",), "first"))
    reconciler.apply_patch(Patch("replace", ("streaming",), True), batching=False)
    assert len(seen) == 1
    assert manager.state.error == "first"
    assert manager.state.streaming is True


def test_a_patch_after_the_delay_flushes_the_batch() -> None:
    manager, reconciler, seen = make(delay=0.0)
    reconciler.apply_patch(Patch("replace", ("error",), "a"))
    assert manager.state.error == "a"
    assert len(seen) == 1


@pytest.mark.anyio
async def test_autoflush_applies_a_due_batch_without_more_patches(
    wait_until: Callable[[Callable[[], bool]], Awaitable[None]],
) -> None:
    manager, reconciler, seen = make(delay=0.01)
    async with anyio.create_task_group() as tg:
        tg.start_soon(reconciler.autoflush)
        reconciler.apply_patch(Patch("replace", ("error",), "late"))
        reconciler.apply_patch(Patch("replace", ("error",), "later"))
        await wait_until(lambda: reconciler.pending == 0)
        tg.cancel_scope.cancel()
    assert manager.state.error == "later"
    assert len(seen) == 1


def test_reconcile_brings_state_to_target_in_one_commit() -> None:
    manager, reconciler, seen = make({"extra": 1})
    target = manager.get_state()
    del target["extra"]
    target["streaming"] = True
    target["new"] = [1]
    patches = reconciler.reconcile(target)
    assert {(p.op, p.path) for p in patches} == {
        ("remove", ("extra",)),
        ("replace", ("streaming",)),
        ("add", ("new",)),
    }
    assert manager.get_state() == target
    assert len(seen) == 1


def test_undo_and_redo_walk_the_history() -> None:
    manager, reconciler, _ = make()
    reconciler.apply_patch(Patch.of("replace", "error", "one"), batching=False)
    reconciler.apply_patch(Patch.of("replace", "error", "two"), batching=False)
    assert manager.undo()
    assert manager.get_state()["error"] == "one"
    assert manager.undo()
    assert manager.get_state()["error"] is None
    assert not manager.undo()
    assert manager.redo()
    assert manager.get_state()["error"] == "one"
    reconciler.apply_patch(Patch.of("replace", "error", "three"), batching=False)
    assert not manager.can_redo


def test_one_batch_is_one_undo_step() -> None:
    manager, reconciler, _ = make(delay=60.0)
    for token in ["a", "b", "c"]:
        reconciler.apply_patch(Patch("add", ("messages", "-"), {"role": "user", "content": token}))
    reconciler.flush()
    assert len(manager.state.messages) == 3
    manager.undo()
    assert manager.state.messages == []


def test_history_is_bounded() -> None:
    manager = AIStateManager(history_limit=3)
    for i in range(10):
        manager.set_state({"error": str(i)})
    steps = 0
    while manager.undo():
        steps += 1
    assert steps == 3
    assert manager.state.error == "6"


def test_state_changes_are_emitted_on_the_bus_and_listeners_can_unsubscribe() -> None:
    bus = EventBus()
    manager = AIStateManager({"custom": "kept"}, event_bus=bus)
    seen: list[AppState] = []
    unsubscribe = manager.subscribe(seen.append)
    manager.set_state({"streaming": True})
    unsubscribe()
    manager.set_state({"streaming": False})
    assert len(seen) == 1
    changes = [e for e in bus.history if e.type == "state-change"]
    assert len(changes) == 2
    assert changes[0].payload["state"].streaming is True
    assert manager.state.model_extra == {"custom": "kept"}


def test_a_failing_listener_does_not_stop_the_others() -> None:
    manager = AIStateManager()
    seen: list[AppState] = []

    def broken(_: AppState) -> None:
        raise RuntimeError("boom")

    manager.subscribe(broken)
    manager.subscribe(seen.append)
    manager.set_state({"error": "x"})
    assert len(seen) == 1


def test_bus_given_to_the_reconciler_announces_commits_like_the_seed() -> None:
    bus = EventBus()
    changes: list[int] = []
    bus.on("state-change", lambda e: changes.append(e.payload["version"]))
    reconciler = AIReconciler(AIStateManager(), bus, batch_delay=60.0)
    reconciler.apply_patch(Patch("replace", ("context",), {"topic": "x"}))
    reconciler.apply_patch(Patch("merge", ("context",), {"lang": "en"}))
    assert changes == []
    reconciler.flush()
    assert len(changes) == 1
    assert reconciler.state_manager.state.context == {"topic": "x", "lang": "en"}
