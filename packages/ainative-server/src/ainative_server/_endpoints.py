"""The non-streaming endpoints: ``/ai/action``, ``/ai/tool``, ``/ai/tools``, ``/ai/providers``
and ``/health``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, BaseModel, Field, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ainative_core import ActionRequest, AINativeError, AuthenticationError, __version__

from ._http import cancel_on_disconnect, error_headers, error_status, read_model

if TYPE_CHECKING:
    from ._server import AINativeServer

__all__ = ["ToolRequest", "endpoint_routes"]


class ToolRequest(BaseModel):
    """``POST /ai/tool``: ``{"tool": "calculate", "arguments": {"expression": "1+2"}}``.

    The seed's spellings are accepted: ``args`` (or ``params``) for ``arguments``, ``name``
    for ``tool``. ``context`` is handed to the tool's handler (see `Tool`); ``null`` is
    taken as ``{}``.
    """

    tool: str = Field(min_length=1, validation_alias=AliasChoices("tool", "name"))
    arguments: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("arguments", "params", "args")
    )
    context: dict[str, Any] = Field(default_factory=dict)

    @field_validator("arguments", "context", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


def endpoint_routes(server: AINativeServer) -> list[BaseRoute]:
    prefix = server.config.prefix
    limit = server.config.max_body_bytes
    depth = server.config.max_json_depth

    async def action(request: Request) -> Response:
        """Run an action to the end: ``{"messages": [{"role": "assistant", ...}], ...}``."""
        body = await read_model(request, ActionRequest, limit, max_depth=depth)
        result: dict[str, Any] = {}
        async with cancel_on_disconnect(request.receive) as scope:
            result = await server.run_action(body, caller=server.caller(request))
        if scope.cancelled_caught:
            return Response(status_code=499)  # the client went away: its run was cancelled
        return JSONResponse(result)

    async def call_tool(request: Request) -> Response:
        """Call a tool: ``{"success": true, "result": ...}`` or ``{"success": false, ...}``."""
        body = await read_model(request, ToolRequest, limit, max_depth=depth)
        try:
            result = await server.tool_registry.call(body.tool, body.arguments, body.context)
        except AINativeError as exc:  # the seed's shape for tool failures, with the status
            return JSONResponse(
                {"success": False, "error": exc.message, "code": exc.code},
                status_code=error_status(exc),
                headers=error_headers(exc),
            )
        return JSONResponse({"success": True, "result": result})

    async def list_tools(request: Request) -> Response:
        """The tools offered, with their JSON schemas."""
        return JSONResponse({"tools": [t.to_dict() for t in server.tool_registry]})

    async def list_providers(request: Request) -> Response:
        """The providers installed, with their aliases and models; ``default`` is the one a
        request that names none gets (``model``: the configured default model, if any)."""
        providers = [
            {"name": info.name, "aliases": list(info.aliases), "models": list(info.models)}
            for info in sorted(server.plugins.providers.values(), key=lambda info: info.name)
        ]
        return JSONResponse(
            {
                "default": server.config.provider,
                "model": server.config.model,
                "providers": providers,
            }
        )

    async def health(request: Request) -> Response:
        """Liveness: always open, even when API keys are set; a caller without a key is
        told only ``status`` then."""
        if server.config.api_keys:
            try:
                server.check_auth(request)
            except AuthenticationError:
                return JSONResponse({"status": "ok"})
        return JSONResponse(
            {
                "status": "ok",
                "timestamp": datetime.now(UTC).isoformat(),
                "version": __version__,
                "provider": server.config.provider,
                "active_streams": server.hub.active,
            }
        )

    return [
        Route(f"{prefix}/action", server.endpoint(action), methods=["POST"]),
        Route(f"{prefix}/tool", server.endpoint(call_tool), methods=["POST"]),
        Route(f"{prefix}/tools", server.endpoint(list_tools), methods=["GET"]),
        Route(f"{prefix}/providers", server.endpoint(list_providers), methods=["GET"]),
        Route("/health", server.endpoint(health, auth=False), methods=["GET"]),
    ]
