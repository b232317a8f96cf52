"""The browser client and the chat page: ``{prefix}/client.js`` (with its types,
``{prefix}/client.d.ts``) and, when ``chat_page`` is on, a chat page at ``/``.

The client is one ES module built from ``packages/ainative-js`` and shipped in this
package's ``static/`` folder, so a page imports it with no build step: ``import {
AINativeClient } from "/ai/client.js"``. Its URL is stable across versions, so it is served
with ``Cache-Control: no-cache`` and a content hash as ``ETag``: browsers keep it and
revalidate it with a ``304``. Neither needs the API key (a page cannot send one when it
imports a module); the endpoints they call do.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from ._server import AINativeServer

__all__ = ["static_routes"]

_ASSETS: Final = {
    "client.js": "text/javascript; charset=utf-8",
    "client.d.ts": "application/typescript; charset=utf-8",
}
_PREFIX_MARK: Final = "{{prefix}}"


@cache
def _asset(name: str) -> bytes:
    return files(__package__).joinpath("static", name).read_bytes()


def _etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def _serve(request: Request, body: bytes, media_type: str) -> Response:
    """``body`` with a content-hash ``ETag``; a ``304`` when the client has it already."""
    etag = _etag(body)
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def static_routes(server: AINativeServer) -> list[BaseRoute]:
    """The client's routes, and the chat page's when ``server.config.chat_page`` is on."""
    prefix = server.config.prefix
    routes: list[BaseRoute] = []

    for name, media_type in _ASSETS.items():

        async def asset(
            request: Request, name: str = name, media_type: str = media_type
        ) -> Response:
            return _serve(request, _asset(name), media_type)

        routes.append(Route(f"{prefix}/{name}", asset, methods=["GET", "HEAD"]))

    if server.config.chat_page:
        page = _asset("chat.html").decode().replace(_PREFIX_MARK, prefix).encode()

        async def chat_page(request: Request) -> Response:
            """The chat page: the browser client talking to this server."""
            response = _serve(request, page, "text/html; charset=utf-8")
            response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
            response.headers["Referrer-Policy"] = "no-referrer"
            return response

        routes.append(Route("/", chat_page, methods=["GET", "HEAD"]))
    return routes
