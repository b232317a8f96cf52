"""The model catalogue: every name a client may give as ``model``, and the provider it reaches.

Built from what provider plugins register (``register(name, factory, aliases=..., models=...)``):
each provider's name, its aliases and its models. A provider name or alias reaches that
provider with its default model; a registered model reaches the provider that registered
it, listed by its bare name unless a name listed before takes it (then as ``provider/model``).
Beyond the list, ``provider/model`` reaches any model of any provider (``ollama/qwen2.5``):
the model name is passed to the provider as it is. Providers are listed in name order, so
the catalogue is the same whatever order plugins were found in.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal, TypeAlias, final

from ._exceptions import UnknownModelError
from ._plugins import Plugins

__all__ = ["ModelEntry", "ModelKind", "model_catalogue", "resolve_model"]

ModelKind: TypeAlias = Literal["provider", "alias", "model"]


@final
@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One name a client may give: ``id`` reaches ``provider`` with ``model`` (None: the
    provider's default). ``kind`` says what registered it; ``plugin`` which plugin did."""

    id: str
    provider: str
    model: str | None
    kind: ModelKind
    plugin: str


def model_catalogue(plugins: Plugins) -> list[ModelEntry]:
    """Every listed name: provider names, their aliases, then registered models."""
    providers = plugins.providers
    entries: list[ModelEntry] = []
    taken: set[str] = set()
    for name in sorted(providers):
        info = providers[name]
        entries.append(ModelEntry(name, name, None, "provider", info.plugin))
        taken.add(name)
    for name in sorted(providers):
        info = providers[name]
        for alias in info.aliases:
            if alias in taken or plugins.provider_info(alias).name != name:
                continue  # a name, or another plugin's alias, won
            entries.append(ModelEntry(alias, name, None, "alias", info.plugin))
            taken.add(alias)
    for name in sorted(providers):
        info = providers[name]
        for model in info.models:
            if model in taken:
                owner = next(e for e in entries if e.id == model)
                if owner.provider == name and owner.kind != "model":
                    continue  # the provider's own name already reaches it ("echo")
                model_id = f"{name}/{model}"
                if model_id in taken:
                    continue
            else:
                model_id = model
            entries.append(ModelEntry(model_id, name, model, "model", info.plugin))
            taken.add(model_id)
    return entries


def resolve_model(plugins: Plugins, name: str) -> ModelEntry:
    """The provider and model ``name`` reaches; `UnknownModelError` lists the catalogue.

    In order: a listed name (provider, alias, registered model), then ``provider/model``
    with any model name after the first ``/``.
    """
    catalogue = model_catalogue(plugins)
    for entry in catalogue:
        if entry.id == name:
            return entry
    head, slash, model = name.partition("/")
    if slash and model:
        for entry in catalogue:
            if entry.id == head and entry.kind != "model":
                info = plugins.providers[entry.provider]
                return ModelEntry(name, entry.provider, model, "model", info.plugin)
    ids = [entry.id for entry in catalogue]
    message = f"unknown model {name!r}; installed: {', '.join(ids) or 'none'}"
    close = difflib.get_close_matches(name, ids, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    message += " (or name any model of a provider as 'provider/model')"
    raise UnknownModelError(message)
