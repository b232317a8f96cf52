"""map_transport_errors: no httpx or httpx-ws exception escapes the client."""

from __future__ import annotations

import httpx
import httpx_ws
import pytest

from ainative_client import map_transport_errors
from ainative_client._errors import error_message_from_body
from ainative_core import (
    AINativeError,
    ConnectError,
    HTTPStatusError,
    ProtocolError,
    StreamInterrupted,
    TransportError,
)

_REQUEST = httpx.Request("GET", "http://127.0.0.1:1/")


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ConnectError("refused", request=_REQUEST), ConnectError),
        (httpx.ConnectTimeout("slow", request=_REQUEST), ConnectError),
        (httpx.ReadTimeout("slow", request=_REQUEST), ConnectError),
        (httpx.RemoteProtocolError("peer closed", request=_REQUEST), StreamInterrupted),
        (httpx.ReadError("reset", request=_REQUEST), StreamInterrupted),
        (httpx.LocalProtocolError("bad", request=_REQUEST), ProtocolError),
        (httpx.UnsupportedProtocol("ftp", request=_REQUEST), ConnectError),
        (httpx_ws.WebSocketDisconnect(1011, "gone"), StreamInterrupted),
        (httpx_ws.WebSocketNetworkError(), StreamInterrupted),
        (httpx_ws.HTTPXWSException("odd"), ProtocolError),
        (ConnectionResetError("reset"), StreamInterrupted),
    ],
)
def test_outside_errors_become_ainative_errors(
    raised: Exception, expected: type[AINativeError]
) -> None:
    with pytest.raises(expected) as info, map_transport_errors():
        raise raised
    assert info.value.__cause__ is raised


def test_a_refused_websocket_upgrade_keeps_its_status() -> None:
    response = httpx.Response(404, request=_REQUEST)
    with pytest.raises(HTTPStatusError) as info, map_transport_errors():
        raise httpx_ws.WebSocketUpgradeError(response)
    assert info.value.status_code == 404
    assert isinstance(info.value, TransportError)


def test_http_status_error_keeps_its_status() -> None:
    response = httpx.Response(503, request=_REQUEST)
    with pytest.raises(HTTPStatusError) as info, map_transport_errors():
        response.raise_for_status()
    assert info.value.status_code == 503


def test_a_group_of_one_is_unwrapped() -> None:
    with pytest.raises(StreamInterrupted), map_transport_errors():
        raise ExceptionGroup(
            "task group", [ExceptionGroup("inner", [httpx_ws.WebSocketNetworkError()])]
        )


def test_ainative_errors_in_a_group_come_out_as_themselves() -> None:
    original = ProtocolError("bad frame")
    with pytest.raises(ProtocolError) as info, map_transport_errors():
        raise ExceptionGroup("task group", [original])
    assert info.value is original


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), map_transport_errors():
        raise KeyError("mine")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": "unknown provider"}', "unknown provider"),
        (b'{"detail": "Not Found"}', "Not Found"),
        (b'{"error": {"message": "nested"}}', "nested"),
        (b"plain text", "plain text"),
    ],
)
def test_error_message_from_body(body: bytes, message: str) -> None:
    assert error_message_from_body(body) == message
