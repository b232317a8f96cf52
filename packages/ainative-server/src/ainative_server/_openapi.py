"""The OpenAPI schema of the app: FastAPI's, plus the ainative routes themselves.

The transports' routes are plain Starlette routes (they stream, and parse their own bodies
with clear errors), which FastAPI leaves out of ``/openapi.json``. Each is described here
from its endpoint's docstring, its methods and path parameters; the request bodies the
ainative protocol defines (`ActionRequest`) carry their schema. WebSocket routes are listed
under ``x-websockets`` (OpenAPI has no WebSocket operation).
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import Route, WebSocketRoute

from ainative_core import ActionRequest

__all__ = ["openapi_schema"]

_ACTION_BODIES: Final = frozenset({"/stream", "/action"})
_PARAM: Final = re.compile(r"{(\w+)(?::\w+)?}")
_ERROR: Final = {
    "description": 'An error: `{"error": {"code", "message", "retryable"}}`',
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_OPENAI_ERROR: Final = {
    "description": 'An error in OpenAI\'s shape: `{"error": {"message", "type", "param", "code"}}`',
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}},
}


def openapi_schema(app: FastAPI, prefix: str) -> dict[str, Any]:
    """The schema ``/openapi.json`` serves (built once, then cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ActionRequest"] = ActionRequest.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    components.update(components["ActionRequest"].pop("$defs", {}))
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "retryable": {"type": "boolean"},
                    "retry_after": {"type": "number"},
                },
                "required": ["code", "message", "retryable"],
            }
        },
    }
    nullable_string = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    components["OpenAIError"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": nullable_string,
                    "code": nullable_string,
                },
                "required": ["message", "type"],
            }
        },
    }
    paths = schema.setdefault("paths", {})
    sockets: dict[str, Any] = {}
    docs = {app.docs_url, app.redoc_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url}
    for route in app.routes:
        if isinstance(route, APIRoute) or getattr(route, "path", None) in docs:
            continue
        path = _PARAM.sub(r"{\1}", getattr(route, "path", ""))
        if isinstance(route, WebSocketRoute):
            summary = _doc(route.endpoint)[0] or "ainative's WebSocket protocol (see the docs)"
            sockets[path] = {"summary": summary}
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                paths.setdefault(path, {})[method.lower()] = _operation(route, method, prefix)
    if sockets:
        schema["x-websockets"] = sockets
    app.openapi_schema = schema
    return schema


def _doc(endpoint: Any) -> tuple[str, str]:
    text = inspect.getdoc(endpoint) or ""
    summary, _, rest = text.partition("\n\n")
    return summary.replace("\n", " "), rest


def _operation(route: Route, method: str, prefix: str) -> dict[str, Any]:
    summary, description = _doc(route.endpoint)
    operation: dict[str, Any] = {
        "summary": summary or f"{method} {route.path}",
        "operationId": f"{route.name}_{method.lower()}_{route.path}".replace("/", "_"),
        "responses": {
            "200": {"description": "Success"},
            # The OpenAI-compatible API answers errors as OpenAI does.
            "4XX": _OPENAI_ERROR if route.path.startswith("/v1/") else _ERROR,
        },
    }
    if description:
        operation["description"] = description
    params = _PARAM.findall(route.path)
    if params:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in params
        ]
    if method == "POST":
        local = route.path.removeprefix(prefix)
        schema = (
            {"$ref": "#/components/schemas/ActionRequest"}
            if local in _ACTION_BODIES
            else {"type": "object"}
        )
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    return operation
