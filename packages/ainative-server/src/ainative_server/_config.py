"""Server settings, read from arguments or ``AINATIVE_*`` environment variables."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServerConfig"]


class ServerConfig(BaseSettings):
    """Settings of an ainative server; every field can come from ``AINATIVE_<FIELD>``.

    Complex fields are JSON in the environment, e.g.
    ``AINATIVE_PROVIDERS='{"openai": {"api_key": "..."}}'`` or ``AINATIVE_API_KEYS='["k1"]'``.
    """

    model_config = SettingsConfigDict(env_prefix="AINATIVE_", extra="ignore")

    provider: str = "echo"
    """Provider used when a request names none."""
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-provider settings, passed to the provider's factory as keyword arguments."""
    model: str | None = None
    """Model used when a request names none (None: the provider's default)."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed by CORS; CORS is off when empty."""
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
    prefix: str = "/ai"
    """Path prefix of the ainative endpoints."""
    openai_api: bool = True
    """Serve the OpenAI-compatible API (``/v1/chat/completions``, ``/v1/models``)."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
