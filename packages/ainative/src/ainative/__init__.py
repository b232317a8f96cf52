"""ainative: token-by-token LLM streaming for Python.

The everyday names of every distribution in one place. Plugin authors and advanced users
import from the distribution modules (``ainative_core``, ...) directly.
"""

from __future__ import annotations

from ainative_core import ActionRequest as ActionRequest
from ainative_core import AINativeError as AINativeError
from ainative_core import BaseProvider as BaseProvider
from ainative_core import BusEvent as BusEvent
from ainative_core import Completion as Completion
from ainative_core import EchoProvider as EchoProvider
from ainative_core import EventBus as EventBus
from ainative_core import GenerateRequest as GenerateRequest
from ainative_core import Message as Message
from ainative_core import Provider as Provider
from ainative_core import StreamEvent as StreamEvent
from ainative_core import StreamingError as StreamingError
from ainative_core import Usage as Usage
from ainative_core import __version__ as __version__
from ainative_core import get_plugins as get_plugins
from ainative_core import hookimpl as hookimpl

__all__ = [
    "AINativeError",
    "ActionRequest",
    "BaseProvider",
    "BusEvent",
    "Completion",
    "EchoProvider",
    "EventBus",
    "GenerateRequest",
    "Message",
    "Provider",
    "StreamEvent",
    "StreamingError",
    "Usage",
    "__version__",
    "get_plugins",
    "hookimpl",
]
