"""LiteLLM's proxy as an optional peer: installed by the runner in a virtualenv of its own.

The virtualenv lives in a cache folder outside the repository (``$AINATIVE_BENCH_CACHE``, else
``$XDG_CACHE_HOME/ainative-benchmarks``, else ``~/.cache/ainative-benchmarks``) and is made
once with ``uv venv`` + ``uv pip install``. The version is pinned, and so is the date its
dependencies are resolved at (``--exclude-newer``): the proxy holds vendor keys, and some of
its releases on the package index were once tampered with. ``LITELLM_LOCAL_MODEL_COST_MAP``
keeps it off the network. When it cannot be installed the figures go on without it and say
why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

__all__ = ["LITELLM_VERSION", "config_text", "environment", "install_litellm"]

LITELLM_VERSION: Final = "1.81.16"
_RESOLVED_AT: Final = "2026-03-01T00:00:00Z"
_INSTALL_TIMEOUT: Final = 900.0


def _cache() -> Path:
    explicit = os.environ.get("AINATIVE_BENCH_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ainative-benchmarks"


def install_litellm(log: object = None) -> tuple[Path | None, str]:
    """``(path of the litellm command, "")`` once installed, or ``(None, why not)``."""
    uv = shutil.which("uv")
    venv = _cache() / f"litellm-{LITELLM_VERSION}"
    command = venv / "bin" / "litellm"
    if command.exists():
        return command, ""
    if uv is None:
        return None, "uv is not on PATH, so its virtualenv cannot be made"
    if callable(log):
        log(f"installing litellm[proxy]=={LITELLM_VERSION} into {venv} …")
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [uv, "venv", "--quiet", "--python", "3.11", str(venv)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv / "bin" / "python"),
                "--exclude-newer",
                _RESOLVED_AT,
                f"litellm[proxy]=={LITELLM_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=_INSTALL_TIMEOUT,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(venv, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        last = detail.decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
        return None, f"litellm[proxy]=={LITELLM_VERSION} could not be installed ({last[0]})"
    if not command.exists():
        return None, f"the install left no {command}"
    return command, ""


def config_text(upstream: str) -> str:
    """The proxy's ``config.yaml``: one model per vendor wire format, all on ``upstream``."""
    return f"""model_list:
  - model_name: bench-openai
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {upstream}/v1
      api_key: bench
  - model_name: bench-anthropic
    litellm_params:
      model: anthropic/claude-sonnet-4-6
      api_base: {upstream}
      api_key: bench
  - model_name: bench-ollama
    litellm_params:
      model: ollama_chat/llama3.2
      api_base: {upstream}
litellm_settings:
  telemetry: false
"""


def environment() -> dict[str, str]:
    """What the proxy's process gets: no network look-ups, quiet logs."""
    return {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "NO_DOCS": "True",
    }
