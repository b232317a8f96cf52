"""`AINativeServer`: config, hub, actions, tools and providers, and the ASGI app built on them."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final, TypeVar, final
from urllib.parse import parse_qs

import anyio
from fastapi import APIRouter, FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from ainative_core import (
    ActionRequest,
    AINativeError,
    AuthenticationError,
    ConfigurationError,
    ForbiddenError,
    InvalidRequestError,
    Plugins,
    Provider,
    UnknownActionError,
    UnknownProviderError,
    error_from_code,
    get_logger,
    get_plugins,
    not_found,
    resolve_ref,
)

from ._access import (
    KEY_SCOPE,
    AccessMiddleware,
    Caller,
    TicketBook,
    allowed_hosts,
    key_digest,
    origin_allowed,
)
from ._access_log import AccessLogMiddleware
from ._actions import CHAT, PROMPT, Action, ActionHandler, generate_request_for
from ._builtin_tools import builtin_tools
from ._config import LOOPBACK_ORIGINS, ServerConfig
from ._encoding import Encoder, Encoding
from ._http import error_response, framework_error_response, log_unexpected
from ._hub import RunSpec, StreamHub
from ._manager import EventSink, StreamManager
from ._openapi import openapi_schema
from ._ratelimit import RateLimitMiddleware
from ._store import EventStore, StoredEvent
from ._subscription import Subscription
from ._tools import Tool, ToolRegistry
from ._transport import ServerTransport

__all__ = ["AINativeServer", "create_app", "create_router", "create_server"]

HTTPHandler = Callable[[Request], Awaitable[Response]]
F = TypeVar("F")

_logger = get_logger("ainative.server")


@final
class _Events(Encoding[StoredEvent]):
    """The logged events themselves, for a reader in this process (``/ai/action``)."""

    def __init__(self) -> None:
        super().__init__("ainative-events")

    def encoder(self, stream_id: str) -> Encoder[StoredEvent]:
        return lambda event: event


_EVENTS: Final = _Events()


@final
class AINativeServer:
    """An ainative server: ``create_server(config)`` then ``get_app()`` (or ``router()``).

    Providers come from the plugin registry (``plugins``, default `get_plugins()`), with
    ``config.providers[name]`` as their settings; routes come from every registered
    transport that has a server half (see `ServerTransport`). Tools are the server's own
    (`register_tool`) plus those plugins register.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        plugins: Plugins | None = None,
        store: EventStore | None = None,
    ) -> None:
        self.config = config or ServerConfig()
        self._plugins = plugins
        self.hub = StreamHub(self.config, store)
        self.tool_registry = ToolRegistry(timeout=self.config.tool_timeout)
        self.actions: dict[str, Action] = {CHAT.name: CHAT, PROMPT.name: PROMPT}
        self._providers: dict[str, Provider] = {}
        self._app: FastAPI | None = None
        self._plugin_tools_loaded = False
        self.tickets = TicketBook()
        """The WebSocket tickets issued by ``POST /ai/ws-ticket`` (`TicketBook`)."""

    @property
    def plugins(self) -> Plugins:
        return self._plugins if self._plugins is not None else get_plugins()

    # -- registration ----------------------------------------------------------------------

    def action(self, name: str) -> Callable[[ActionHandler], ActionHandler]:
        """Register a custom action: ``async def handler(stream, request)``."""

        def decorate(handler: ActionHandler) -> ActionHandler:
            self.actions[name] = Action(name, handler)
            return handler

        return decorate

    def register_tool(
        self,
        item: Tool | Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> Tool:
        """Offer a tool (a `Tool` or a typed function) on ``/ai/tool`` and ``/ai/tools``."""
        return self.tool_registry.register(item, name=name, description=description)

    def load_plugin_tools(self) -> None:
        """Add tools plugins register (the server's own tools of the same name win).

        The built-in ones (``get_time``, ``calculate``) only with ``config.builtin_tools``.
        """
        if self._plugin_tools_loaded:
            return
        self._plugin_tools_loaded = True
        skip = () if self.config.builtin_tools else tuple(builtin_tools())
        for plugin_tool in self.plugins.tools.values():
            if any(plugin_tool is builtin for builtin in skip):
                continue
            if isinstance(plugin_tool, Tool):
                self.tool_registry.register(plugin_tool, replace=False)
            elif callable(plugin_tool):
                self.tool_registry.register(
                    plugin_tool, name=getattr(plugin_tool, "name", None), replace=False
                )

    # -- providers and actions -------------------------------------------------------------

    @property
    def providers(self) -> Mapping[str, Provider]:
        """The installed providers by name (or alias), each created on first access with
        ``config.providers[name]`` as its settings (the seed's ``server.providers``)."""
        return _Providers(self)

    def get_provider(self, name: str | None = None) -> tuple[str, Provider]:
        """``(canonical name, provider)``; one instance per name, created on first use."""
        info = self.plugins.provider_info(name or self.config.provider)
        provider = self._providers.get(info.name)
        if provider is None:
            settings = self.config.providers.get(info.name, {})
            provider = self.plugins.get_provider(info.name, **settings)
            self._providers[info.name] = provider
        return info.name, provider

    async def load_default_provider(self) -> tuple[str, Provider]:
        """Load the default provider and get it ready now, as the app does when it starts.

        Its plugin and SDK are imported, the provider is made, and its ``warm()`` (if it has
        one, see `BaseProvider.warm`) makes its clients and checks its settings, so that the
        first request pays none of it. A default provider that cannot work raises here, with
        a one-line message: `UnknownProviderError`, or `ConfigurationError` (its plugin
        failed to import, bad settings, a missing key).
        """
        name = self.config.provider
        try:
            canonical, provider = self.get_provider(name)
            warm = getattr(provider, "warm", None)
            if callable(warm):
                await warm()
        except UnknownProviderError:
            raise
        except Exception as exc:
            why = exc.message if isinstance(exc, AINativeError) else f"{type(exc).__name__}: {exc}"
            raise ConfigurationError(f"default provider {name!r} cannot start: {why}") from exc
        return canonical, provider

    def model_tools(self, request: ActionRequest) -> dict[str, Tool]:
        """The server tools the model may call in ``request``'s stream: its ``tools``, else
        ``config.model_tools``. An unknown name is an `InvalidRequestError` listing the tools."""
        chosen = request.tools if request.tools is not None else self.config.model_tools
        registry = self.tool_registry
        if chosen is True:
            return dict(registry.tools)
        if chosen is False:
            return {}
        unknown = [name for name in chosen if name not in registry]
        if unknown:
            known = ", ".join(registry.names()) or "none"
            raise InvalidRequestError(f"tools: unknown tool {unknown[0]!r}; registered: {known}")
        return {name: registry.require(name) for name in chosen}

    def get_action(self, name: str) -> Action:
        """The action ``name``, else the fallback action (``config.fallback_action``).

        `UnknownActionError` when neither is registered (the fallback is off when None).
        """
        action = self.actions.get(name)
        fallback = self.config.fallback_action
        if action is None and fallback is not None:
            action = self.actions.get(fallback)
            if action is None:
                raise UnknownActionError(
                    f"unknown action {name!r}, and the fallback action {fallback!r} "
                    f"is not registered; registered: {', '.join(sorted(self.actions))}"
                )
        if action is None:
            raise UnknownActionError(not_found("action", name, self.actions).message)
        return action

    def _prepare(self, request: ActionRequest, caller: Caller | None = None) -> RunSpec:
        """What running ``request`` takes; its errors (unknown action, provider or model,
        invalid params) are the request's 4xx."""
        action = self.get_action(request.action)
        provider_name, provider = self.get_provider(request.provider)
        # The provider's own default (a `model` attribute, by convention) names the model in
        # the stream's metadata when neither the request nor the config chose one.
        default = getattr(provider, "model", None)
        model = (
            request.model or self.config.model or (default if isinstance(default, str) else None)
        )
        generate = generate_request_for(request, model=model, require_message=action.needs_message)
        tools = self.model_tools(request)
        max_steps = self.config.max_steps
        if request.max_steps is not None:
            if request.max_steps > max_steps:
                raise InvalidRequestError(f"max_steps: at most {max_steps} on this server")
            max_steps = request.max_steps

        def make_manager(run: Any, sink: EventSink) -> StreamManager:
            return StreamManager(
                sink,
                stream_id=run.stream_id,
                request=request,
                provider=provider,
                provider_name=provider_name,
                model=model,
                generate_request=generate,
                tools=tools,
                max_steps=max_steps,
                tool_timeout=self.tool_registry.timeout,
            )

        async def handler(manager: StreamManager) -> None:
            await action.handler(manager, request)

        return RunSpec(
            handler,
            make_manager,
            provider_name,
            model,
            request.action,
            owner=caller.key if caller is not None else None,
            client=caller.client if caller is not None else None,
        )

    def subscribe(
        self,
        encoding: Encoding[F],
        request: ActionRequest | None = None,
        *,
        stream_id: str | None = None,
        after: int = 0,
        resumable: bool = True,
        caller: Caller | None = None,
    ) -> AbstractAsyncContextManager[Subscription[F]]:
        """Follow a new run of ``request``, or the stream ``stream_id`` after event ``after``.

        What every transport and protocol uses: ``async with server.subscribe(encoding,
        request) as subscription:`` raises the request's early failure (an `AINativeError`
        with its HTTP ``status``) before anything is written, then ``async for batch in
        subscription`` gives the frames to write. See `StreamHub.subscribe`. ``caller``
        (`caller`) owns a new run and counts against its caps; a stream another key owns is
        `StreamNotFoundError` to it. Without ``caller`` nothing is owned or checked.
        """
        if request is None:
            return self.hub.subscribe(
                encoding,
                stream_id=stream_id,
                after=after,
                resumable=resumable,
                owner=caller.key if caller is not None else None,
            )
        return self._subscribe_new(encoding, request, resumable, caller)

    @asynccontextmanager
    async def _subscribe_new(
        self,
        encoding: Encoding[F],
        request: ActionRequest,
        resumable: bool,
        caller: Caller | None,
    ) -> AsyncIterator[Subscription[F]]:
        spec = self._prepare(request, caller)
        async with self.hub.subscribe(encoding, start=spec, resumable=resumable) as subscription:
            yield subscription

    async def cancel(self, stream_id: str, *, caller: Caller | None = None) -> bool:
        """Cancel a stream's producer (in whichever process of a shared store runs it);
        True if it was running. `StreamNotFoundError` if the stream is unknown or expired,
        or owned by another key than ``caller``'s."""
        return await self.hub.cancel(stream_id, owner=caller.key if caller is not None else None)

    async def run_action(
        self, request: ActionRequest, *, caller: Caller | None = None
    ) -> dict[str, Any]:
        """Run an action to the end without streaming (``POST /ai/action``).

        It is a run like any other (bounds, cancel, retention); leaving before the end (the
        client went away) cancels it.
        """
        text: list[str] = []
        done: dict[str, Any] = {}
        subscribing = self.subscribe(_EVENTS, request, resumable=False, caller=caller)
        async with subscribing as subscription:
            async for batch in subscription:
                for event in batch.frames:
                    if event.type == "token":
                        text.append(json.loads(event.json)["data"])
                    elif event.type == "error":
                        obj = json.loads(event.json)
                        raise error_from_code(obj.get("code"), str(obj.get("data")))
                    elif event.type == "done":
                        data = json.loads(event.json).get("data")
                        done = data if isinstance(data, dict) else {}
        return {
            "messages": [{"role": "assistant", "content": "".join(text)}],
            "context": request.context,
            "finish_reason": done.get("finish_reason", "stop"),
            "usage": done.get("usage"),
        }

    # -- HTTP plumbing shared by endpoints and transports ----------------------------------

    def check_auth(self, conn: HTTPConnection) -> str | None:
        """Raise `AuthenticationError` unless the request carries an accepted bearer token;
        return the key's digest (`key_digest`; None when no keys are set).

        A WebSocket handshake from a browser page must come from an allowed origin (the
        page's own, loopback or ``cors_origins``; else `ForbiddenError`, 403), and may
        authenticate with ``?ticket=`` (`issue_ticket`) since browsers cannot set headers;
        ``?access_token=<key>`` only with ``config.ws_query_token``.
        """
        websocket = conn.scope["type"] == "websocket"
        if websocket:
            origin = conn.headers.get("origin")
            if origin is not None and not origin_allowed(
                self.config, origin, conn.headers.get("host", "")
            ):
                raise ForbiddenError(
                    f"WebSocket from origin {origin[:100]!r} refused: allow it with cors_origins"
                )
        keys = self.config.api_keys
        if not keys:
            return None
        known = conn.scope.get(KEY_SCOPE)
        if isinstance(known, str):
            return known
        scheme, _, token = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            token = ""
        if not token and websocket:
            query = parse_qs(conn.scope.get("query_string", b"").decode())
            ticket = query.get("ticket", [""])[0]
            if ticket:
                digest = self.tickets.redeem(ticket)
                if digest is None:
                    raise AuthenticationError("unknown, used or expired WebSocket ticket")
                conn.scope[KEY_SCOPE] = digest
                return digest
            if self.config.ws_query_token:
                token = query.get("access_token", [""])[0]
        token = token.strip()
        if not token or not any(hmac.compare_digest(token, key) for key in keys):
            raise AuthenticationError("missing or invalid bearer token")
        digest = key_digest(token)
        conn.scope[KEY_SCOPE] = digest
        return digest

    def caller(self, conn: HTTPConnection) -> Caller:
        """Who makes the request (`check_auth` first): the owner of the runs it starts."""
        return Caller.of(conn, self.check_auth(conn))

    def issue_ticket(self, conn: HTTPConnection) -> str:
        """A single-use WebSocket ticket (``?ticket=``) for the request's key, valid for
        ``tickets.lifetime`` seconds."""
        return self.tickets.issue(self.check_auth(conn) or "")

    def endpoint(self, handler: HTTPHandler, *, auth: bool = True) -> HTTPHandler:
        """Wrap an HTTP handler: bearer auth, and `AINativeError` -> its JSON error response."""

        async def guarded(request: Request) -> Response:
            try:
                if auth:
                    self.check_auth(request)
                return await handler(request)
            except Exception as exc:
                log_unexpected(exc)
                response = error_response(exc)
                if isinstance(exc, AuthenticationError):
                    response.headers["WWW-Authenticate"] = "Bearer"
                return response

        guarded.__name__ = getattr(handler, "__name__", "endpoint")
        guarded.__doc__ = handler.__doc__
        return guarded

    # -- app -------------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """Runs the stream hub; producers are cancelled and providers closed on exit.

        On entry, before the hub starts, the default provider is loaded and warmed
        (`load_default_provider`): a misconfigured one fails the start with its error.
        """
        try:
            await self.load_default_provider()
            async with self.hub.running():
                yield
        finally:
            await self.close_providers()

    async def close_providers(self) -> None:
        """Close the providers made so far (their clients and connections) and forget them:
        the next use makes new ones. A provider that fails to close is logged."""
        with anyio.CancelScope(shield=True):
            for provider in list(self._providers.values()):
                aclose = getattr(provider, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except Exception:
                        _logger.warning("provider.close_failed", exc_info=True)
            self._providers.clear()

    def transports(self) -> dict[str, ServerTransport]:
        """Every registered transport that has a server half, instantiated."""
        found: dict[str, ServerTransport] = {}
        for name, info in sorted(self.plugins.transports.items()):
            if info.server is None:
                continue
            factory = resolve_ref(info.server)
            found[name] = factory() if callable(factory) else factory
        return found

    def router(self) -> APIRouter:
        """An `APIRouter` with every endpoint, whose lifespan runs the hub.

        ``app.include_router(server.router())`` merges that lifespan into the app's, so the
        hub starts and stops with the app.
        """
        from ._endpoints import endpoint_routes
        from ._static import static_routes

        self.load_plugin_tools()
        router = APIRouter(lifespan=self.lifespan)
        router.routes.extend(endpoint_routes(self))
        router.routes.extend(static_routes(self))
        for name, transport in self.transports().items():
            routes = list(transport.routes(self))
            _logger.debug("transport.mounted", transport=name, routes=len(routes))
            router.routes.extend(routes)
        return router

    def get_app(self) -> FastAPI:
        """The FastAPI app (built once): the router, CORS unless ``config.cors`` is off, and
        the access log (`AccessLogMiddleware`, one ``ainative.access`` line per request).

        CORS allows loopback origins on any port (a dev server on ``localhost:5173``
        reaching a local ainative) and ``config.cors_origins``; never credentials, so
        ``"*"`` there is only ever a plain ``*``: requests authenticate with a bearer token
        header, which needs none.
        """
        if self._app is None:
            app = FastAPI(title="ainative", lifespan=self.lifespan)
            app.add_exception_handler(StarletteHTTPException, framework_error_response)
            prefix = self.config.prefix
            app.openapi = lambda: openapi_schema(app, prefix)  # type: ignore[method-assign]
            app.router.routes.extend(self.router().routes)
            docs = (
                app.docs_url,
                app.redoc_url,
                app.openapi_url,
                app.swagger_ui_oauth2_redirect_url,
            )
            protected = [path for path in docs if path] if self.config.api_keys else []
            if self.config.rate_limit:  # inside CORS: a page can read its 429
                app.add_middleware(RateLimitMiddleware, server=self)
            if self.config.cors:
                app.add_middleware(
                    CORSMiddleware,
                    allow_origins=self.config.cors_origins,
                    allow_origin_regex=LOOPBACK_ORIGINS,
                    allow_credentials=False,
                    allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                    allow_headers=["*"],
                    expose_headers=[
                        "Retry-After",
                        "X-AINative-Stream-Id",
                        "x-vercel-ai-ui-message-stream",
                        "x-workflow-run-id",
                        "x-workflow-stream-tail-index",
                    ],
                )
            # Outermost: a refused Host gets no CORS answer either.
            app.add_middleware(
                AccessMiddleware,
                server=self,
                hosts=allowed_hosts(self.config),
                protected=protected,
            )
            app.add_middleware(AccessLogMiddleware, hub=self.hub)  # outermost: every request
            app.state.ainative_server = self
            self._app = app
        return self._app

    @property
    def app(self) -> FastAPI:
        """The FastAPI app, as the seed's ``server.app`` (`get_app`)."""
        return self.get_app()


class _MissingProvider(KeyError):
    """A ``KeyError`` whose message reads as the `UnknownProviderError`'s (no quoting)."""

    def __str__(self) -> str:
        return str(self.args[0])


@final
class _Providers(Mapping[str, Provider]):
    """`AINativeServer.providers`: a view of the installed providers that creates each on
    first access; a name that is not installed is a ``KeyError``."""

    __slots__ = ("_server",)

    def __init__(self, server: AINativeServer) -> None:
        self._server = server

    def __getitem__(self, name: str) -> Provider:
        try:
            return self._server.get_provider(name)[1]
        except UnknownProviderError as exc:
            raise _MissingProvider(exc.message) from None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self._server.plugins.provider_info(name)
        except UnknownProviderError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._server.plugins.provider_names())

    def __len__(self) -> int:
        return len(self._server.plugins.providers)


def create_server(
    config: ServerConfig | None = None, *, plugins: Plugins | None = None
) -> AINativeServer:
    """An `AINativeServer` (``register_tool``, ``tool_registry``, ``action``, ``get_app``)."""
    return AINativeServer(config, plugins=plugins)


def create_app(config: ServerConfig | None = None, *, plugins: Plugins | None = None) -> FastAPI:
    """A FastAPI app serving the ainative endpoints (``create_server(config).get_app()``)."""
    return AINativeServer(config, plugins=plugins).get_app()


def create_router(
    config: ServerConfig | None = None, *, plugins: Plugins | None = None
) -> APIRouter:
    """An `APIRouter` to mount in an existing app: ``app.include_router(create_router())``.

    The router carries the hub's lifespan; FastAPI merges it into the app's on include.
    """
    return AINativeServer(config, plugins=plugins).router()
