"""The library's loggers: structlog events that reach stdlib ``logging`` under ``ainative``.

ainative writes nothing itself. Its events go to the stdlib loggers ``ainative.*`` (a
`logging.NullHandler` on ``ainative``, as a library should): an application that configured
``logging`` sees them there, at the levels it chose, and ``logging.getLogger("ainative")``
silences or redirects them. An application that configured structlog gets its own
processors applied first (checked at each event, so `structlog.testing.capture_logs` works
too). The CLI configures both (``ainative --log-level ... --log-format console|json``).

An event below the level costs one check: the logger's methods return at once, as those of
structlog's filtering loggers do, instead of building the event only for the processors to
drop it.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, Final

import structlog

__all__ = ["ROOT_LOGGER", "get_logger"]

ROOT_LOGGER: Final = "ainative"
logging.getLogger(ROOT_LOGGER).addHandler(logging.NullHandler())

_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def _route(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
    """structlog's configured processors if any, else the event as ``logging`` arguments."""
    if structlog.is_configured():
        out: Any = event
        for processor in structlog.get_config()["processors"]:
            out = processor(logger, method, out)
        return out
    if not logger.isEnabledFor(_LEVELS.get(method, logging.INFO)):
        raise structlog.DropEvent
    return _as_log_kwargs(event)


def _wanted(logger: logging.Logger, method: str) -> bool:
    """Whether `_route` would pass an event of ``method``'s level on (or whether it cannot
    tell before running the processors: structlog configured without ``filter_by_level``
    first, as `structlog.testing.capture_logs` does)."""
    if structlog.is_configured():
        processors = structlog.get_config()["processors"]
        if not processors or processors[0] is not structlog.stdlib.filter_by_level:
            return True
    return logger.isEnabledFor(_LEVELS.get(method, logging.INFO))


class _BoundLogger(structlog.stdlib.BoundLogger):
    """structlog's stdlib logger whose methods are no-ops below the level.

    The stdlib ``BoundLogger`` runs the whole processor chain for every event, and here the
    level is only checked at its end, in `_route` (or by ``filter_by_level`` first in the
    CLI's chain): a filtered ``debug`` with four fields took 6 µs, and takes 2.5 now (most
    of it structlog's method dispatch and the call's own arguments).
    """

    def _proxy_to_logger(
        self, method_name: str, event: str | None = None, *event_args: str, **event_kw: Any
    ) -> Any:
        if not _wanted(self._logger, method_name):
            return None
        return super()._proxy_to_logger(method_name, event, *event_args, **event_kw)


# The attributes of a LogRecord: ``extra`` may not set them (logging raises).
_RECORD: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_CALL: Final = ("exc_info", "stack_info", "stacklevel")


def _as_log_kwargs(event: MutableMapping[str, Any]) -> dict[str, Any]:
    """``msg`` (the event, then its fields as ``key=value``) and the fields as ``extra``, for
    a handler that reads them."""
    kwargs = {key: event.pop(key) for key in _CALL if key in event}
    message = str(event.pop("event", ""))
    fields = " ".join(f"{key}={value!r}" for key, value in event.items())
    kwargs["msg"] = f"{message} {fields}" if fields else message
    kwargs["extra"] = {key: value for key, value in event.items() if key not in _RECORD}
    return kwargs


def get_logger(name: str, **initial: Any) -> Any:
    """The structlog logger ``name`` (``"ainative.server"``, say) over the stdlib logger of
    that name; ``initial`` values are bound to it."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[_route],
        wrapper_class=_BoundLogger,
        # Its processors and class are fixed here (`_route` reads the configuration at each
        # event), so the bound logger is built once, not again at each call (2 µs).
        cache_logger_on_first_use=True,
        **initial,
    )
