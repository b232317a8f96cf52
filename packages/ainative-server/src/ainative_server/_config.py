"""Server settings, read from arguments or ``AINATIVE_*`` environment variables."""

from __future__ import annotations

import difflib
from typing import Any, Final

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._gc import GC_THRESHOLD

__all__ = ["LOOPBACK_ORIGINS", "SEED_SETTINGS", "ServerConfig"]

LOOPBACK_ORIGINS: Final = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$"
"""The origins CORS allows by default: pages served from this machine, on any port."""

SEED_SETTINGS: Final[dict[str, tuple[str, ...]]] = {
    "default_provider": ("provider",),
    "openai_api_key": ("providers", "openai", "api_key"),
    "openai_model": ("providers", "openai", "model"),
    "ollama_base_url": ("providers", "ollama", "base_url"),
    "ollama_model": ("providers", "ollama", "model"),
    "register_built_in_tools": ("builtin_tools",),
}
"""The seed's ``ServerConfig`` arguments, and the setting each one sets here."""


class ServerConfig(BaseSettings):
    """Settings of an ainative server; every field can come from ``AINATIVE_<FIELD>``.

    Complex fields are JSON in the environment, e.g.
    ``AINATIVE_PROVIDERS='{"openai": {"api_key": "..."}}'`` or ``AINATIVE_API_KEYS='["k1"]'``.
    The seed's arguments are accepted too (`SEED_SETTINGS`): ``openai_api_key="sk-..."``
    sets ``providers["openai"]["api_key"]`` (a value given in ``providers`` wins), and makes
    ``openai`` the default provider unless ``provider`` (or ``default_provider``) names one,
    as the seed's default was ``openai``. Any other name is refused with a
    ``ValidationError`` that names it: a misspelt setting never passes silently.
    """

    # Inputs stay out of error messages: they hold API keys.
    # ``model_tools`` is a setting, not pydantic's: only ``settings_`` stays protected.
    model_config = SettingsConfigDict(
        env_prefix="AINATIVE_",
        extra="forbid",
        hide_input_in_errors=True,
        protected_namespaces=("settings_",),
    )

    provider: str = "echo"
    """Provider used when a request names none."""
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-provider settings, passed to the provider's factory as keyword arguments."""
    model: str | None = None
    """Model used when a request names none (None: the provider's default)."""
    cors: bool = True
    """Answer CORS for loopback origins on any port and ``cors_origins`` (False: no CORS)."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed by CORS besides loopback ones; ``"*"`` allows any (no credentials)."""
    api_keys: list[str] = Field(default_factory=list)
    """Bearer tokens accepted on ``/ai/*`` and ``/v1/*``; no authentication when empty."""
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    """Largest request body accepted (413 above)."""
    max_events: int = Field(default=200_000, ge=2)
    """Most events one stream may log; over it the stream ends with ``stream_limit_exceeded``."""
    max_bytes: int = Field(default=32 * 1_048_576, ge=64)
    """Most encoded bytes one stream may log; same outcome as ``max_events``."""
    resume_grace: float = Field(default=15.0, ge=0)
    """Seconds a stream keeps running with no follower before it is cancelled."""
    retention: float = Field(default=300.0, ge=0)
    """Seconds a finished stream stays replayable."""
    ping_interval: float = Field(default=15.0, gt=0)
    """Seconds between ``: ping`` comments on an idle SSE response."""
    coalesce: bool = True
    """Send every pending event in one write (off: one write per event; for measurement)."""
    fallback_action: str | None = "prompt"
    """Action that answers an action name nothing registered (None or empty: a 404)."""
    builtin_tools: bool = True
    """Offer the built-in tools (``get_time``, ``calculate``) on ``/ai/tool``."""
    model_tools: bool | list[str] = False
    """Server tools the model may call in a stream whose request does not say (its
    ``tools``): False (none), True (every registered tool), or their names."""
    max_steps: int = Field(default=8, ge=1, le=100)
    """Most provider calls one stream's tool loop makes (a request may ask for fewer)."""
    store: str = "memory"
    """Where stream logs live: ``memory`` (this process), or a Redis URL such as
    ``redis://127.0.0.1:6379/0`` shared by every process of a deployment (any of them then
    resumes and cancels any stream)."""
    lease_timeout: float = Field(default=3.0, gt=0)
    """With a shared store: seconds without a heartbeat from the process producing a stream
    after which another process ends it with ``producer_lost`` (detected within about
    4/3 of this)."""
    # request and work bounds
    max_json_depth: int = Field(default=64, ge=1, le=512)
    """Deepest nesting of arrays and objects in request JSON (422 above)."""
    tool_timeout: float = Field(default=10.0, gt=0)
    """Seconds a tool call may take, on ``/ai/tool`` (504 ``tool_timeout`` after it) and in a
    tool loop (the model then reads the timeout as the call's error)."""
    max_batch_bytes: int = Field(default=65_536, ge=1024)
    """Most bytes of events a follower is handed in one write (a replay is cut into writes
    of about this size, so a client that does not read holds no more than that); also what
    a WebSocket may have waiting to be written before its followers wait, and the most an
    array frame holds (plus one frame)."""
    shutdown_drain: float = Field(default=5.0, ge=0)
    """Seconds open streams may go on after ``ainative serve`` is told to stop (SIGINT,
    SIGTERM) before they are cancelled (their clients then get ``done`` / ``cancelled``);
    no new stream starts meanwhile."""
    send_timeout: float = Field(default=30.0, gt=0)
    """Seconds one write to a follower may wait for its client to read; the follower is
    then dropped, as if its client had gone away."""
    prefix: str = "/ai"
    """Path prefix of the ainative endpoints."""
    chat_page: bool = False
    """Serve the chat page at ``/`` (``ainative serve`` turns it on)."""
    openai_api: bool = True
    """Serve the OpenAI-compatible API (``/v1/chat/completions``, ``/v1/models``)."""
    host: str = "127.0.0.1"
    """Address ``ainative serve`` binds."""
    port: int = Field(default=8000, ge=0, le=65535)
    """Port ``ainative serve`` binds."""
    # access and caps
    ws_query_token: bool = False
    """Accept the API key as a WebSocket's ``?access_token=`` (it then ends up in access
    logs); off by default: browsers get a short-lived ``?ticket=`` from ``POST /ai/ws-ticket``."""
    allowed_hosts: list[str] | None = None
    """``Host`` names the app answers (any port; ``"*"``: any; 400 otherwise). None: loopback
    names only (``127.0.0.1``, ``localhost``, ``[::1]``) when ``host`` is a loopback
    address, else any."""
    max_runs: int = Field(default=1000, ge=1)
    """Most runs going at once in this server process (503 ``server_busy`` above)."""
    max_runs_per_client: int = Field(default=100, ge=1)
    """Most runs going at once for one API key, or one client address without keys (429
    ``too_many_streams`` above)."""
    max_streams_per_socket: int = Field(default=100, ge=1)
    """Most streams one WebSocket follows at once, started or resumed (429
    ``too_many_streams`` above, as a refusal frame; the socket stays open)."""
    max_followers: int = Field(default=100, ge=1)
    """Most connections following one stream in this server process (429
    ``too_many_followers`` above)."""

    max_retained_bytes: int = Field(default=256 * 1_048_576, ge=1024)
    """Most encoded bytes the logs of this process's streams (running, or finished and
    retained) hold together, with the memory store; over it finished logs no follower
    reads are dropped oldest first, and while the others fill it new streams are refused
    (503 ``server_busy``)."""
    rate_limit: float = Field(default=50.0, ge=0)
    """Requests per second one API key (one client address without keys) may make on
    average to start work: stream, action, tool and chat POSTs, WebSocket upgrades and
    resumes (429 ``rate_limited`` above; 0: no limit)."""
    rate_burst: int = Field(default=200, ge=1)
    """Such requests a client may make at once before ``rate_limit`` paces it."""
    ws_message_rate: float = Field(default=50.0, ge=0)
    """Frames per second one WebSocket may send on average (0: no limit); a frame over
    it is answered with a ``rate_limited`` error frame, and a socket that sends
    ``ws_message_burst`` more frames without waiting is closed (1008)."""
    ws_message_burst: int = Field(default=200, ge=1)
    """Frames a WebSocket may send at once before ``ws_message_rate`` paces it."""
    # HTTP server (``ainative serve``)
    max_header_bytes: int = Field(default=32_768, ge=1024)
    """Most bytes of a request line and headers ``ainative serve`` buffers while they are
    incomplete; over it uvicorn answers 400, Hypercorn 431, and the connection closes."""
    header_timeout: float = Field(default=10.0, gt=0)
    """Seconds ``ainative serve`` waits for a request's headers, from the connection's
    start or its previous response (the keep-alive timeout too); then it closes the
    connection."""
    gc_threshold: int = Field(default=GC_THRESHOLD, ge=0)
    """The garbage collector's gen-0 threshold ``ainative serve`` sets once its app is
    built, after freezing the objects made at start-up (`tune_gc`); 0 keeps Python's
    settings (700, no freeze). An app served some other way is not changed."""

    @model_validator(mode="before")
    @classmethod
    def _seed_settings(cls, data: Any) -> Any:
        """Map the seed's arguments onto ours; refuse names that are neither."""
        if not isinstance(data, dict):
            return data
        unknown = sorted(k for k in data if k not in cls.model_fields and k not in SEED_SETTINGS)
        if unknown:
            known = sorted({*cls.model_fields, *SEED_SETTINGS})
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, known, n=1)
                hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ValueError(f"unknown setting {', '.join(hints)}; settings: {', '.join(known)}")
        seed = {k: data[k] for k in SEED_SETTINGS if k in data}
        if not seed:
            return data
        data = {k: v for k, v in data.items() if k not in SEED_SETTINGS}
        if "openai_api_key" in seed and "provider" not in data:
            data["provider"] = "openai"  # the seed's default provider
        providers = {name: dict(values) for name, values in (data.get("providers") or {}).items()}
        for name, value in seed.items():
            target = SEED_SETTINGS[name]
            if target[0] == "providers":
                providers.setdefault(target[1], {}).setdefault(target[2], value)
            else:
                data[target[0]] = value
        if providers:
            data["providers"] = providers
        return data

    @field_validator("fallback_action")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None
